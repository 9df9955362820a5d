#!/usr/bin/env bash
# Runs the Neovim client's headless tests on each Neovim given: first the start-up runs (Neovim started
# as a user starts it, with an init.lua for each install layout, against clients/nvim/test/fake_server.py
# standing in for the server), then the unit and end-to-end tests against the real server with a tiny
# model made for the run (clients/nvim/test/make_model.py). Exits non-zero if any expectation fails on
# any version.
#
#   clients/nvim/test/run.sh NVIM [NVIM...]
#
# Environment (defaults suit a checkout with `make setup` done):
#   PYTHON                      the project's Python (default: .venv/bin/python)
#   DIFFUSION_LSP_TEST_CMD      JSON list, the server command (default: [".venv/bin/diffusion-lsp"])
#   DIFFUSION_LSP_TEST_FILTER   run only the tests whose name contains this
#   DIFFUSION_LSP_TEST_STARTUP_ONLY  set: only the start-up runs (no model; seconds)
#   DIFFUSION_LSP_TEST_NEXT_EDIT_CMD JSON list, the server command for the fake-engine next-edit runs
#                               (default: the server above with `serve --fake-engine`); the
#                               embedded-model runs use the server above
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$root"
if [ "$#" -eq 0 ]; then
  echo "usage: $0 NVIM [NVIM...]" >&2
  exit 2
fi
PYTHON="${PYTHON:-$root/.venv/bin/python}"
case "$PYTHON" in /*) ;; *) PYTHON="$root/$PYTHON" ;; esac
export DIFFUSION_LSP_TEST_CMD="${DIFFUSION_LSP_TEST_CMD:-[\"$root/.venv/bin/diffusion-lsp\"]}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
status=0

# -- Start-up runs ----------------------------------------------------------------------------------
# The fake server as `diffusion-lsp`, and a PATH without any real one (the venv's bin/ may be on it).
fakebin="$work/fakebin"
mkdir -p "$fakebin"
printf '#!/bin/sh\nexec "%s" "%s/clients/nvim/test/fake_server.py" "$@"\n' "$PYTHON" "$root" \
  > "$fakebin/diffusion-lsp"
chmod +x "$fakebin/diffusion-lsp"
clean_path=""
IFS=: read -r -a path_dirs <<< "$PATH"
for d in "${path_dirs[@]}"; do
  if [ -n "$d" ] && [ ! -x "$d/diffusion-lsp" ]; then
    clean_path="${clean_path:+$clean_path:}$d"
  fi
done
# Copies of the plugin in a checkout without .venv (notfound) and in one whose .venv/bin/diffusion-lsp
# is the fake server (checkout).
mkdir -p "$work/bare/clients" "$work/checkout/clients" "$work/checkout/.venv/bin"
cp -r clients/nvim "$work/bare/clients/nvim"
cp -r clients/nvim "$work/checkout/clients/nvim"
cp "$fakebin/diffusion-lsp" "$work/checkout/.venv/bin/diffusion-lsp"
plugin="$root/clients/nvim"

# write_init LAYOUT HOME: writes HOME/config/nvim/init.lua for that install layout.
write_init() {
  local layout="$1" home="$2"
  local init="$home/config/nvim/init.lua"
  mkdir -p "$(dirname "$init")"
  case "$layout" in
    rtp) # docs/neovim.md's "No plugin manager" snippet, taken from the page, with this checkout's path
      awk '/^ *\*\*No plugin manager\*\*/ { found = 1 } found && /^ *```lua/ { inside = 1; next }
           inside && /^ *```/ { exit } inside { sub(/^   /, ""); print }' docs/neovim.md \
        | sed "s|/path/to/checkout|$root|g" > "$init"
      if ! grep -q "runtimepath:append('$plugin')" "$init" || ! grep -q "setup({})" "$init"; then
        echo "docs/neovim.md: no 'No plugin manager' snippet with runtimepath:append and setup({})" >&2
        exit 1
      fi ;;
    pack) # a start package, where packer.nvim (and git clone into pack/*/start) put plugins
      mkdir -p "$home/data/nvim/site/pack/diffusion/start"
      ln -s "$plugin" "$home/data/nvim/site/pack/diffusion/start/diffusion_lsp"
      printf "require('diffusion_lsp').setup({})\n" > "$init" ;;
    lazy) # what lazy.nvim does for { dir = ..., ft = ..., opts = {} }: on the filetype, add the plugin
      # to the runtimepath, source its plugin/ files, then call setup(opts)
      printf "%s\n" \
        "vim.api.nvim_create_autocmd('FileType', { pattern = 'python', once = true, callback = function()" \
        "  vim.opt.runtimepath:append('$plugin')" \
        "  vim.cmd('source $plugin/plugin/diffusion_lsp.lua')" \
        "  require('diffusion_lsp').setup({})" \
        "end })" > "$init" ;;
    checkout)
      printf "vim.opt.runtimepath:append('%s')\nrequire('diffusion_lsp').setup({})\n" \
        "$work/checkout/clients/nvim" > "$init" ;;
    notfound)
      printf "vim.opt.runtimepath:append('%s')\nrequire('diffusion_lsp').setup({})\n" \
        "$work/bare/clients/nvim" > "$init" ;;
  esac
}

for nvim in "$@"; do
  for layout in rtp pack lazy checkout notfound; do
    echo "== start-up, layout $layout: $("$nvim" --version | head -n 1) ($nvim)"
    home="$work/home-start-$layout-$(basename "$nvim")-$RANDOM"
    mkdir -p "$home"
    write_init "$layout" "$home"
    run_path="$fakebin:$clean_path"
    checkout="$work/checkout"
    files=()
    if [ "$layout" = checkout ]; then
      run_path="$clean_path"
    elif [ "$layout" = notfound ]; then
      run_path="$clean_path"
      checkout="$work/bare"
      printf 'x = 1\n' > "$home/given.py"
      files=("$home/given.py") # opened during start-up
    fi
    if ! PATH="$run_path" XDG_CONFIG_HOME="$home/config" XDG_DATA_HOME="$home/data" \
        XDG_STATE_HOME="$home/state" XDG_CACHE_HOME="$home/cache" \
        DIFFUSION_LSP_TEST_LAYOUT="$layout" DIFFUSION_LSP_FAKE_LOG="$home/fake.log" \
        DIFFUSION_LSP_TEST_CHECKOUT="$checkout" \
        "$nvim" --headless -u "$home/config/nvim/init.lua" -i NONE ${files[@]+"${files[@]}"} \
          -c 'luafile clients/nvim/test/run.lua' </dev/null; then
      echo "FAILED on $nvim (layout $layout); init.lua:"
      cat "$home/config/nvim/init.lua"
      if [ -f "$home/fake.log" ]; then
        echo "-- what the server received"
        cat "$home/fake.log"
      fi
      status=1
    fi
  done
done
if [ -n "${DIFFUSION_LSP_TEST_STARTUP_ONLY:-}" ]; then
  exit "$status"
fi

# run_real WHAT NVIM HOME [VAR=VALUE...]: clients/nvim/test/run.lua in headless NVIM against the real
# server, with HOME's config, data, state and cache and the given environment; on failure it says so
# with the LSP log's tail and returns 1.
run_real() {
  local what="$1" nvim="$2" home="$3"
  shift 3
  mkdir -p "$home"
  if ! env XDG_CONFIG_HOME="$home/config" XDG_DATA_HOME="$home/data" XDG_STATE_HOME="$home/state" \
      XDG_CACHE_HOME="$home/cache" "$@" \
      "$nvim" --headless -u clients/nvim/test/minimal_init.lua -i NONE \
        -c 'luafile clients/nvim/test/run.lua' </dev/null; then
    echo "FAILED $what on $nvim"
    for log in "$home"/state/nvim/lsp.log "$home"/cache/nvim/lsp.log; do
      [ -f "$log" ] && { echo "-- $log (last 40 lines)"; tail -n 40 "$log"; }
    done
    return 1
  fi
}

# -- Next edit, against the real server: on its fake engine, then on the embedded model (seconds) ---
next_cmd="${DIFFUSION_LSP_TEST_NEXT_EDIT_CMD:-[\"$root/.venv/bin/diffusion-lsp\", \"serve\", \"--fake-engine\"]}"
for engine in fake embedded; do
  if [ "$engine" = fake ]; then
    cmd="$next_cmd"
    settings='{"model": "fake:rename=x>count", "nextEdit": {"pauseMs": 100}}'
    what="fake engine"
  else
    cmd="$DIFFUSION_LSP_TEST_CMD"  # the server as users start it, on the default model
    settings='{"nextEdit": {"pauseMs": 100}}'
    what="embedded model"
  fi
  for nvim in "$@"; do
    echo "== next edit ($what): $("$nvim" --version | head -n 1) ($nvim)"
    run_real "next edit ($what)" "$nvim" "$work/home-next-$engine-$(basename "$nvim")-$RANDOM" \
      DIFFUSION_LSP_TEST_SUITE=next_edit DIFFUSION_LSP_TEST_NEXT_EDIT_CMD="$cmd" \
      DIFFUSION_LSP_TEST_NEXT_EDIT_SETTINGS="$settings" || status=1
  done
done

# -- Unit and end-to-end runs, against the real server ----------------------------------------------
echo "== making the test model in $work/model (tiny, random, taught the fixtures' answers)"
"$PYTHON" clients/nvim/test/make_model.py --out "$work/model"
export DIFFUSION_LSP_TEST_SETTINGS="{\"model\": \"$work/model\", \"device\": \"cpu\", \"alternatives\": 3}"

for nvim in "$@"; do
  echo "== $("$nvim" --version | head -n 1) ($nvim)"
  run_real "the tests" "$nvim" "$work/home-$(basename "$nvim")-$RANDOM" || status=1
done
exit "$status"

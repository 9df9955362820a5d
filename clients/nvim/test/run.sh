#!/usr/bin/env bash
# Runs the Neovim client's headless tests on each Neovim given, against the real server with a tiny
# model made for the run (clients/nvim/test/make_model.py). Exits non-zero if any expectation fails on any version.
#
#   clients/nvim/test/run.sh NVIM [NVIM...]
#
# Environment (defaults suit a checkout with `make setup` done):
#   PYTHON                      the project's Python (default: .venv/bin/python)
#   DIFFUSION_LSP_TEST_CMD      JSON list, the server command (default: [".venv/bin/diffusion-lsp"])
#   DIFFUSION_LSP_TEST_FILTER   run only the tests whose name contains this
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$root"
if [ "$#" -eq 0 ]; then
  echo "usage: $0 NVIM [NVIM...]" >&2
  exit 2
fi
PYTHON="${PYTHON:-$root/.venv/bin/python}"
export DIFFUSION_LSP_TEST_CMD="${DIFFUSION_LSP_TEST_CMD:-[\"$root/.venv/bin/diffusion-lsp\"]}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "== making the test model in $work/model (tiny, random, taught one repair)"
"$PYTHON" clients/nvim/test/make_model.py --out "$work/model"
export DIFFUSION_LSP_TEST_SETTINGS="{\"model\": \"$work/model\", \"device\": \"cpu\", \"alternatives\": 3}"

status=0
for nvim in "$@"; do
  echo "== $("$nvim" --version | head -n 1) ($nvim)"
  home="$work/home-$(basename "$nvim")-$RANDOM"
  mkdir -p "$home"
  if ! XDG_CONFIG_HOME="$home/config" XDG_DATA_HOME="$home/data" XDG_STATE_HOME="$home/state" \
      XDG_CACHE_HOME="$home/cache" \
      "$nvim" --headless -u clients/nvim/test/minimal_init.lua -i NONE \
        -c 'luafile clients/nvim/test/run.lua' </dev/null; then
    echo "FAILED on $nvim"
    for log in "$home"/state/nvim/lsp.log "$home"/cache/nvim/lsp.log; do
      [ -f "$log" ] && { echo "-- $log (last 40 lines)"; tail -n 40 "$log"; }
    done
    status=1
  fi
done
exit "$status"

#!/usr/bin/env bash
# CI for the VS Code client, from a clean checkout: unit tests (including the settings-schema drift
# test), the esbuild bundle, `vsce package`, then the end-to-end test in code-server driven by
# Chromium. Needs Node 20, npm and the repository's .venv (make setup). With CI=true as root it
# installs the Debian packages it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
repo_root="$(cd ../.. && pwd)"

step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }

if [ "${CI:-}" = "true" ] && [ "$(id -u)" = "0" ]; then
    step "apt packages"
    # chromium drives the editor. code-server's native modules (kerberos, native-keymap, @vscode/spdlog,
    # node-pty) build from source here: they need libkrb5-dev, libx11-dev, libxkbfile-dev,
    # libsecret-1-dev and pkg-config. ripgrep: see the @vscode/ripgrep cache below.
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        chromium ripgrep libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev pkg-config build-essential python3 \
        > /dev/null
fi

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" != "20" ]; then
    echo "code-server 4.100.3 needs Node 20; this is Node $(node -v)" >&2
    exit 1
fi
for tool in chromium rg; do
    command -v "$tool" > /dev/null || { echo "missing $tool (apt-get install $tool)" >&2; exit 1; }
done

step "extension: npm ci"
npm ci --no-audit --no-fund

step "extension: unit tests (settings, server command, status, notices, actions, next edit, keybindings, schema drift)"
DIFFUSION_LSP="${DIFFUSION_LSP:-$repo_root/.venv/bin/diffusion-lsp}" npm run --silent test:unit

step "extension: esbuild bundle and vsce package"
npm run --silent package

step "end-to-end: code-server 4.100.3 and puppeteer-core"
e2e_tmp="$(mktemp -d)"
trap 'rm -rf "$e2e_tmp"' EXIT
# @vscode/ripgrep's postinstall (a dependency of code-server's bundled VS Code) downloads rg from
# GitHub, which CI cannot reach. It looks first in $TMPDIR/vscode-ripgrep-cache-<version>/ for the
# release archive, so seed that with Debian's rg under the asset name it expects.
ripgrep_version="$(node -p 'require("./test/e2e/ripgrep.json").version')"
ripgrep_asset="$(node -p 'require("./test/e2e/ripgrep.json").asset')"
mkdir -p "$e2e_tmp/rg" "$e2e_tmp/vscode-ripgrep-cache-$ripgrep_version"
cp "$(command -v rg)" "$e2e_tmp/rg/rg"
tar czf "$e2e_tmp/vscode-ripgrep-cache-$ripgrep_version/$ripgrep_asset" -C "$e2e_tmp/rg" rg
# code-server's postinstall runs `npm install` inside its bundled VS Code, whose dependencies build
# native modules in install scripts. npm 11 skips dependency install scripts without an allowScripts
# entry, and the nested install has no way to carry one, so allow them all for this install only
# (older npm ignores the setting). unsafe_perm and yes: code-server's postinstall refuses to run as
# root without unsafe_perm, and the nested npm must not stop at a prompt.
(
    cd test/e2e
    TMPDIR="$e2e_tmp" npm_config_dangerously_allow_all_scripts=true npm_config_unsafe_perm=true \
        npm_config_yes=true npm ci --no-audit --no-fund
)

step "end-to-end: Alt+\\ ghost text, latencies, Refine with progress and Cancel, next edit, error notices in code-server"
# Next edit on the embedded model, as a user gets it (the fake engine's rename is the default).
DIFFUSION_LSP_E2E_NEXT_EDIT_MODEL="${DIFFUSION_LSP_E2E_NEXT_EDIT_MODEL-embedded}" \
DIFFUSION_LSP_E2E_SCREENSHOT="${DIFFUSION_LSP_E2E_SCREENSHOT:-$repo_root/build/e2e/vscode-ghost-text.png}" \
    node test/e2e/run.mjs

step "VS Code client: all passed"

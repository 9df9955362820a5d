# Set-up, the main job and the tests. `make demo` and `make test` work on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo serve test test-python lint bench clean

setup: $(STAMP)

# torch first, pinned, so that pip takes the local build instead of pulling CUDA wheels for a range.
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# Until the embedded model ships, the demo builds a tiny RANDOM model: its text is garbage and proves
# only the plumbing (load, tokenize, denoise, decode). Pass MODEL=<hub id or directory> for a real one.
TINY := build/tiny-masked
MODEL ?= $(TINY)

$(TINY)/config.json: | setup
	$(BIN)/python -m diffusion_lsp.engine.tiny --out $(TINY) --family masked

demo: setup $(if $(filter $(TINY),$(MODEL)),$(TINY)/config.json)
	$(BIN)/diffusion-lsp infill examples/demo.py --at 5:5 --model $(MODEL) --json

serve: setup
	$(BIN)/diffusion-lsp serve

test: test-python

test-python: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check diffusion_lsp tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info

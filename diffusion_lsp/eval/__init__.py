"""The infill benchmark harness: syntax-aware holes from held-out files, HumanEval-Infilling runs.

Run it with ``diffusion-lsp eval``. Fillers are the engine (``diffusion_lsp.engine``) or the
harness's own reference loop (``reference.py``), both behind the engine's ``infill`` contract.
"""

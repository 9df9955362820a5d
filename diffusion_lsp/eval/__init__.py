"""The infill benchmark harness: syntax-aware holes from held-out files, HumanEval-Infilling runs.

Run it with ``diffusion-lsp eval``. Every prediction comes from the product's engine
(``diffusion_lsp.engine``) through its ``infill`` request; the harness has no denoising loop.
"""

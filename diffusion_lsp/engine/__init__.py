"""The model runtime: loading, tokenization and context windows, denoisers per family, the worker.

Knows nothing of LSP. torch is imported lazily, inside the modules that need it; importing this
package or ``diffusion_lsp.engine.api`` stays cheap.
"""

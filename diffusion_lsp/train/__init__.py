"""The recipe for the project's own small code model: corpus, tokenizer, span masking, training.

Run it with ``diffusion-lsp train``; the result is the embedded default model in
``diffusion_lsp/models/code-small``. torch and tree-sitter are imported inside the modules that need them.
"""

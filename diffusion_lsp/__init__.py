"""diffusion-lsp: a language server that fills, fixes and refines code with text-diffusion models."""

__version__ = "0.1.0"

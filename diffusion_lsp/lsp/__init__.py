"""The language server (pygls): one module per LSP feature, plus settings, documents and lifecycle."""

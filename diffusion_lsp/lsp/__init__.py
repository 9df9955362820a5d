"""The language server (pygls): server state, protocol, documents, settings and the model host here;
one module per LSP feature in ``features``."""

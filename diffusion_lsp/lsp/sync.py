"""Document sync (``didOpen``/``didChange``/``didClose``): incremental, UTF-16, into the store.

Runs on the event loop, in message order, so every later request sees the text the client has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from diffusion_lsp.lsp.server import DiffusionLanguageServer


def register(server: DiffusionLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        server.documents.open(doc.uri, doc.language_id, doc.version, doc.text)
        server.diagnostics.schedule(doc.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        if server.documents.change(uri, params.text_document.version, params.content_changes):
            server.inline_debounce.changed(uri)
            server.diagnostics.schedule(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        server.documents.close(uri)
        server.inline_cache.pop(uri, None)
        server.inline_debounce.forget(uri)
        server.diagnostics.clear(uri)

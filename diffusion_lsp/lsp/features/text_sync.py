"""Document sync (``didOpen``/``didChange``/``didClose``): incremental, UTF-16, into the store; the
features that keep per-document state hear of it through ``server.events``.

Runs on the event loop, in message order, so every later request sees the text the client has.
"""

from __future__ import annotations

from lsprotocol import types

from diffusion_lsp.lsp.features import Feature, feature


class TextSync(Feature):
    @feature(types.TEXT_DOCUMENT_DID_OPEN, runs="loop")
    def did_open(self, params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        self.server.documents.open(doc.uri, doc.language_id, doc.version, doc.text)
        self.server.events.opened.emit(doc.uri)

    @feature(types.TEXT_DOCUMENT_DID_CHANGE, runs="loop")
    def did_change(self, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        if self.server.documents.change(uri, params.text_document.version, params.content_changes):
            self.server.events.changed.emit(uri)

    @feature(types.TEXT_DOCUMENT_DID_CLOSE, runs="loop")
    def did_close(self, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        self.server.documents.close(uri)
        self.server.events.closed.emit(uri)

"""The language server: a pygls ``LanguageServer`` holding settings, documents, the worker and the model,
with each LSP feature registered from its own module.

Where handlers run: document sync, region selection, code-action listing and diagnostics run on the
event loop (cheap: tree-sitter and string work); model loading and every engine call run on the one
``Worker`` thread, awaited, so the loop never blocks and ``$/cancelRequest`` reaches them.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
from lsprotocol import types
from pygls.exceptions import JsonRpcServerNotInitialized
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from diffusion_lsp import __version__
from diffusion_lsp.engine.worker import Worker
from diffusion_lsp.lsp import settings as settings_mod
from diffusion_lsp.lsp.diagnostics import Publisher
from diffusion_lsp.lsp.documents import DocumentStore
from diffusion_lsp.lsp.inline import Shown
from diffusion_lsp.lsp.lifecycle import Loader, ModelLifecycle, real_loader

log = logging.getLogger(__name__)


class DiffusionProtocol(LanguageServerProtocol):
    """pygls' protocol with three changes: positions are always UTF-16 (what ``textops`` speaks);
    open documents live in our ``DocumentStore`` only, not in pygls' workspace too; and requests
    before ``initialize`` has been answered get ``ServerNotInitialized``, as the spec asks."""

    _initialized = False

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):
        general = params.capabilities.general
        if general is not None and general.position_encodings:
            # UTF-16 is mandatory for every client; offering it alone makes pygls pick it.
            params = attrs.evolve(
                params,
                capabilities=attrs.evolve(
                    params.capabilities,
                    general=attrs.evolve(
                        general, position_encodings=[types.PositionEncodingKind.Utf16]
                    ),
                ),
            )
        result = yield from super().lsp_initialize(params)
        self._initialized = True
        return result

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams):
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams):
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams):
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None

    def _handle_request(self, msg_id: Any, method_name: str, params: Any) -> None:
        if not self._initialized and method_name != types.INITIALIZE:
            error = JsonRpcServerNotInitialized(f"{method_name}: the server is not initialized yet")
            self._send_response(msg_id, None, error.to_response_error())
            return
        super()._handle_request(msg_id, method_name, params)

    def _handle_notification(self, method_name: str, params: Any) -> None:
        if not self._initialized and method_name not in (types.EXIT, types.INITIALIZED):
            log.warning("ignoring %s before initialize", method_name)
            return
        super()._handle_notification(method_name, params)


class DiffusionLanguageServer(LanguageServer):
    """The server's state; the features live in their own modules and receive it as ``server``."""

    def __init__(self, loader: Loader = real_loader) -> None:
        super().__init__(
            "diffusion-lsp",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=DiffusionProtocol,
        )
        self.settings = settings_mod.Settings()
        self.documents = DocumentStore(lambda: self.settings.max_file_bytes)
        self.worker = Worker()
        self.model = ModelLifecycle(self, loader)
        self.diagnostics = Publisher(self)
        self.inline_cache: dict[str, Shown] = {}  # the last inline suggestions per document

    def warn(self, message: str) -> None:
        """Something the user should see and can fix (a bad setting, a refused edit)."""
        log.warning("%s", message)
        self.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Warning, message=f"diffusion-lsp: {message}"
            )
        )


def build_server(fake_engine: bool = False) -> DiffusionLanguageServer:
    """A server with every feature registered. ``fake_engine`` is for protocol tests only."""
    from diffusion_lsp.lsp import (
        code_actions,
        commands,
        configuration,
        inline,
        sync,
    )

    if fake_engine:
        from diffusion_lsp.engine.fake import load_fake_engine

        server = DiffusionLanguageServer(load_fake_engine)
    else:
        server = DiffusionLanguageServer()
    for feature in (configuration, sync, inline, code_actions, commands):
        feature.register(server)
    return server

"""The language server's state: settings, documents, the worker and the model host, and the events
features subscribe to. The handlers are the features' (``lsp.features``), registered by
``build_server``; the protocol under them is ``protocol.DiffusionProtocol``.

Where handlers run: each declares it at registration (``@feature(..., runs="loop"|"worker")``).
Document sync, region selection, code-action listing and diagnostics run on the event loop (cheap:
tree-sitter and string work); model loading and every engine call run on the one ``Worker`` thread,
awaited, so the loop never blocks and ``$/cancelRequest`` reaches them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from diffusion_lsp import __version__
from diffusion_lsp.engine.worker import Worker
from diffusion_lsp.lsp import settings as settings_mod
from diffusion_lsp.lsp.documents import DocumentStore
from diffusion_lsp.lsp.model_host import Loader, ModelHost, real_loader
from diffusion_lsp.lsp.protocol import DiffusionProtocol

log = logging.getLogger(__name__)


class Signal:
    """One kind of event: subscribers are called with its arguments, in the order they subscribed,
    on the event loop."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[..., None]] = []

    def subscribe(self, subscriber: Callable[..., None]) -> None:
        self._subscribers.append(subscriber)

    def emit(self, *args: Any) -> None:
        for subscriber in self._subscribers:
            subscriber(*args)


class Events:
    """What features are told about: a document opened, changed (its text did) or closed (each with
    its uri), and the settings replaced (with the old and the new ``Settings``)."""

    def __init__(self) -> None:
        self.opened = Signal()
        self.changed = Signal()
        self.closed = Signal()
        self.settings = Signal()


class DiffusionLanguageServer(LanguageServer):
    """The server's state; the features receive it as ``server`` and keep their own state."""

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
        self.model_host = ModelHost(self, loader)
        self.events = Events()
        self.features: dict[type, Any] = {}  # each registered feature object, by its class

    exit_code = 0  # what the process exits with: 1 after an exit without shutdown
    on_exit: Callable[[], None] | None = None  # set by the transport: ends the serving loop

    def request_exit(self, code: int) -> None:
        """``exit``: stop serving; the process ends with ``code``."""
        self.exit_code = code
        if self.on_exit is not None:
            self.on_exit()

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> int:  # type: ignore[override]
        """Serve on stdio until ``exit`` or the end of stdin; returns the exit code."""
        from diffusion_lsp.lsp import transport

        return transport.serve_stdio(self, stdin or sys.stdin.buffer, stdout or sys.stdout.buffer)

    def start_tcp(self, host: str, port: int) -> int:  # type: ignore[override]
        """Serve one client on ``host:port``; returns the exit code."""
        from diffusion_lsp.lsp import transport

        return transport.serve_tcp(self, host, port)

    def replace_settings(self, new: settings_mod.Settings) -> settings_mod.Settings:
        """Make ``new`` the settings and tell the subscribers; returns the old ones."""
        old, self.settings = self.settings, new
        self.events.settings.emit(old, new)
        return old

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
    from diffusion_lsp.lsp import features

    if fake_engine:
        from diffusion_lsp.engine.testing.fake import load_fake_engine

        server = DiffusionLanguageServer(load_fake_engine)
    else:
        server = DiffusionLanguageServer()
    features.register_all(server)
    return server

"""``textDocument/publishDiagnostics``: syntax errors found by tree-sitter, each with a quick fix.

Runs on the event loop, debounced per document (the ``diagnostics.debounceMs`` setting): listing the
errors is a walk of the incremental tree, no model. The quick fix is the "Fix syntax error" code
action, which the client asks for with these diagnostics in its context. Nothing is registered: the
feature publishes when ``server.events`` says a document opened, changed or closed, or the
diagnostics settings changed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from lsprotocol import types

from diffusion_lsp.lsp.convert import lsp_range
from diffusion_lsp.lsp.features import Feature
from diffusion_lsp.region import Region, fix_regions

if TYPE_CHECKING:
    from diffusion_lsp.lsp.server import DiffusionLanguageServer
    from diffusion_lsp.lsp.settings import Settings

SOURCE = "diffusion-lsp"
CODE = "syntax-error"


def message(region: Region) -> str:
    node = region.node_type.replace("_", " ")
    return "Syntax error" if node in ("", "ERROR") else f"Syntax error in this {node}"


def diagnostics_for(server: DiffusionLanguageServer, uri: str) -> list[types.Diagnostic]:
    entry = server.documents.usable(uri)
    if entry is None or entry.doc is None or not server.settings.diagnostics.enabled:
        return []
    return [
        types.Diagnostic(
            range=lsp_range(region.range),
            message=message(region),
            severity=types.DiagnosticSeverity.Error,
            source=SOURCE,
            code=CODE,
        )
        for region in fix_regions(entry.doc)
    ]


class Diagnostics(Feature):
    """Debounced publishing, one pending timer per document."""

    def __init__(self, server: DiffusionLanguageServer) -> None:
        super().__init__(server)
        self._timers: dict[str, asyncio.TimerHandle] = {}
        server.events.opened.subscribe(self.schedule)
        server.events.changed.subscribe(self.schedule)
        server.events.closed.subscribe(self.clear)
        server.events.settings.subscribe(self.settings_changed)

    def schedule(self, uri: str) -> None:
        if (timer := self._timers.pop(uri, None)) is not None:
            timer.cancel()
        delay = self.server.settings.diagnostics.debounce_ms / 1000
        self._timers[uri] = asyncio.get_running_loop().call_later(delay, self.publish, uri)

    def publish(self, uri: str) -> None:
        self._timers.pop(uri, None)
        entry = self.server.documents.get(uri)
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=uri,
                diagnostics=diagnostics_for(self.server, uri),
                version=entry.version if entry is not None else None,
            )
        )

    def clear(self, uri: str) -> None:
        """The document closed: cancel its timer and clear what was published."""
        if (timer := self._timers.pop(uri, None)) is not None:
            timer.cancel()
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )

    def settings_changed(self, old: Settings, new: Settings) -> None:
        """The diagnostics settings changed (on or off): publish again for every open document."""
        if old.diagnostics != new.diagnostics:
            for entry in self.server.documents:
                self.schedule(entry.uri)

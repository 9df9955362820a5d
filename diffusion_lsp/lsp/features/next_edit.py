"""Next edit: ``textDocument/copilotInlineEdit`` and ``textDocument/didShowInlineEdit``, the protocol
Copilot's next edit suggestions speak (copilot-lsp and sidekick.nvim read it; docs/next-edit.md),
and the computation the "Apply next edit" code action and ``diffusionLsp.nextEdit`` share.

The feature keeps each document's edit history (``lsp.history``, fed from ``server.events``). A
request waits for the pause (``nextEdit.pauseMs`` after the document's last change); a newer request
or a change of the document meanwhile supersedes it (it answers no edits). Then
``region.next_edit.suggest`` runs on the worker, keyed by document (a newer job cancels an older
one), on a copy of the document; the suggestion is moved onto the text as it is now like every other
edit (``documents.rebase``), and dropped if the text under it changed. A document with no edit yet
gets no edits at once, without the model. The last suggestion per document is kept with the version
it was computed on, so the code action can offer it at once while that version stands.

The answer is ``{"edits": [{"text", "range", "textDocument": {"uri", "version"}}]}`` (one edit or
none; no ``command``: sidekick.nvim runs an edit's command after applying it, and there is nothing
for the server to hear then).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from diffusion_lsp import textops
from diffusion_lsp.engine import api
from diffusion_lsp.lsp import edits
from diffusion_lsp.lsp.convert import parse_range, range_json
from diffusion_lsp.lsp.documents import OpenDocument, Stale, rebase
from diffusion_lsp.lsp.features import Feature, feature
from diffusion_lsp.lsp.history import EditHistory
from diffusion_lsp.lsp.requests import Scope
from diffusion_lsp.region import next_edit

if TYPE_CHECKING:
    from diffusion_lsp.lsp.server import DiffusionLanguageServer

log = logging.getLogger(__name__)

INLINE_EDIT = "textDocument/copilotInlineEdit"
DID_SHOW = "textDocument/didShowInlineEdit"
NOTHING = "no next edit: nothing near your last edit needs changing"
NO_HISTORY = "no next edit: there is no edit in this document to follow yet"


def empty() -> dict[str, Any]:
    return {"edits": []}


@dataclass(frozen=True)
class Found:
    """What a next-edit computation came to: the inline edit (``copilotInlineEdit``'s item, on the
    document as it is now) or None, and what to tell the user when there is none."""

    item: dict[str, Any] | None
    message: str


@dataclass(frozen=True)
class Cached:
    """The last suggestion for a document: on which open document and version it was computed."""

    entry: OpenDocument
    version: int
    found: Found


def _plain(obj: Any) -> Any:
    """Params of a method lsprotocol does not know, as plain JSON (pygls may hand them over as
    objects with ``_asdict``)."""
    if hasattr(obj, "_asdict"):
        obj = obj._asdict()
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def inline_edit_params(params: Any) -> tuple[str, int | None, textops.Position]:
    """``(uri, version, position)`` of a ``copilotInlineEdit`` request; ``JsonRpcInvalidParams``
    saying what is wrong when they are not ``{textDocument: {uri, version?}, position}``."""
    params = _plain(params)
    doc = params.get("textDocument") if isinstance(params, dict) else None
    pos = params.get("position") if isinstance(params, dict) else None
    uri = doc.get("uri") if isinstance(doc, dict) else None
    if not isinstance(uri, str) or not uri:
        raise JsonRpcInvalidParams(f"{INLINE_EDIT}: params need textDocument.uri (a string)")
    version = doc.get("version")
    if version is not None and not _int(version):
        raise JsonRpcInvalidParams(f"{INLINE_EDIT}: textDocument.version must be an integer")
    if not (isinstance(pos, dict) and _int(pos.get("line")) and _int(pos.get("character"))):
        raise JsonRpcInvalidParams(
            f"{INLINE_EDIT}: params need position {{line, character}} (non-negative integers)"
        )
    return uri, version, textops.Position(pos["line"], pos["character"])


class NextEdit(Feature):
    """The feature and its per-document state: the edit history, the newest request, the last
    suggestion and the last edit the client showed."""

    def __init__(self, server: DiffusionLanguageServer) -> None:
        super().__init__(server)
        self.history = EditHistory()
        self.clock: Callable[[], float] = self.history.clock
        self.sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
        self.cached: dict[str, Cached] = {}
        self.shown: dict[str | None, dict[str, Any]] = {}  # by uri (None: the item named none)
        self._newest: dict[str, int] = {}
        self._warned = False
        server.events.opened.subscribe(self.opened)
        server.events.changed.subscribe(self.changed)
        server.events.closed.subscribe(self.closed)
        server.events.settings.subscribe(lambda _old, _new: self.cached.clear())

    def opened(self, uri: str) -> None:
        entry = self.server.documents.get(uri)
        if entry is not None:
            self.history.opened(uri, entry.text)

    def changed(self, uri: str) -> None:
        entry = self.server.documents.get(uri)
        if entry is not None:
            self.history.changed(uri, entry.text)

    def closed(self, uri: str) -> None:
        self.history.closed(uri)
        self.cached.pop(uri, None)
        self.shown.pop(uri, None)
        self._newest.pop(uri, None)

    def has_edits(self, uri: str) -> bool:
        """Whether the document has an edit to follow (cheap: no model)."""
        return self.server.settings.next_edit.enabled and self.history.has_edits(uri)

    def cached_item(self, uri: str) -> dict[str, Any] | None:
        """The last suggestion's edit, if it was computed on the document as it is now."""
        entry, cached = self.server.documents.get(uri), self.cached.get(uri)
        if cached is None or cached.entry is not entry or entry is None:
            return None
        return cached.found.item if cached.version == entry.version else None

    # -- computing -----------------------------------------------------------------------------

    def _warn_once(self, exc: api.EngineError) -> None:
        if not self._warned:
            self._warned = True
            self.server.warn(f"next edit is off for this model: {exc.message}")

    async def compute(self, uri: str) -> Found:
        """The next edit for ``uri``, the model on the worker. The edit still being typed counts:
        the caller has waited for the pause, or the user asked."""
        server = self.server
        entry = server.documents.get(uri)
        if entry is None:
            return Found(None, f"{uri} is not open")
        if entry.doc is None:
            return Found(None, f"{uri}: {entry.problem}")
        settings = server.settings.next_edit
        if not settings.enabled:
            return Found(None, "next edit is off (the nextEdit.enabled setting)")
        cached = self.cached.get(uri)
        if cached is not None and cached.entry is entry and cached.version == entry.version:
            return cached.found
        last = self.history.edits(uri, quiet_s=0.0)
        if not last:
            return Found(None, NO_HISTORY)
        snap = server.documents.snapshot(uri)
        assert snap is not None
        doc, language = entry.doc.copy(), entry.language_id
        options = next_edit.Options(threshold=settings.threshold, max_windows=settings.max_windows)
        try:
            result = await server.model_host.run(
                lambda engine, token: (
                    next_edit.suggest(engine, doc, last, options, token, language, uri),
                ),
                key=f"next:{uri}",
            )
        except api.Cancelled:
            return Found(None, "superseded by a newer next-edit request")
        except api.EngineError as exc:
            self._warn_once(exc)
            return Found(None, f"next edit is not available: {exc.message}")
        if result is None:
            return Found(None, f"the model is not available ({server.model_host.message})")
        (suggestion,) = result
        if suggestion is None:
            return self._keep(snap.entry, snap.version, Found(None, NOTHING))
        hunk = textops.Hunk(suggestion.start, suggestion.end, suggestion.new_text)
        try:
            (moved,) = rebase(server.documents.get(uri), snap, [hunk])
        except Stale as exc:
            return Found(None, f"{exc}; nothing was changed, try again")
        current = server.documents.get(uri)
        assert current is not None and current.doc is not None
        item = {
            "text": moved.new_text,
            "range": range_json(current.doc.index.range(moved.start, moved.end)),
            "textDocument": {"uri": uri, "version": current.version},
        }
        return self._keep(current, current.version, Found(item, ""))

    def workspace_edit(self, item: dict[str, Any]) -> types.WorkspaceEdit:
        """``item`` (an inline edit) as the WorkspaceEdit a code action or ``applyEdit`` carries."""
        rng = parse_range(item["range"])
        assert rng is not None
        doc = item["textDocument"]
        edit = textops.TextEdit(rng, item["text"])
        return edits.workspace_edit(self.server, doc["uri"], doc["version"], [edit])

    def _keep(self, entry: OpenDocument, version: int, found: Found) -> Found:
        self.cached[entry.uri] = Cached(entry, version, found)
        return found

    # -- the protocol --------------------------------------------------------------------------

    # A generator: the document's state is taken while the request is dispatched (a didChange right
    # behind it is applied before an async handler's first line); then it waits for the pause on
    # the loop, and the model runs on the worker (superseded per document).
    @feature(INLINE_EDIT, runs="worker")
    def inline_edit(self, params: Any):
        uri, _version, _position = inline_edit_params(params)
        entry = self.server.documents.usable(uri)
        if not self.server.settings.next_edit.enabled or entry is None:
            return empty()
        ticket = self._newest[uri] = self._newest.get(uri, 0) + 1  # supersedes older requests
        if not self.history.has_edits(uri):
            return empty()  # nothing to follow: no model call
        scope = self.server.protocol.open_scope()  # $/cancelRequest cancels the async part
        result = yield self.answer, (uri, entry, entry.change_count, ticket, scope), None
        return result

    async def answer(
        self, uri: str, entry: OpenDocument, changes: int, ticket: int, scope: Scope
    ) -> dict[str, Any]:
        """The async part of a request that arrived when ``entry`` had ``changes`` changes."""
        scope.enter()
        try:
            return await self._answer(uri, entry, changes, ticket)
        finally:
            self.server.protocol.close_scope(scope)

    async def _answer(
        self, uri: str, entry: OpenDocument, changes: int, ticket: int
    ) -> dict[str, Any]:
        last = self.history.last_change(uri)
        pause_s = self.server.settings.next_edit.pause_ms / 1000
        wait = pause_s - (self.clock() - last) if last is not None else 0.0
        if wait > 0:
            await self.sleep(wait)
        if (
            self._newest.get(uri) != ticket
            or self.server.documents.usable(uri) is not entry
            or entry.change_count != changes
        ):
            return empty()  # superseded, typed on, or closed meanwhile
        found = await self.compute(uri)
        return {"edits": [found.item]} if found.item is not None else empty()

    # Telemetry in Copilot; here only remembered (nothing is sent anywhere).
    @feature(DID_SHOW, runs="loop")
    def did_show_inline_edit(self, params: Any) -> None:
        params = _plain(params)
        item = params.get("item") if isinstance(params, dict) else None
        if item == []:  # Neovim encodes an empty table ({command = nil}) as []
            item = {}
        if not isinstance(item, dict):
            log.warning("%s without an item: %.200r", DID_SHOW, params)
            return
        doc = item.get("textDocument")
        uri = doc.get("uri") if isinstance(doc, dict) else None
        self.shown[uri if isinstance(uri, str) else None] = item

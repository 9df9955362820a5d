"""``textDocument/codeAction`` and ``codeAction/resolve``: fill a hole, fill all holes of a function,
fix a syntax error, refine a selection, apply the next edit.

Listing runs on the event loop and only looks at regions and the edit history (never the model);
``data`` remembers what to do and on which document version. Resolve computes the edit on the worker
(``edits.compute``; the next edit: ``features.next_edit``, whose last suggestion is offered with its
edit at once while the document is at the version it was computed on). Clients that cannot resolve
an edit get a command (``diffusionLsp.fill|fix|refine|nextEdit``) instead.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from diffusion_lsp import textops
from diffusion_lsp.lsp import edits, progress
from diffusion_lsp.lsp.convert import parse_range, range_json, text_range
from diffusion_lsp.lsp.features import Feature, feature, of
from diffusion_lsp.lsp.features.diagnostics import SOURCE
from diffusion_lsp.lsp.features.next_edit import NextEdit
from diffusion_lsp.lsp.requests import Scope
from diffusion_lsp.region import fix_regions, hole_regions, refine_region

if TYPE_CHECKING:
    from diffusion_lsp.lsp.server import DiffusionLanguageServer

FILL_HOLE = "Fill hole"
FILL_ALL = "Fill all holes in this function"
FIX = "Fix syntax error"
REFINE = "Refine selection"
NEXT = "Apply next edit"
KIND = {
    "fix": types.CodeActionKind.QuickFix,
    "fill": types.CodeActionKind.RefactorRewrite,
    "refine": types.CodeActionKind.RefactorRewrite,
    "next": types.CodeActionKind.RefactorRewrite,
}


def _span(regions: list) -> textops.Range:
    return textops.Range(regions[0].range.start, max(r.range.end for r in regions))


def _wanted(kind: str, only: list[str] | None) -> bool:
    """Whether the client's ``only`` filter admits an action of ``kind`` (prefix match)."""
    if not only:
        return True
    full = KIND[kind].value
    return any(full == o or full.startswith(f"{o}.") for o in only)


def _resolves_edits(server: DiffusionLanguageServer) -> bool:
    text_doc = server.client_capabilities.text_document
    support = text_doc.code_action.resolve_support if text_doc and text_doc.code_action else None
    return support is not None and "edit" in support.properties


class CodeAction(Feature):
    # Regions only, no model.
    @feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        runs="loop",
        options=types.CodeActionOptions(
            code_action_kinds=[types.CodeActionKind.QuickFix, types.CodeActionKind.RefactorRewrite],
            resolve_provider=True,
        ),
    )
    def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        server = self.server
        uri = params.text_document.uri
        entry = server.documents.usable(uri)
        if entry is None or entry.doc is None:
            return None
        doc, rng = entry.doc, text_range(params.range)
        only = [str(k.value if hasattr(k, "value") else k) for k in params.context.only or []]
        offers: list[tuple[str, str, textops.Range, list[types.Diagnostic]]] = []

        if _wanted("fix", only):
            errors = [r for r in fix_regions(doc, rng.start) if edits.overlaps(r, rng)]
            if errors:
                span = _span(errors)
                diags = [
                    d
                    for d in params.context.diagnostics
                    if d.source == SOURCE
                    and not (
                        text_range(d.range).end < span.start or span.end < text_range(d.range).start
                    )
                ]
                offers.append((FIX, "fix", span, diags))
        if _wanted("fill", only):
            holes = hole_regions(doc, rng.start)
            here = [h for h in holes if edits.overlaps(h, rng)]
            if here:
                offers.append((FILL_HOLE, "fill", _span(here), []))
            if len(holes) > 1 or (holes and not here):
                offers.append((FILL_ALL, "fill", _span(holes), []))
        if _wanted("refine", only) and rng.start != rng.end and refine_region(doc, rng) is not None:
            offers.append((REFINE, "refine", rng, []))

        resolvable = _resolves_edits(server)
        actions = []
        for title, kind, span, diags in offers:
            action = types.CodeAction(
                title=title,
                kind=KIND[kind],
                diagnostics=diags or None,
                is_preferred=True if kind == "fix" else None,
            )
            if resolvable:
                action.data = {
                    "uri": uri,
                    "kind": kind,
                    "range": range_json(span),
                    "version": entry.version,
                }
            else:
                action.command = types.Command(
                    title=title, command=f"diffusionLsp.{kind}", arguments=[uri, range_json(span)]
                )
            actions.append(action)
        if _wanted("next", only) and (action := self.next_action(uri, entry.version, resolvable)):
            actions.append(action)
        return actions

    def next_action(self, uri: str, version: int, resolvable: bool) -> types.CodeAction | None:
        """ "Apply next edit" when the document has an edit to follow, with its edit if the last
        suggestion was computed on this version (no model here)."""
        next_edit = of(self.server, NextEdit)
        if not next_edit.has_edits(uri):
            return None
        action = types.CodeAction(title=NEXT, kind=KIND["next"])
        if not resolvable:
            action.command = types.Command(
                title=NEXT, command="diffusionLsp.nextEdit", arguments=[uri]
            )
            return action
        action.data = {"uri": uri, "kind": "next", "version": version}
        item = next_edit.cached_item(uri)
        if item is not None:
            action.edit = next_edit.workspace_edit(item)
        return action

    async def resolve_next(self, action: types.CodeAction, uri: str) -> types.CodeAction:
        next_edit = of(self.server, NextEdit)
        found = await next_edit.compute(uri)
        if found.item is None:
            self.server.warn(f"{action.title}: {found.message}")
        else:
            action.edit = next_edit.workspace_edit(found.item)
        return action

    async def resolve_edit(
        self, action: types.CodeAction, planned: Any, scope: Scope
    ) -> types.CodeAction:
        server = self.server
        scope.enter()
        try:
            async with progress.work(server, f"diffusion-lsp: {action.title}") as job:
                try:
                    outcome = await edits.compute(server, planned, job)
                except asyncio.CancelledError:
                    if progress.swallow_cancel(job):
                        return action  # cancelled from the progress UI: no edit
                    raise
        finally:
            server.protocol.close_scope(scope)
        if outcome.edit is None:
            server.warn(f"{action.title}: {outcome.message}")
        else:
            action.edit = outcome.edit
        return action

    # A generator: the plan is made while the request is dispatched (on the document as the
    # client sent it), then the engine runs on the worker, awaited in ``resolve_edit``.
    @feature(types.CODE_ACTION_RESOLVE, runs="worker")
    def resolve(self, action: types.CodeAction):
        server = self.server
        data: Any = action.data
        if (
            isinstance(data, dict)
            and data.get("kind") == "next"
            and isinstance(data.get("uri"), str)
        ):
            result = yield self.resolve_next, (action, data["uri"]), None
            return result
        if not isinstance(data, dict) or data.get("kind") not in edits.KINDS:
            return action
        rng = parse_range(data.get("range"))
        uri, version = data.get("uri"), data.get("version")
        if not isinstance(uri, str) or rng is None:
            return action
        planned = edits.prepare(
            server, uri, data["kind"], rng, version if isinstance(version, int) else None
        )
        scope = server.protocol.open_scope()
        result = yield self.resolve_edit, (action, planned, scope), None
        return result

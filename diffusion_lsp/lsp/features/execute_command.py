"""``workspace/executeCommand``: ``diffusionLsp.fill``, ``.fix``, ``.refine`` (arguments ``[uri, range]``)
and ``diffusionLsp.nextEdit`` (arguments ``[uri]``) compute an edit and apply it with
``workspace/applyEdit``; ``diffusionLsp.status`` reports the model.

The edit is computed like ``codeAction/resolve`` (engine on the worker), under ``$/progress`` with a
Cancel button where the client shows progress. Each command answers ``{"applied": bool, "message":
str}``. A cancelled command sends no ``applyEdit``. A client without ``workspace.applyEdit`` gets the
edit in the answer instead (``"edit"``: a WorkspaceEdit), to apply itself.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from diffusion_lsp.lsp import edits, progress
from diffusion_lsp.lsp.convert import parse_range
from diffusion_lsp.lsp.features import Feature, feature, of
from diffusion_lsp.lsp.features.next_edit import NextEdit
from diffusion_lsp.lsp.requests import Scope

if TYPE_CHECKING:
    from diffusion_lsp.lsp.server import DiffusionLanguageServer

LABELS = {
    "fill": "Fill holes",
    "fix": "Fix syntax errors",
    "refine": "Refine selection",
    "next": "Apply next edit",
}


def _applies_edits(server: DiffusionLanguageServer) -> bool:
    workspace = server.client_capabilities.workspace
    return bool(workspace and workspace.apply_edit)


class ExecuteCommand(Feature):
    def plan(self, kind: edits.Kind, args: tuple[Any, ...]) -> edits.Plan | str:
        """On dispatch: the arguments checked and the document's snapshot taken."""
        if not args or not isinstance(args[0], str) or len(args) > 2:
            return f"diffusionLsp.{kind} takes [uri, range]"
        uri, raw = args[0], args[1] if len(args) > 1 else None
        rng = parse_range(raw) if raw is not None else None
        if raw is not None and rng is None:
            return f"not an LSP range: {raw!r}"
        if rng is None and kind != "fix":
            return f"diffusionLsp.{kind} needs a range"
        return edits.prepare(self.server, uri, kind, rng)

    async def apply(
        self, kind: edits.Kind, planned: edits.Plan | str, scope: Scope
    ) -> dict[str, Any]:
        server = self.server
        scope.enter()
        try:
            if isinstance(planned, str):
                return {"applied": False, "message": planned}
            async with progress.work(server, f"diffusion-lsp: {LABELS[kind]}") as job:
                try:
                    outcome = await edits.compute(server, planned, job)
                except asyncio.CancelledError:
                    if progress.swallow_cancel(job):
                        return {"applied": False, "message": "cancelled; nothing was changed"}
                    raise  # $/cancelRequest: no edit is sent
            return await self.send(LABELS[kind], outcome)
        finally:
            server.protocol.close_scope(scope)

    async def send(self, label: str, outcome: edits.Outcome) -> dict[str, Any]:
        """Apply ``outcome``'s edit with ``workspace/applyEdit``; the command's answer."""
        server = self.server
        if outcome.edit is None:
            return {"applied": False, "message": outcome.message}
        if not _applies_edits(server):
            return {
                "applied": False,
                "edit": server.protocol._converter.unstructure(outcome.edit),
                "message": "this editor cannot apply edits sent by the server; the edit is in 'edit'",
            }
        result = await server.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=outcome.edit, label=f"diffusion-lsp: {label}")
        )
        if not result.applied:
            return {
                "applied": False,
                "message": result.failure_reason or "the editor refused the edit",
            }
        return {"applied": True, "message": outcome.message}

    async def apply_next(self, uri: str | None, scope: Scope) -> dict[str, Any]:
        scope.enter()
        try:
            if uri is None:
                return {"applied": False, "message": "diffusionLsp.nextEdit takes [uri]"}
            next_edit = of(self.server, NextEdit)
            found = await next_edit.compute(uri)
            edit = next_edit.workspace_edit(found.item) if found.item is not None else None
            return await self.send(LABELS["next"], edits.Outcome(edit, found.message))
        finally:
            self.server.protocol.close_scope(scope)

    def command(self, kind: edits.Kind, args: tuple[Any, ...]):
        """A generator: the plan is made while the request is dispatched (before later messages
        change the document); the engine then runs on the worker, awaited in ``apply``."""
        scope = self.server.protocol.open_scope()
        result = yield self.apply, (kind, self.plan(kind, args), scope), None
        return result

    @feature(types.WORKSPACE_EXECUTE_COMMAND, command="diffusionLsp.fill", runs="worker")
    def fill(self, *args: Any):
        return (yield from self.command("fill", args))

    @feature(types.WORKSPACE_EXECUTE_COMMAND, command="diffusionLsp.fix", runs="worker")
    def fix(self, *args: Any):
        return (yield from self.command("fix", args))

    @feature(types.WORKSPACE_EXECUTE_COMMAND, command="diffusionLsp.refine", runs="worker")
    def refine(self, *args: Any):
        return (yield from self.command("refine", args))

    @feature(types.WORKSPACE_EXECUTE_COMMAND, command="diffusionLsp.nextEdit", runs="worker")
    def next_edit(self, *args: Any):
        uri = args[0] if len(args) == 1 and isinstance(args[0], str) else None
        scope = self.server.protocol.open_scope()
        result = yield self.apply_next, (uri, scope), None
        return result

    # A snapshot of the state.
    @feature(types.WORKSPACE_EXECUTE_COMMAND, command="diffusionLsp.status", runs="loop")
    def status(self, *args: Any) -> dict[str, Any]:
        host = self.server.model_host
        return {**host.status(), "modelCalls": host.model_calls}

"""``workspace/executeCommand``: ``diffusionLsp.fill``, ``.fix``, ``.refine`` (arguments ``[uri, range]``)
compute an edit and apply it with ``workspace/applyEdit``; ``diffusionLsp.status`` reports the model.

The edit is computed like ``codeAction/resolve`` (engine on the worker), under ``$/progress`` with a
Cancel button where the client shows progress. Each command answers ``{"applied": bool, "message":
str}``. A cancelled command sends no ``applyEdit``. A client without ``workspace.applyEdit`` gets the
edit in the answer instead (``"edit"``: a WorkspaceEdit), to apply itself.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from diffusion_lsp.lsp import progress, rewrite
from diffusion_lsp.lsp.documents import parse_range

if TYPE_CHECKING:
    from diffusion_lsp.lsp.server import DiffusionLanguageServer

LABELS = {"fill": "Fill holes", "fix": "Fix syntax errors", "refine": "Refine selection"}


def _applies_edits(server: DiffusionLanguageServer) -> bool:
    workspace = server.client_capabilities.workspace
    return bool(workspace and workspace.apply_edit)


def register(server: DiffusionLanguageServer) -> None:
    async def apply(kind: rewrite.Kind, args: tuple[Any, ...]) -> dict[str, Any]:
        if not args or not isinstance(args[0], str) or len(args) > 2:
            return {"applied": False, "message": f"diffusionLsp.{kind} takes [uri, range]"}
        uri, raw = args[0], args[1] if len(args) > 1 else None
        rng = parse_range(raw) if raw is not None else None
        if raw is not None and rng is None:
            return {"applied": False, "message": f"not an LSP range: {raw!r}"}
        if rng is None and kind != "fix":
            return {"applied": False, "message": f"diffusionLsp.{kind} needs a range"}
        async with progress.work(server, f"diffusion-lsp: {LABELS[kind]}") as job:
            try:
                outcome = await rewrite.compute(server, uri, kind, rng, job=job)
            except asyncio.CancelledError:
                if progress.swallow_cancel(job):
                    return {"applied": False, "message": "cancelled; nothing was changed"}
                raise  # $/cancelRequest: pygls answers RequestCancelled, and no edit is sent
        if outcome.edit is None:
            return {"applied": False, "message": outcome.message}
        if not _applies_edits(server):
            edit = server.protocol._converter.unstructure(outcome.edit)
            return {
                "applied": False,
                "edit": edit,
                "message": "this editor cannot apply edits from the server; the edit is in 'edit'",
            }
        result = await server.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(
                edit=outcome.edit, label=f"diffusion-lsp: {LABELS[kind]}"
            )
        )
        if not result.applied:
            return {
                "applied": False,
                "message": result.failure_reason or "the editor refused the edit",
            }
        return {"applied": True, "message": outcome.message}

    # Each runs the engine on the worker (awaited), then asks the client to apply the edit.
    @server.command("diffusionLsp.fill")
    async def fill(*args: Any) -> dict[str, Any]:
        return await apply("fill", args)

    @server.command("diffusionLsp.fix")
    async def fix(*args: Any) -> dict[str, Any]:
        return await apply("fix", args)

    @server.command("diffusionLsp.refine")
    async def refine(*args: Any) -> dict[str, Any]:
        return await apply("refine", args)

    # On the event loop: a snapshot of the state.
    @server.command("diffusionLsp.status")
    def status(*args: Any) -> dict[str, Any]:
        return {**server.model.status(), "modelCalls": server.model.model_calls}

"""Fill, fix and refine as WorkspaceEdits: shared by ``codeAction/resolve`` and the commands.

Regions are chosen on the event loop; each region's text comes from the engine on the worker. Several
regions (all the holes of a function, every syntax error in a range) are done in order, each one
conditioned on the text the earlier ones produced. The result is a set of minimal hunks against the
document version the request started from; if the document changes meanwhile, there is no edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from lsprotocol import types

from diffusion_lsp import textops
from diffusion_lsp.engine import api
from diffusion_lsp.lsp.documents import OpenDocument, lsp_edit
from diffusion_lsp.region import Region, fix_regions, hole_regions, refine_region

if TYPE_CHECKING:
    from diffusion_lsp.lsp.server import DiffusionLanguageServer

Kind = Literal["fill", "fix", "refine"]
KINDS: tuple[Kind, ...] = ("fill", "fix", "refine")
CHARS_PER_TOKEN = 2


@dataclass(frozen=True)
class Outcome:
    edit: types.WorkspaceEdit | None
    message: str


def overlaps(region: Region, rng: textops.Range) -> bool:
    """``region`` meets ``rng`` (touching counts, so an empty range at a hole's edge selects it)."""
    return not (region.range.end < rng.start or rng.end < region.range.start)


def regions_for(entry: OpenDocument, kind: Kind, rng: textops.Range | None) -> list[Region]:
    """The regions ``kind`` acts on within ``rng`` (the whole document when None), in order."""
    doc = entry.doc
    assert doc is not None
    if kind == "refine":
        if rng is None or rng.start == rng.end:
            return []
        region = refine_region(doc, rng)
        return [region] if region is not None else []
    found = hole_regions(doc) if kind == "fill" else fix_regions(doc)
    if rng is not None:
        found = [r for r in found if overlaps(r, rng)]
    return sorted(found, key=lambda r: r.start_byte)


async def compute(
    server: DiffusionLanguageServer,
    uri: str,
    kind: Kind,
    rng: textops.Range | None,
    version: int | None = None,
) -> Outcome:
    """The edit for ``kind`` on ``uri`` within ``rng``; ``version``, if given, must still be current."""
    entry = server.documents.get(uri)
    if entry is None:
        return Outcome(None, f"{uri} is not open")
    if entry.doc is None:
        return Outcome(None, f"{uri}: {entry.problem}")
    if version is not None and version != entry.version:
        return Outcome(None, "the document changed since the action was offered; try again")
    doc, start_version = entry.doc, entry.version
    regions = regions_for(entry, kind, rng)
    if not regions:
        what = {"fill": "no hole", "fix": "no syntax error", "refine": "nothing to refine"}[kind]
        return Outcome(None, f"{what} in the given range")

    old = doc.text
    new, shift, skipped = old, 0, 0
    first = doc.index.str_offset(regions[0].start_byte)
    last = doc.index.str_offset(regions[-1].end_byte)
    for region in regions:
        start = doc.index.str_offset(region.start_byte) + shift
        end = doc.index.str_offset(region.end_byte) + shift
        result = await server.model.run(
            lambda engine, token, r=region, s=start, e=end, t=new: _run(
                server, engine, token, kind, r, t, s, e, uri
            )
        )
        if result is None:
            return Outcome(None, f"the model is not available ({server.model.message})")
        text = _choose(result, region, kind)
        if text is None:
            skipped += 1
            continue
        new = new[:start] + text + new[end:]
        shift += len(text) - (end - start)
    if entry.doc is not doc or entry.version != start_version or doc.text != old:
        return Outcome(None, "the document changed while the model worked; try again")
    if new == old:
        why = "no candidate parses without errors" if kind == "fix" else "the model changed nothing"
        return Outcome(None, why)
    edits = textops.minimal_edits(
        old[first:last], new[first : last + shift], base=first, index=doc.index
    )
    message = f"{len(regions) - skipped} of {len(regions)} regions changed" if skipped else ""
    return Outcome(_workspace_edit(server, uri, start_version, edits), message)


def _run(
    server: DiffusionLanguageServer,
    engine: api.Engine,
    token: api.CancelToken,
    kind: Kind,
    region: Region,
    text: str,
    start: int,
    end: int,
    uri: str,
) -> api.Result:
    """One region through the engine (on the worker thread)."""
    settings = server.settings
    max_tokens = max(1, min(settings.max_tokens, region.length_hint.max_chars // CHARS_PER_TOKEN))
    steps = settings.steps or None
    if kind == "refine":
        request = api.RefineRequest(
            prefix=text[:start],
            text=text[start:end],
            suffix=text[end:],
            fraction=settings.refine_fraction,
            max_tokens=max_tokens,
            steps=steps,
            context_tokens=settings.context_tokens,
            document=uri,
        )
        return engine.refine(request, token)
    return engine.infill(
        api.InfillRequest(
            prefix=text[:start],
            suffix=text[end:],
            max_tokens=max_tokens,
            steps=steps,
            alternatives=settings.alternatives,
            single_line=region.length_hint.max_lines == 1,
            context_tokens=settings.context_tokens,
            document=uri,
        ),
        token,
    )


def _choose(result: api.Result, region: Region, kind: Kind) -> str | None:
    """The first candidate that parses in place; for fill and refine, else the best one; for fix,
    else None (a fix that does not parse is no fix)."""
    texts = [c.text for c in result.alternatives] or [result.text]
    for text in texts:
        if region.validate(text):
            return text
    return None if kind == "fix" else texts[0]


def _workspace_edit(
    server: DiffusionLanguageServer, uri: str, version: int, edits: list[textops.TextEdit]
) -> types.WorkspaceEdit:
    """Versioned ``documentChanges`` where the client supports them (it refuses a stale edit),
    else ``changes``."""
    lsp_edits = [lsp_edit(e) for e in edits]
    caps = server.client_capabilities.workspace
    if caps and caps.workspace_edit and caps.workspace_edit.document_changes:
        return types.WorkspaceEdit(
            document_changes=[
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(
                        uri=uri, version=version
                    ),
                    edits=lsp_edits,
                )
            ]
        )
    return types.WorkspaceEdit(changes={uri: lsp_edits})

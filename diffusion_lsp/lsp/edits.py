"""Fill, fix and refine as WorkspaceEdits: shared by ``codeAction/resolve`` and the commands.

Every edit is computed on a ``Snapshot`` of the document and passes the same gate before it is
offered (``region.checks.check_edit``): it adds no syntax error, keeps every definition, and a fix
touches only a few lines. When nothing passes, the answer is a message and no edit.

- **Fix** is minimal by construction: the token tree-sitter reports MISSING, or one stray closer
  removed, or one closer or separator inserted where the error points, with no model call
  (``region.repair.token_repair``); only then the model, allowed to rewrite a few tokens each side of
  the error (``error_windows``), everything else clamped. Candidates rank by parse, then edit size.
- **Fill** and **Refine** take the first candidate that passes the gate, per region; several regions
  (all the holes of a function) are done in order, each conditioned on the text the earlier produced.

The result is a set of minimal hunks. If the document changed meanwhile, the hunks move with it when
the change was elsewhere, and are dropped when it touched them or the document was reopened.

Where work runs: region selection on the event loop (bounded); parsing trials, the gate and the diff
in a thread (``asyncio.to_thread``); the model on the worker.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from lsprotocol import types

from diffusion_lsp import textops
from diffusion_lsp.engine import api
from diffusion_lsp.lsp.convert import lsp_edit
from diffusion_lsp.lsp.documents import OpenDocument, Snapshot, Stale, rebase
from diffusion_lsp.lsp.progress import Job
from diffusion_lsp.region import (
    Document,
    Region,
    checks,
    fix_regions,
    hole_regions,
    refine_region,
    repair,
)

if TYPE_CHECKING:
    from diffusion_lsp.lsp.server import DiffusionLanguageServer

Kind = Literal["fill", "fix", "refine"]
KINDS: tuple[Kind, ...] = ("fill", "fix", "refine")
CHARS_PER_TOKEN = 2
_WORD = re.compile(r"\w+")
MAX_FIX_ROUNDS = 8
FIX_SLACK_TOKENS = 8  # tokens a model fix may add to the window it rewrites  # syntax errors fixed by one request, each on the text the last one left


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


@dataclass(frozen=True)
class Plan:
    """What a request will edit, taken when it arrived: the snapshot and the spans (str offsets into
    ``snap.text``) of its regions; for a fix, ``[lo, hi]`` bounds the errors it repairs."""

    snap: Snapshot
    kind: Kind
    spans: tuple[tuple[int, int, Region], ...]
    lo: int
    hi: int
    doc: Document  # a copy of the document as it was (its tree copied, not reparsed)


def prepare(
    server: DiffusionLanguageServer,
    uri: str,
    kind: Kind,
    rng: textops.Range | None,
    version: int | None = None,
) -> Plan | str:
    """The plan for ``kind`` on ``uri`` within ``rng``, or why there is nothing to do. Synchronous:
    it runs while the request is dispatched, before any later message changes the document."""
    entry = server.documents.get(uri)
    if entry is None:
        return f"{uri} is not open"
    if entry.doc is None:
        return f"{uri}: {entry.problem}"
    if version is not None and rng is not None:
        # Offered on an older version: follow the changes since; refuse only if they touched it.
        moved = entry.map_range(version, rng)
        if moved is None:
            return "the text under the action changed since it was offered; try again"
        rng = moved
    regions = regions_for(entry, kind, rng)
    if not regions:
        what = {"fill": "no hole", "fix": "no syntax error", "refine": "nothing to refine"}[kind]
        return f"{what} in the given range"
    snap = server.documents.snapshot(uri)
    assert snap is not None
    index = entry.doc.index
    spans = tuple(
        (index.str_offset(r.start_byte), index.str_offset(r.end_byte), r) for r in regions
    )
    lo, hi = spans[0][0], max(end for _, end, _ in spans)
    return Plan(snap, kind, spans, lo, hi, entry.doc.copy())


async def compute(
    server: DiffusionLanguageServer, plan: Plan | str, job: Job | None = None
) -> Outcome:
    """The edit ``plan`` asks for, as minimal hunks moved onto the document as it is now."""
    if isinstance(plan, str):
        return Outcome(None, plan)
    job = job or Job(None, None)
    snap, doc = plan.snap, plan.doc
    if plan.kind == "fix":
        new, message = await _fix(server, snap, doc, plan.lo, plan.hi, job)
    else:
        new, message = await _rewrite(server, snap, doc, plan.kind, plan.spans, job)
    if new == snap.text:
        return Outcome(None, message)
    hunks = await asyncio.to_thread(textops.minimal_hunks, snap.text, new)
    try:
        hunks = rebase(server.documents.get(snap.uri), snap, hunks)
    except Stale as exc:
        return Outcome(None, f"{exc}; nothing was changed, try again")
    current = server.documents.get(snap.uri)
    assert current is not None and current.doc is not None
    index = current.doc.index
    edits = [textops.TextEdit(index.range(h.start, h.end), h.new_text) for h in hunks]
    return Outcome(workspace_edit(server, snap.uri, current.version, edits), message)


# -- fix -------------------------------------------------------------------------------------------


async def _fix(
    server: DiffusionLanguageServer, snap: Snapshot, doc: Document, lo: int, hi: int, job: Job
) -> tuple[str, str]:
    """The text with the syntax errors in ``[lo, hi]`` fixed, and what to tell the user."""
    text, fixed, why = snap.text, 0, ""
    current = doc
    for _ in range(MAX_FIX_ROUNDS):
        if not await asyncio.to_thread(_errors_within, current, lo, hi):
            break
        job.report(f"error {fixed + 1}: trying token repairs")
        edit = await asyncio.to_thread(repair.token_repair, current, lo, hi)
        if edit is None:
            job.report(f"error {fixed + 1}: asking the model")
            edit, why = await _model_fix(server, current, lo, hi, snap.uri)
        if edit is None:
            break
        text = edit.apply(text)
        current = await asyncio.to_thread(current.edited, edit.start, edit.end, edit.new_text)
        delta = len(edit.new_text) - (edit.end - edit.start)
        lo, hi = (lo + delta if edit.end <= lo else lo), max(hi + delta, lo)
        fixed += 1
    if fixed == 0:
        return text, "no safe fix found" + (f" ({why})" if why else "") + "; nothing was changed"
    left = await asyncio.to_thread(_errors_within, current, lo, hi)
    return text, f"{left} syntax error(s) left without a safe fix" if left else ""


def _errors_within(doc: Document, lo: int, hi: int) -> int:
    """Error nodes (outermost ERROR, every MISSING) that meet ``[lo, hi]`` (str offsets)."""
    if doc.tree is None or not doc.tree.root_node.has_error:
        return 0
    index = doc.index
    return sum(
        1
        for region in fix_regions(doc)
        if index.str_offset(region.start_byte) <= hi and index.str_offset(region.end_byte) >= lo
    )


async def _model_fix(
    server: DiffusionLanguageServer, doc: Document, lo: int, hi: int, uri: str
) -> tuple[checks.Edit | None, str]:
    """The model's best fix at the first errors, or (None, why): first text inserted where an
    error's line ends (every token the user wrote stays), then a window of a few tokens rewritten."""
    points = await asyncio.to_thread(repair.error_insertions, doc, lo, hi)
    windows = await asyncio.to_thread(repair.error_windows, doc, lo, hi)
    if not points and not windows:
        return None, "the error could not be located"
    for spans in ([(p, p) for p in points[:2]], windows[:2]):
        candidates: list[checks.Edit] = []
        for a, b in spans:
            request = _fix_request(server, doc.text, a, b, uri)
            result = await server.model_host.run(
                lambda engine, token, r=request: engine.infill(r, token)
            )
            if result is None:
                return None, f"the model is not available ({server.model_host.message})"
            for cand in result.alternatives or (api.Candidate(result.text, result.confidence, 0),):
                text = cand.text.split("\n", 1)[0]
                candidates.append(
                    checks.Edit(a, b, repair.padded(doc.text, a, text) if a == b else text)
                )
        best = await asyncio.to_thread(_best_fix, doc, candidates)
        if best is not None:
            return best, ""
    return None, "no candidate of the model parses"


def _fix_request(
    server: DiffusionLanguageServer, text: str, a: int, b: int, uri: str
) -> api.InfillRequest:
    """A one-line infill of ``text[a:b]`` (empty: an insertion), up to a few tokens more than it
    held."""
    settings = server.settings
    return api.InfillRequest(
        prefix=text[:a],
        suffix=text[b:],
        max_tokens=min(settings.max_tokens, (b - a) // CHARS_PER_TOKEN + FIX_SLACK_TOKENS),
        steps=settings.steps or None,
        alternatives=settings.alternatives,
        single_line=True,
        context_tokens=settings.context_tokens,
        document=uri,
    )


def _keeps_words(old: str, new: str) -> bool:
    """Every word (identifier, keyword, number) of ``old`` is still in ``new``: a fix may add words
    and change punctuation, but never rename or drop what the user wrote (``count +`` may become
    ``count + 1``, never ``value``)."""
    return not (Counter(_WORD.findall(old)) - Counter(_WORD.findall(new)))


def _best_fix(doc: Document, candidates: list[checks.Edit]) -> checks.Edit | None:
    """The candidate that passes the gate with the fewest errors left, then the smallest change."""
    ranked: list[tuple[tuple[int, int], checks.Edit]] = []
    for edit in candidates:
        old = doc.text[edit.start : edit.end]
        if edit.new_text == old or not _keeps_words(old, edit.new_text):
            continue
        if checks.check_edit(doc, edit, fix=True):
            continue
        size = sum(
            max(h.end - h.start, len(h.new_text))
            for h in textops.minimal_hunks(doc.text[edit.start : edit.end], edit.new_text)
        )
        errors = checks.score(checks.Trial(doc).tree(edit).root_node).errors
        ranked.append(((errors, size), edit))
    return min(ranked, key=lambda r: r[0])[1] if ranked else None


# -- fill and refine -------------------------------------------------------------------------------


async def _rewrite(
    server: DiffusionLanguageServer,
    snap: Snapshot,
    doc: Document,
    kind: Kind,
    spans: tuple[tuple[int, int, Region], ...],
    job: Job,
) -> tuple[str, str]:
    """The text with each region filled or refined by the first candidate that passes the gate."""
    new, shift, skipped, why = snap.text, 0, 0, ""
    current = doc
    for i, (start, end, region) in enumerate(spans):
        if len(spans) > 1:
            job.report(f"region {i + 1} of {len(spans)}", percentage=100 * i // len(spans))
        start, end = start + shift, end + shift
        result = await server.model_host.run(
            lambda engine, token, r=region, s=start, e=end, t=new: _run(
                server, engine, token, kind, r, t, s, e, snap.uri
            )
        )
        if result is None:
            return snap.text, f"the model is not available ({server.model_host.message})"
        texts = [c.text for c in result.alternatives] or [result.text]
        chosen, reason = await asyncio.to_thread(_first_safe, current, start, end, texts)
        if chosen is None:
            skipped, why = skipped + 1, reason
            continue
        new = new[:start] + chosen + new[end:]
        shift += len(chosen) - (end - start)
        if i + 1 < len(spans):
            current = await asyncio.to_thread(current.edited, start, end, chosen)
    if new == snap.text:
        if skipped:
            return new, f"no candidate is safe to apply ({why}); nothing was changed"
        return new, "the model changed nothing"
    changed = len(spans) - skipped
    message = f"{changed} of {len(spans)} regions changed ({why} elsewhere)" if skipped else ""
    return new, message


def _first_safe(doc: Document, start: int, end: int, texts: list[str]) -> tuple[str | None, str]:
    """The first of ``texts`` that may replace ``doc.text[start:end]``, or (None, why not)."""
    why = "the model changed nothing"
    for text in texts:
        if text == doc.text[start:end]:
            continue
        reason = checks.check_edit(doc, checks.Edit(start, end, text))
        if not reason:
            return text, ""
        why = reason
    return None, why


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


def workspace_edit(
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

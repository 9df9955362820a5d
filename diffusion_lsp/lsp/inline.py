"""``textDocument/inlineCompletion``: the INLINE region at the cursor, filled by the engine.

Region selection and ranking run on the event loop; the fill runs on the worker, keyed by document,
so a newer request for the same document supersedes the older one (which answers an empty list at
once). When the user types a prefix of the suggestion just shown, the rest comes from a cache without
a model call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lsprotocol import types

from diffusion_lsp import textops
from diffusion_lsp.engine import api
from diffusion_lsp.lsp.documents import lsp_range
from diffusion_lsp.lsp.settings import Settings
from diffusion_lsp.region import Document, Region, inline_region

if TYPE_CHECKING:
    from diffusion_lsp.lsp.server import DiffusionLanguageServer

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 2  # a conservative guess for turning a region's character budget into tokens


@dataclass(frozen=True)
class Shown:
    """The last suggestions returned for a document, and the text they were computed on."""

    text: str  # the whole document then
    anchor: int  # str offset of the cursor then
    replaced: str  # the text the items' range covered (the region's original text)
    texts: tuple[str, ...]


def candidate_texts(result: api.Result, region: Region, suffix: str) -> list[str]:
    """The result's candidates, cleaned and ranked for display.

    Single-line regions keep the first line; longer ones at most ``max_lines`` lines. Empty texts,
    the region's own text, and texts that merely repeat what follows the cursor are dropped;
    candidates that parse in place come first, each group keeping the engine's order.
    """
    hint = region.length_hint
    following = suffix.lstrip()
    out: list[str] = []
    for cand in result.alternatives or (api.Candidate(result.text, result.confidence, 0),):
        text = cand.text
        if hint.max_lines == 1:
            text = text.split("\n", 1)[0]
        else:
            text = "\n".join(text.split("\n")[: hint.max_lines])
        text = text.rstrip() if "\n" in text else text
        if not text.strip() or text == region.text or text in out:
            continue
        if following.startswith(text.strip()):
            continue  # it only repeats the code after the cursor
        out.append(text)
    return sorted(out, key=lambda t: not region.validate(t))


def infill_request(
    doc: Document, region: Region, settings: Settings, automatic: bool, uri: str | None = None
) -> api.InfillRequest:
    """The engine request for an inline completion of ``region`` (automatic or invoked trigger);
    ``uri`` keys the engine's prompt cache."""
    budget = settings.inline.automatic if automatic else settings.inline.invoked
    start = doc.index.str_offset(region.start_byte)
    end = doc.index.str_offset(region.end_byte)
    hint = region.length_hint
    return api.InfillRequest(
        prefix=doc.text[:start],
        suffix=doc.text[end:],
        max_tokens=max(1, min(budget.max_tokens, hint.max_chars // CHARS_PER_TOKEN)),
        steps=budget.steps,
        alternatives=settings.alternatives,
        single_line=hint.max_lines == 1,
        context_tokens=settings.context_tokens,
        document=uri,
    )


def from_cache(shown: Shown | None, text: str, cursor: int) -> list[str] | None:
    """If ``text`` is the shown text with a prefix of a suggestion typed at its anchor and the cursor
    after it, the remainders of the suggestions that start with the typed text; else None."""
    if shown is None:
        return None
    typed_len = len(text) - len(shown.text)
    if typed_len <= 0 or cursor != shown.anchor + typed_len:
        return None
    head, tail = shown.text[: shown.anchor], shown.text[shown.anchor :]
    if not (text.startswith(head) and text.endswith(tail)):
        return None
    typed = text[shown.anchor : cursor]
    rests = [t[typed_len:] for t in shown.texts if t.startswith(typed) and len(t) > typed_len]
    return rests or None


def register(server: DiffusionLanguageServer) -> None:
    shown = server.inline_cache

    def items(texts: list[str], rng: textops.Range) -> types.InlineCompletionList:
        return types.InlineCompletionList(
            items=[types.InlineCompletionItem(insert_text=t, range=lsp_range(rng)) for t in texts]
        )

    empty = types.InlineCompletionList(items=[])

    # Runs on the event loop up to the fill, which runs on the worker (superseded per document).
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(params: types.InlineCompletionParams) -> types.InlineCompletionList:
        uri = params.text_document.uri
        entry = server.documents.usable(uri)
        if entry is None or entry.doc is None:
            return empty
        doc = entry.doc
        text = doc.text
        pos = textops.Position(params.position.line, params.position.character)
        cursor = doc.index.offset(pos)

        rests = from_cache(shown.get(uri), text, cursor)
        if rests is not None:  # typed into the suggestion just shown: the rest of it
            replaced = shown[uri].replaced
            return items(rests, doc.index.range(cursor, cursor + len(replaced)))

        settings = server.settings
        region = inline_region(doc, doc.index.position(cursor), max_lines=settings.inline.max_lines)
        if region is None:
            return empty
        automatic = params.context.trigger_kind == types.InlineCompletionTriggerKind.Automatic
        request = infill_request(doc, region, server.settings, automatic, uri)
        try:
            result = await server.model.run(
                lambda engine, token: engine.infill(request, token), key=f"inline:{uri}"
            )
        except api.Cancelled:
            return empty  # superseded by a newer request for this document
        if result is None or doc.text != text:
            return empty  # no model, or the document changed meanwhile (a newer request follows)
        texts = candidate_texts(result, region, request.suffix)
        shown[uri] = Shown(text, len(request.prefix), region.text, tuple(texts))
        return items(texts, region.range)

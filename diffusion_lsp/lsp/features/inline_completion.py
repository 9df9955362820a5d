"""``textDocument/inlineCompletion``: the INLINE region at the cursor, filled by the engine.

Region selection and ranking run on the event loop; the fill runs on the worker, keyed by document,
so a newer request for the same document supersedes the older one (which answers an empty list at
once). When the user types a prefix of the suggestion just shown, the rest comes from a cache without
a model call. Automatic requests pass three gates that explicit ones skip: the document's language is
one the model was trained on (``inline.languages``), typing has paused (an adaptive debounce,
``inline.debounce``), and each suggestion's confidence reaches ``inline.minConfidence``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import statistics
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types

from diffusion_lsp import textops
from diffusion_lsp.engine import api
from diffusion_lsp.lsp.convert import lsp_range
from diffusion_lsp.lsp.features import Feature, feature
from diffusion_lsp.lsp.settings import Settings
from diffusion_lsp.lsp.settings_sections import DebounceSettings, InlineSettings
from diffusion_lsp.region import Document, Region, inline_region
from diffusion_lsp.region.checks import new_controls

if TYPE_CHECKING:
    from diffusion_lsp.lsp.server import DiffusionLanguageServer

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 2  # a conservative guess for turning a region's character budget into tokens
PAUSE_FACTOR = 1.5  # typing has paused after this many of the user's usual intervals
RHYTHM_CHANGES = 9  # change times remembered per document: 8 intervals
RHYTHM_GAP_S = 2.0  # a longer gap between two changes is a pause, not the rhythm of typing


@dataclass(frozen=True)
class Shown:
    """The last suggestions returned for a document, and the text they were computed on."""

    text: str  # the whole document then
    anchor: int  # str offset of the cursor then
    replaced: str  # the text the items' range covered (the region's original text)
    texts: tuple[str, ...]


def suggestions(result: api.Result, region: Region, suffix: str) -> list[tuple[str, api.Candidate]]:
    """The result's candidates, cleaned and ranked for display, each with the candidate it came from.

    Single-line regions keep the first line; longer ones at most ``max_lines`` lines. Empty texts,
    the region's own text, texts with control characters (``checks.new_controls``) and texts that
    merely repeat what follows the cursor are dropped;
    candidates that parse in place come first, each group keeping the engine's order.
    """
    hint = region.length_hint
    following = suffix.lstrip()
    out: list[tuple[str, api.Candidate]] = []
    for cand in result.alternatives or (api.Candidate(result.text, result.confidence, 0),):
        text = cand.text
        if hint.max_lines == 1:
            text = text.split("\n", 1)[0]
        else:
            text = "\n".join(text.split("\n")[: hint.max_lines])
        text = text.rstrip() if "\n" in text else text
        if not text.strip() or text == region.text or any(text == t for t, _ in out):
            continue
        if new_controls(region.text, text):
            continue  # never typed in code: a model that has not learned its vocabulary
        if following.startswith(text.strip()):
            continue  # it only repeats the code after the cursor
        out.append((text, cand))
    return sorted(out, key=lambda tc: not region.validate(tc[0]))


def confidence(cand: api.Candidate) -> float:
    """The confidence ``inline.minConfidence`` is compared with: the mean probability of the
    candidate's tokens. On held-out Python lines the mean separated right from wrong better than
    the minimum (docs/benchmarks.md, "Inline confidence floor")."""
    return cand.score


def candidate_texts(
    result: api.Result, region: Region, suffix: str, min_confidence: float = 0.0
) -> list[str]:
    """The texts of ``suggestions`` whose candidate's confidence reaches ``min_confidence``."""
    return [
        text
        for text, cand in suggestions(result, region, suffix)
        if confidence(cand) >= min_confidence
    ]


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
        search_length=budget.search_length,
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


# -- gates for automatic requests ----------------------------------------------------------------


def pause_ms(interval_ms: float | None, debounce: DebounceSettings) -> float:
    """How long after the last change typing counts as paused: ``PAUSE_FACTOR`` times the user's
    usual interval between changes (0 while none is known), within ``[min_ms, max_ms]``."""
    target = PAUSE_FACTOR * interval_ms if interval_ms is not None else 0.0
    return min(max(target, debounce.min_ms), debounce.max_ms)


class Debouncer:
    """Per document: when it changed (the rhythm of typing) and which inline request is the newest.

    ``clock`` (seconds, monotonic) and ``sleep`` are injected so that tests can drive time.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self._changes: dict[str, deque[float]] = {}
        self._newest: dict[str, int] = {}

    def changed(self, uri: str) -> None:
        """``didChange`` for ``uri`` arrived now."""
        self._changes.setdefault(uri, deque(maxlen=RHYTHM_CHANGES)).append(self.clock())

    def forget(self, uri: str) -> None:
        self._changes.pop(uri, None)
        self._newest.pop(uri, None)

    def interval_ms(self, uri: str) -> float | None:
        """The median interval between the document's recent changes, pauses left out."""
        times = list(self._changes.get(uri, ()))
        gaps = [b - a for a, b in zip(times, times[1:]) if b - a <= RHYTHM_GAP_S]
        return statistics.median(gaps) * 1000 if gaps else None

    def wait_ms(self, uri: str, debounce: DebounceSettings) -> float:
        """How much longer an automatic request for ``uri`` waits before the model runs."""
        times = self._changes.get(uri)
        if not times:
            return 0.0
        since = (self.clock() - times[-1]) * 1000
        return max(0.0, pause_ms(self.interval_ms(uri), debounce) - since)

    def begin(self, uri: str) -> int:
        """A new inline request for ``uri``: its ticket; every older request is superseded."""
        self._newest[uri] = self._newest.get(uri, 0) + 1
        return self._newest[uri]

    def is_newest(self, uri: str, ticket: int) -> bool:
        return self._newest.get(uri) == ticket


@functools.cache
def model_languages(model: str) -> frozenset[str] | None:
    """The languages ``model`` (the ``model`` setting) was trained on, or None for all.

    Read from the checkpoint's ``config.json`` (``diffusion_lsp.languages``, written for the
    project's own models; the embedded model's says python). A hub id, or a checkpoint that does not
    say (DiffusionGemma, the masked code models), is taken to know every language.
    """
    from diffusion_lsp.models import embedded_model_path

    path = Path(model).expanduser() if model else embedded_model_path()
    try:
        if not (path / "config.json").is_file():
            return None
        meta = json.loads((path / "config.json").read_text(encoding="utf-8")).get("diffusion_lsp")
        languages = meta.get("languages") if isinstance(meta, dict) else None
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(languages, list) or not all(isinstance(x, str) for x in languages):
        return None
    return frozenset(languages)


def automatic_language(
    inline: InlineSettings, model: str, language_id: str, language: str | None
) -> bool:
    """Whether a document of ``language_id`` (the editor's id; ``language``: the grammar the server
    picked for it) gets automatic suggestions."""
    wanted = frozenset(inline.languages) or model_languages(model)
    if wanted is None or "*" in wanted:
        return True
    return language_id in wanted or (language is not None and language in wanted)


EMPTY = types.InlineCompletionList(items=[])


def items(texts: list[str], rng: textops.Range) -> types.InlineCompletionList:
    return types.InlineCompletionList(
        items=[types.InlineCompletionItem(insert_text=t, range=lsp_range(rng)) for t in texts]
    )


class InlineCompletion(Feature):
    """The feature and its per-document state: the suggestions last shown (the cache) and the
    debouncer; both follow the documents through ``server.events``."""

    def __init__(self, server: DiffusionLanguageServer) -> None:
        super().__init__(server)
        self.shown: dict[str, Shown] = {}  # the last inline suggestions per document
        self.debounce = Debouncer()  # typing rhythm and the newest inline request
        server.events.changed.subscribe(self.debounce.changed)
        server.events.closed.subscribe(self.closed)

    def closed(self, uri: str) -> None:
        self.shown.pop(uri, None)
        self.debounce.forget(uri)

    # On the event loop up to the fill, which runs on the worker (superseded per document).
    @feature(
        types.TEXT_DOCUMENT_INLINE_COMPLETION,
        runs="worker",
        options=types.InlineCompletionOptions(),
    )
    async def inline_completion(
        self, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList:
        server, shown, debouncer = self.server, self.shown, self.debounce
        uri = params.text_document.uri
        entry = server.documents.usable(uri)
        if entry is None or entry.doc is None:
            return EMPTY
        doc = entry.doc
        text = doc.text
        ticket = debouncer.begin(uri)  # supersedes any older request for the document
        pos = textops.Position(params.position.line, params.position.character)
        cursor = doc.index.offset(pos)

        rests = from_cache(shown.get(uri), text, cursor)
        if rests is not None:  # typed into the suggestion just shown: the rest of it
            replaced = shown[uri].replaced
            return items(rests, doc.index.range(cursor, cursor + len(replaced)))

        settings = server.settings
        automatic = params.context.trigger_kind == types.InlineCompletionTriggerKind.Automatic
        if automatic:
            if not automatic_language(
                settings.inline, settings.model, entry.language_id, doc.language
            ):
                return EMPTY  # a language the model was not trained on: only when asked
            wait = debouncer.wait_ms(uri, settings.inline.debounce)
            if wait > 0:
                await debouncer.sleep(wait / 1000)  # typing has not paused yet
                if not debouncer.is_newest(uri, ticket) or doc.text != text:
                    return EMPTY  # superseded, or typed on: the newer request answers
                if server.documents.usable(uri) is not entry:
                    return EMPTY  # closed (or reopened) meanwhile
        region = inline_region(doc, doc.index.position(cursor), max_lines=settings.inline.max_lines)
        if region is None:
            return EMPTY
        request = infill_request(doc, region, settings, automatic, uri)
        try:
            result = await server.model_host.run(
                lambda engine, token: engine.infill(request, token), key=f"inline:{uri}"
            )
        except api.Cancelled:
            return EMPTY  # superseded by a newer request for this document
        if result is None or doc.text != text:
            return EMPTY  # no model, or the document changed meanwhile (a newer request follows)
        floor = settings.inline.min_confidence if automatic else 0.0
        texts = candidate_texts(result, region, request.suffix, floor)
        shown[uri] = Shown(text, len(request.prefix), region.text, tuple(texts))
        return items(texts, region.range)

"""Next edit: from the user's last edits to the edit that follows from them, with no LSP in sight.

``windows`` picks candidate windows near the last edit and related to it (tree-sitter); ``suggest``
scores them in one batch (``Engine.score``), rewrites the best one with the edit history in the
model's context, and passes the result through the same gate as Fix and Refine. Both the server
(``lsp/features/next_edit.py``) and ``diffusion-lsp eval next-edit`` run ``suggest``; it blocks, so
callers run it on the worker thread.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from diffusion_lsp.engine.api import CancelToken, Engine, InfillRequest, ScoreRequest, WindowScore
from diffusion_lsp.region import checks
from diffusion_lsp.region.document import Document
from diffusion_lsp.region.related import (
    Rename,
    overlaps,
    related_spans,
    rename_of,
    renamed_word,
)
from diffusion_lsp.region.spans import is_word_char
from diffusion_lsp.textops import minimal_hunks

REASONS = ("use", "call", "sibling", "after")  # in priority order
NOTE_EDITS = 3  # edits the note shows, the last ones
NOTE_CHARS = 200  # each side of an edit in the note is cut to this
MAX_REWRITES = 3  # windows above the threshold tried before giving up
ALTERNATIVES = 3  # infill candidates asked for per window
# Line comment markers; every other language gets "#".
_SLASHES = frozenset(
    {
        "c",
        "cpp",
        "csharp",
        "go",
        "java",
        "javascript",
        "javascriptreact",
        "kotlin",
        "rust",
        "scala",
        "swift",
        "tsx",
        "typescript",
        "typescriptreact",
        "php",
        "dart",
        "zig",
    }
)
_DASHES = frozenset({"lua", "sql", "haskell", "elm", "ada"})


@dataclass(frozen=True)
class LastEdit:
    """One closed edit group of a document: ``before`` was replaced by ``after`` at str offset
    ``start`` of the text as it is now (``after`` spans ``[start, start + len(after))`` there)."""

    start: int
    before: str
    after: str

    @property
    def end(self) -> int:
        return self.start + len(self.after)


@dataclass(frozen=True)
class Window:
    """A span of the current text (str offsets) that may need the next edit, and why it was
    picked: ``"use"`` (another use of an identifier the edit renamed or introduced), ``"call"`` (a
    call of a function whose parameters changed), ``"sibling"`` (a statement of the same shape as the
    edited one) or ``"after"`` (the lines just after the edit)."""

    start: int
    end: int
    reason: str


@dataclass(frozen=True)
class Options:
    """What ``suggest`` may do (the server's ``nextEdit.*`` settings)."""

    threshold: float = 0.5  # a window's score must reach this for any edit to be shown
    max_windows: int = 16
    stride: int = 4
    max_tokens: int = 32  # tokens the rewrite of one window may take
    context_tokens: int = 1024


@dataclass(frozen=True)
class Suggestion:
    """The next edit: replace ``text[start:end]`` (str offsets of the text it was computed on) with
    ``new_text``; ``window`` is where it was found and ``score`` how strongly the model asked."""

    start: int
    end: int
    new_text: str
    window: Window
    score: float


def windows(doc: Document, edits: Sequence[LastEdit], max_windows: int = 16) -> list[Window]:
    """Candidate windows for the edit that follows ``edits[-1]`` (the earlier edits only inform the
    note): ranked by reason (``REASONS``), then by distance to the edit; none overlaps the edit,
    none repeats a span (the first reason wins), at most ``max_windows``. A document without a tree
    gets only ``after`` windows."""
    if not edits:
        return []
    edit = widened(doc, edits[-1])
    start = max(0, min(edit.start, len(doc.text)))
    end = max(start, min(edit.end, len(doc.text)))
    seen: set[tuple[int, int]] = set()
    ranked: list[tuple[int, tuple[int, int], Window]] = []
    for s, e, reason in related_spans(doc, edit):
        if e <= s or (s, e) in seen or overlaps(s, e, start, end):
            continue
        seen.add((s, e))
        ranked.append(
            (REASONS.index(reason), _distance(doc, s, e, start, end), Window(s, e, reason))
        )
    ranked.sort(key=lambda t: (t[0], t[1]))
    return [w for _, _, w in ranked[:max_windows]]


def widened(doc: Document, edit: LastEdit, lines: bool = False) -> LastEdit:
    """``edit`` grown to whole words (``lines``: whole lines) of ``doc.text``, both sides gaining
    the same unchanged text: a history that keeps only the changed characters (``count`` ->
    ``counter`` as ``"" -> "er"``) then still names the words. An edit whose ``after`` is not at
    its offsets (out of date) is returned as it is."""
    text = doc.text
    start, end = edit.start, edit.end
    if start < 0 or end > len(text) or text[start:end] != edit.after:
        return edit
    if lines:
        a = text.rfind("\n", 0, start) + 1
        b = text.find("\n", end)
        b = len(text) if b < 0 else b
    else:
        a, b = start, end
        while a > 0 and is_word_char(doc.spec, text[a - 1]):
            a -= 1
        while b < len(text) and is_word_char(doc.spec, text[b]):
            b += 1
    if (a, b) == (start, end):
        return edit
    return LastEdit(a, text[a:start] + edit.before + text[end:b], text[a:b])


def _distance(doc: Document, s: int, e: int, start: int, end: int) -> tuple[int, int]:
    """(lines, characters) between a window and the edit."""
    index = doc.index
    if e <= start:
        return index.position(start).line - index.position(e).line, start - e
    return max(index.position(s).line - index.position(end).line, 0), max(s - end, 0)


def note(language: str | None, edits: Sequence[LastEdit]) -> str:
    """The user's last edits (``NOTE_EDITS``, oldest first) as comment lines for the model to read
    before the code: ``# Recent edit: "def f(x):" -> "def f(count):"``, each side cut to its changed
    lines and ``NOTE_CHARS`` characters. '' when there is no edit."""
    marker = "//" if language in _SLASHES else "--" if language in _DASHES else "#"
    lines = []
    for edit in edits[-NOTE_EDITS:]:
        before, after = _changed_lines(edit.before, edit.after)
        if before == after:
            continue
        lines.append(f"{marker} Recent edit: {_quote(before)} -> {_quote(after)}\n")
    return "".join(lines)


def history_note(doc: Document, edits: Sequence[LastEdit], language: str | None = None) -> str:
    """``note`` of ``edits`` on ``doc``, each read as the whole lines it changed: the preamble
    ``suggest`` gives the engine (``language`` where ``doc`` has no grammar)."""
    return note(language or doc.language, [widened(doc, e, lines=True) for e in edits])


def _changed_lines(before: str, after: str) -> tuple[str, str]:
    """Both sides without the whole lines they share at the start and at the end."""
    old, new = before.split("\n"), after.split("\n")
    while len(old) > 1 and len(new) > 1 and old[0] == new[0]:
        old, new = old[1:], new[1:]
    while len(old) > 1 and len(new) > 1 and old[-1] == new[-1]:
        old, new = old[:-1], new[:-1]
    return "\n".join(old).strip(), "\n".join(new).strip()


def _quote(text: str) -> str:
    if len(text) > NOTE_CHARS:
        text = text[: NOTE_CHARS - 3] + "..."
    return json.dumps(text, ensure_ascii=False)


def suggest(
    engine: Engine,
    doc: Document,
    edits: Sequence[LastEdit],
    options: Options = Options(),
    cancel: CancelToken | None = None,
    language: str | None = None,
    uri: str | None = None,
) -> Suggestion | None:
    """The next edit after ``edits`` on ``doc``, or None when no window reaches
    ``options.threshold`` or no rewrite of one passes the checks. Blocks; ``EngineError`` from the
    engine (a backend that cannot score) and ``Cancelled`` pass through. ``language`` names the
    comment syntax of the note where ``doc`` has no grammar; ``uri`` keys the engine's prompt cache.

    When the last edit renamed a name (``related.rename_of``), the windows that still use the old
    name are judged first, by whether the rename moved the model towards the new name there
    (``rename_scores``: four ``score`` calls for the ``MAX_REWRITES`` nearest), nearest first; once
    the user accepts one, the next request judges the next ones. The other windows get one ``score``
    call for all of them, the best tried with an ``infill`` each, a rewrite kept only where the
    user's edit calls for it (``_prefers``).
    """
    candidates = windows(doc, edits, options.max_windows)
    if not candidates:
        return None
    wide = [widened(doc, e) for e in edits]
    rename = rename_of(doc, wide)
    renaming = [w for w in candidates if rename is not None and _sites_in(rename, w)]
    if rename is not None and renaming:
        nearest = renaming[:MAX_REWRITES]  # the rest wait for the next request
        scores = rename_scores(engine, doc, wide, rename, nearest, options, cancel, uri)
        for window, score in zip(nearest, scores):
            if score >= options.threshold and score > 0.5:  # never on no evidence (d = 0)
                found = _renamed(doc, window, rename, score)
                if found is not None:
                    return found
    others = [w for w in candidates if w not in renaming]
    if not others:
        return None
    undo = _undo(wide[-1]) if _standing(doc, wide[-1]) else None
    preamble = history_note(doc, edits, language)
    request = ScoreRequest(
        doc.text,
        tuple(scoring_span(doc.text, w) for w in others),
        stride=options.stride,
        context_tokens=options.context_tokens,
        preamble=preamble,
        document=uri,
    )
    scored = engine.score(request, cancel).windows
    ranked = sorted(zip(others, scored), key=lambda pair: -pair[1].score)
    for window, result in ranked[:MAX_REWRITES]:
        if result.score < options.threshold:
            break
        found = _rewrite(engine, doc, window, result, undo, preamble, options, cancel, uri)
        if found is not None:
            return found
    return None


def rename_scores(
    engine: Engine,
    doc: Document,
    edits: Sequence[LastEdit],
    rename: Rename,
    renaming: Sequence[Window],
    options: Options = Options(),
    cancel: CancelToken | None = None,
    uri: str | None = None,
) -> list[float]:
    """How much the rename moved the model towards the new name at each window's sites, as a
    probability: ``sigmoid(d)`` of the difference in differences

        d = [log p(new | renamed) - log p(old | renamed)] - [log p(new | not) - log p(old | not)]

    summed over the window's sites. "renamed" is the text as it is, "not" the text with the
    rename's edits among ``edits`` undone; each log p is the sum over a site's tokens with every
    site masked at once (``score`` with stride 1), the site read as the new name in one call and
    as the old one in another. The second bracket is the model's own preference between the two
    names where nothing was renamed (a small model prefers common names whatever the code says),
    so ``d`` keeps only what the user's edit changed; ``d > 0`` (a score above 0.5) where the
    renamed place pulls the uses after it. No preamble: the note would tell the "not" text of an
    edit it does not have."""
    text = doc.text
    made = [_undo(e) for e in edits if _standing(doc, e) and _is_rename(doc, e, rename)]
    sites = [s for s in rename.sites if any(_inside(s, w) for w in renaming)]
    undone, not_sites = _substitute(text, made, sites)
    texts = [
        (text, sites),  # renamed, the old name at the sites
        _substitute(text, [(a, b, rename.new) for a, b in sites], sites),
        (undone, not_sites),  # not renamed
        _substitute(undone, [(a, b, rename.new) for a, b in not_sites], not_sites),
    ]
    logps = []
    for base, at in texts:
        spans = tuple(_site_span(base, a, b) for a, b in at)
        request = ScoreRequest(
            base, spans, stride=1, context_tokens=options.context_tokens, document=uri
        )
        result = engine.score(request, cancel).windows
        logps.append([sum(t.logprob for t in w.tokens) for w in result])
    old_now, new_now, old_not, new_not = logps
    per_site = [(n1 - o1) - (n0 - o0) for o1, n1, o0, n0 in zip(old_now, new_now, old_not, new_not)]
    out = []
    for w in renaming:
        d = sum(v for s, v in zip(sites, per_site) if _inside(s, w))
        out.append(1.0 / (1.0 + math.exp(-max(min(d, 50.0), -50.0))))
    return out


def _substitute(
    text: str, replacements: Sequence[tuple[int, int, str]], spans: Sequence[tuple[int, int]]
) -> tuple[str, list[tuple[int, int]]]:
    """``text`` with the disjoint ``replacements`` (start, end, new text) made, and ``spans``
    moved with it: a span that is one of the replacements becomes its new text's span, any other
    (apart from every replacement) keeps its text."""
    order = sorted(replacements)
    pieces, at = [], 0
    for a, b, new in order:
        pieces += [text[at:a], new]
        at = b
    pieces.append(text[at:])
    new_of = {(a, b): new for a, b, new in order}
    moved = []
    for s, e in spans:
        delta = sum(len(new) - (b - a) for a, b, new in order if b <= s and (a, b) != (s, e))
        end = s + len(new_of[(s, e)]) if (s, e) in new_of else e
        moved.append((s + delta, end + delta))
    return "".join(pieces), moved


def _standing(doc: Document, edit: LastEdit) -> bool:
    """Whether ``edit`` changed something and its text is still at its offsets."""
    return edit.before != edit.after and doc.text[edit.start : edit.end] == edit.after


def _undo(edit: LastEdit) -> tuple[int, int, str]:
    """The replacement that undoes ``edit`` (a standing one)."""
    return edit.start, edit.end, edit.before


def _inside(site: tuple[int, int], window: Window) -> bool:
    return window.start <= site[0] and site[1] <= window.end


def _sites_in(rename: Rename, window: Window) -> bool:
    return window.reason == "use" and any(_inside(s, window) for s in rename.sites)


def _is_rename(doc: Document, edit: LastEdit, rename: Rename) -> bool:
    assert doc.spec is not None
    return renamed_word(edit, doc.spec.word_chars) == (rename.old, rename.new)


def _site_span(text: str, start: int, end: int) -> tuple[int, int]:
    """A site as the engine scores it: from the blanks before it (``_blanks_before``) to its end
    (a tokenizer splits a word from the punctuation after it)."""
    return _blanks_before(text, start), end


def _blanks_before(text: str, start: int) -> int:
    """``start`` moved back over the blanks before it on its line, and that line's break."""
    while start > 0 and text[start - 1] in " \t":
        start -= 1
    if start > 0 and text[start - 1] == "\n":
        start -= 2 if start > 1 and text[start - 2] == "\r" else 1
    return start


def _renamed(doc: Document, window: Window, rename: Rename, score: float) -> Suggestion | None:
    """The window with its sites renamed, cut to its minimal hunks; None when that fails
    ``check_edit``."""
    text = doc.text
    sites = [(a, b, rename.new) for a, b in rename.sites if _inside((a, b), window)]
    new_window, _ = _substitute(
        text[window.start : window.end],
        [(a - window.start, b - window.start, new) for a, b, new in sites],
        [],
    )
    if checks.check_edit(doc, checks.Edit(window.start, window.end, new_window)):
        return None
    hunks = minimal_hunks(text[window.start : window.end], new_window)
    if not hunks:
        return None
    first, last = hunks[0].start, hunks[-1].end
    tail = window.end - window.start - last
    return Suggestion(
        window.start + first,
        window.start + last,
        new_window[first : len(new_window) - tail],
        window,
        score,
    )


def _prefers(
    engine: Engine,
    doc: Document,
    span: tuple[int, int],
    scored: WindowScore,
    edit: tuple[int, int, str],
    undo: tuple[int, int, str] | None,
    preamble: str,
    options: Options,
    cancel: CancelToken | None,
    uri: str | None,
) -> bool:
    """Whether the user's last edit makes the model prefer the window ``span`` with ``edit``
    made to the window as it is: the mean log probability of its tokens (read as ``score`` reads
    them; ``scored``: the window as it is) gains with the edit, and gains more than it does in the
    text with the user's edit undone (``undo``: its span and old text) — the same difference in
    differences as a rename's (``rename_scores``). An infill writes what fits the hole best, not
    what the user's edit calls for: text the model likes anywhere (it rates a token next to a copy
    of itself highly) is no next edit. Three ``score`` calls; without ``undo``, one (the gain)."""
    if not scored.tokens:
        return False
    text = doc.text
    a, b, new = edit
    lo, hi = span

    def mean(base: str, window: tuple[int, int]) -> float | None:
        request = ScoreRequest(
            base,
            (window,),
            stride=options.stride,
            context_tokens=options.context_tokens,
            preamble=preamble,
            document=uri,
        )
        (result,) = engine.score(request, cancel).windows
        return _mean_logprob(result) if result.tokens else None

    before = _mean_logprob(scored)
    after = mean(text[:a] + new + text[b:], (lo, hi + len(new) - (b - a)))
    if after is None or after <= before:
        return False
    if undo is None:
        return True
    undone, ((ua, ub), (ulo, uhi)) = _substitute(text, [undo], [(a, b), (lo, hi)])
    not_before = mean(undone, (ulo, uhi))
    not_after = mean(undone[:ua] + new + undone[ub:], (ulo, uhi + len(new) - (ub - ua)))
    if not_before is None or not_after is None:
        return False
    return after - before > not_after - not_before


def _mean_logprob(scored: WindowScore) -> float:
    """The mean log probability of a scored window's tokens (it has some)."""
    return sum(t.logprob for t in scored.tokens) / len(scored.tokens)


def scoring_span(text: str, window: Window) -> tuple[int, int]:
    """The span of ``window`` the engine scores: the window from the blanks before it on its line
    (and that line's break) to the next blank after it. An engine tokenizes a window apart from
    its context, and tokenizers split text at blanks but join a word to the blank before it
    (`` y``), a line break to the indentation after it and punctuation to punctuation (``);``),
    so a window cut anywhere else would be tokenized as no text around it ever is."""
    start, end = _blanks_before(text, window.start), window.end
    while end < len(text) and not text[end].isspace():
        end += 1
    return start, end


def disputed_span(
    doc: Document, window: Window, scored: WindowScore, threshold: float
) -> tuple[int, int] | None:
    """The part of ``window`` to rewrite: from its first to its last token the model disagrees
    with (``disagreement >= threshold``), widened to whole words. It keeps the tokens' own bounds
    (a token's leading blank included), so the hole splits the text where the model's tokens do."""
    disputed = [t for t in scored.tokens if t.disagreement >= threshold]
    if not disputed:
        return None
    text = doc.text
    lo, hi = scoring_span(text, window)
    a = max(min(t.start for t in disputed), lo)
    b = min(max(t.end for t in disputed), hi)
    if a >= b:
        return None

    def word(i: int) -> bool:
        return is_word_char(doc.spec, text[i])

    while a > lo and word(a - 1) and word(a):  # a token that starts mid-word
        a -= 1
    while b < hi and word(b - 1) and word(b):
        b += 1
    return a, b


def _rewrite(
    engine: Engine,
    doc: Document,
    window: Window,
    scored: WindowScore,
    undo: tuple[int, int, str] | None,
    preamble: str,
    options: Options,
    cancel: CancelToken | None,
    uri: str | None,
) -> Suggestion | None:
    """The first infill of the window's disputed span that changes it, passes ``check_edit`` and
    is cut to its minimal hunks; None when no candidate does."""
    span = disputed_span(doc, window, scored, options.threshold)
    if span is None:
        return None
    a, b = span
    text = doc.text
    request = InfillRequest(
        prefix=text[:a],
        suffix=text[b:],
        max_tokens=options.max_tokens,
        alternatives=ALTERNATIVES,
        single_line="\n" not in text[window.start : window.end],
        context_tokens=options.context_tokens,
        document=uri,
        preamble=preamble,
    )
    result = engine.infill(request, cancel)
    texts = [c.text for c in result.alternatives] or [result.text]
    lo, hi = scoring_span(text, window)
    old_window = text[lo:hi]
    for new in dict.fromkeys(texts):
        if new == text[a:b] or checks.check_edit(doc, checks.Edit(a, b, new)):
            continue
        new_window = text[lo:a] + new + text[b:hi]
        hunks = minimal_hunks(old_window, new_window)
        if not hunks:
            continue
        if not _prefers(
            engine, doc, (lo, hi), scored, (a, b, new), undo, preamble, options, cancel, uri
        ):
            continue
        first, last = hunks[0].start, hunks[-1].end
        tail = len(old_window) - last
        return Suggestion(
            lo + first,
            lo + last,
            new_window[first : len(new_window) - tail],
            window,
            scored.score,
        )
    return None

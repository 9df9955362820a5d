"""Scoring existing text with a masked model: how much it wants to change each token of a window.

The windows share canvases. Sorted by position, windows that do not overlap and lie close together
(at most ``MAX_GAP_TOKENS`` tokens of text from one to the next) form one canvas: ``lead + preamble
+ prefix + window, gap, window, ... + suffix + tail``, its context the text around the group
through ``windowed_context``, each window and each gap encoded on its own (as refine encodes its
span). The canvas's window tokens are counted in order across its windows, and row k masks those
whose count is k modulo ``stride``: a canvas has ``stride`` rows (fewer when it holds fewer window
tokens), every window token is masked in exactly one, and two tokens masked in one row are at least
``stride`` apart, across windows as within one; the gaps and the context stay as written. Eight windows in one function cost ``stride`` rows
of one context, not eight times that (docs/next-edit.md, "Speed").

All rows run in one denoiser call (one padded canvas) up to ``MAX_SCORE_ROWS`` rows; more are split
into calls of that many, the cancel token checked between them. A token's disagreement is
``p(top) - p(token)`` at its masked position, banned ids never the top; a window's score is its
largest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from diffusion_lsp.engine.api import CancelToken, ScoreRequest, ScoreResult, Timings
from diffusion_lsp.engine.scoring import disagreements, token_spans, window_score
from diffusion_lsp.engine.tokens import build_canvas, encode, windowed_context

if TYPE_CHECKING:
    from diffusion_lsp.engine.masked.engine import MaskedDiffusionEngine

MAX_SCORE_ROWS = 64  # canvas rows per denoiser call; a request with more runs in several calls
MAX_GAP_TOKENS = 256  # text between two windows of one canvas; a longer gap starts a new canvas


@dataclass
class _Canvas:
    """Windows scored together: ``pieces`` are (window index, or None for a gap, token ids)."""

    start: int  # str offset where the first window starts
    end: int  # and where the last ends
    pieces: list[tuple[int | None, list[int]]] = field(default_factory=list)


def score_windows(
    engine: MaskedDiffusionEngine, request: ScoreRequest, cancel: CancelToken | None = None
) -> ScoreResult:
    """``Engine.score`` for a masked engine (see the module docstring)."""
    start = time.perf_counter()
    special, tok, text = engine.special, engine.tokenizer, request.text
    lead, tail = engine.frame(request.preamble)
    stride = max(1, request.stride)
    ids = [encode(tok, text[a:b]) for a, b in request.windows]
    spans = [token_spans(tok, w, text[a:b], a) for w, (a, b) in zip(ids, request.windows)]
    canvases = _group(tok, text, request.windows, ids)
    frames = []  # (before, after) of each canvas
    for c in canvases:
        prefix, suffix = windowed_context(
            tok, text[: c.start], text[c.end :], request.context_tokens
        )
        frames.append(([*lead, *prefix], [*suffix, *tail]))
    # (canvas, k): the rows; row k masks tokens k, k + stride, ... of each window
    plan = [
        (c, k)
        for c, canvas in enumerate(canvases)
        for k in range(min(stride, sum(len(p) for w, p in canvas.pieces if w is not None)))
    ]
    tokenize_ms = (time.perf_counter() - start) * 1000

    denoiser = engine.one_forward_denoiser()
    banned = {special.mask, *special.banned, *_expand(special)}
    disagreement = [[0.0] * len(w) for w in ids]
    top = [[0] * len(w) for w in ids]
    logprob = [[0.0] * len(w) for w in ids]
    nfe, t0 = 0, time.perf_counter()
    for r in range(0, len(plan), MAX_SCORE_ROWS):
        if cancel is not None:
            cancel.raise_if_cancelled()
        rows, free, where = [], [], []  # where: (window, token) of each masked position
        for c, k in plan[r : r + MAX_SCORE_ROWS]:
            span: list[int] = []
            masked: list[bool] = []
            counted = 0  # window tokens before this piece in the canvas
            for w, piece in canvases[c].pieces:
                hit = [w is not None and (counted + i) % stride == k for i in range(len(piece))]
                span += [special.mask if m else t for t, m in zip(piece, hit)]
                masked += hit
                if w is not None:
                    where += [(w, i) for i, m in enumerate(hit) if m]
                    counted += len(piece)
            rows.append((frames[c][0], span, frames[c][1]))
            free.append(masked)
        canvas = build_canvas(rows, free, special.pad, engine.device)
        positions = canvas.free.nonzero(as_tuple=True)  # ([N], [N]), row-major as ``where``
        logits = denoiser(canvas.tokens, canvas.attention, positions)  # [N, V]
        nfe += 1
        gaps, tops, lps = disagreements(logits, [ids[w][i] for w, i in where], banned)
        for (w, i), g, t, lp in zip(where, gaps, tops, lps):
            disagreement[w][i], top[w][i], logprob[w][i] = g, t, lp
    denoise_ms = (time.perf_counter() - t0) * 1000

    scores = [
        window_score(tok, spans[w], disagreement[w], top[w], logprob[w])
        for w in range(len(request.windows))
    ]
    total = (time.perf_counter() - start) * 1000
    return ScoreResult(tuple(scores), nfe, Timings(tokenize_ms, 0.0, denoise_ms, total))


def _group(
    tok: Any, text: str, windows: tuple[tuple[int, int], ...], ids: list[list[int]]
) -> list[_Canvas]:
    """The canvases: windows in order of position, a new canvas where a window overlaps the one
    before it or lies more than ``MAX_GAP_TOKENS`` tokens after it. Empty windows (no tokens) are
    left out: they score 0."""
    canvases: list[_Canvas] = []
    for w in sorted(range(len(windows)), key=lambda w: windows[w]):
        if not ids[w]:
            continue
        a, b = windows[w]
        last = canvases[-1] if canvases else None
        gap = encode(tok, text[last.end : a]) if last is not None and a >= last.end else None
        if last is None or gap is None or len(gap) > MAX_GAP_TOKENS:
            canvases.append(_Canvas(a, b, [(w, ids[w])]))
            continue
        if gap:
            last.pieces.append((None, gap))
        last.pieces.append((w, ids[w]))
        last.end = b
    return canvases


def _expand(special: Any) -> tuple[int, ...]:
    """DreamOn's expand token is no text: it never counts as the top token of a scored one."""
    return () if special.expand is None else (special.expand,)

"""Scoring existing text with a masked model: how much it wants to change each token of a window.

Each window's tokens are masked in strides: row k of a window masks every ``stride``-th token from
k, so a window of n tokens has ``min(stride, n)`` rows and every token is masked in exactly one. A
row is ``lead + preamble + prefix + window (strided masks) + suffix + tail``, its context the text
around the window through ``windowed_context``, the window's text encoded on its own (as refine
does). All rows of all windows run in one denoiser call (one padded canvas) up to
``MAX_SCORE_ROWS`` rows; more are split into calls of that many, the cancel token checked between
them. A token's disagreement is ``p(top) - p(token)`` at its masked position, banned ids never the
top; a window's score is its largest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from diffusion_lsp.engine.api import CancelToken, ScoreRequest, ScoreResult, Timings
from diffusion_lsp.engine.scoring import disagreements, token_spans, window_score
from diffusion_lsp.engine.tokens import build_canvas, encode, windowed_context

if TYPE_CHECKING:
    from diffusion_lsp.engine.masked.engine import MaskedDiffusionEngine

MAX_SCORE_ROWS = 64  # canvas rows per denoiser call; a request with more runs in several calls


@dataclass
class _Window:
    before: list[int]  # lead + preamble + prefix
    ids: list[int]  # the window's own tokens
    after: list[int]  # suffix + tail
    spans: list[tuple[int, int]]  # each token's str offsets into the request's text


def score_windows(
    engine: MaskedDiffusionEngine, request: ScoreRequest, cancel: CancelToken | None = None
) -> ScoreResult:
    """``Engine.score`` for a masked engine (see the module docstring)."""
    start = time.perf_counter()
    special = engine.special
    lead, tail = engine.frame(request.preamble)
    stride = max(1, request.stride)
    windows = []
    for a, b in request.windows:
        prefix, suffix = windowed_context(
            engine.tokenizer, request.text[:a], request.text[b:], request.context_tokens
        )
        ids = encode(engine.tokenizer, request.text[a:b])
        spans = token_spans(engine.tokenizer, ids, request.text[a:b], a)
        windows.append(_Window([*lead, *prefix], ids, [*suffix, *tail], spans))
    # (window, k): the rows, every window's in order; row k masks tokens k, k + stride, ...
    plan = [(w, k) for w, win in enumerate(windows) for k in range(min(stride, len(win.ids)))]
    tokenize_ms = (time.perf_counter() - start) * 1000

    denoiser = engine.one_forward_denoiser()
    banned = {special.mask, *special.banned, *_expand(special)}
    disagreement = [[0.0] * len(win.ids) for win in windows]
    top = [[0] * len(win.ids) for win in windows]
    nfe, t0 = 0, time.perf_counter()
    for c in range(0, len(plan), MAX_SCORE_ROWS):
        if cancel is not None:
            cancel.raise_if_cancelled()
        chunk = plan[c : c + MAX_SCORE_ROWS]
        rows, free, where = [], [], []  # where: (window, token) of each masked position
        for w, k in chunk:
            win = windows[w]
            masked = [i % stride == k for i in range(len(win.ids))]
            span = [special.mask if m else t for t, m in zip(win.ids, masked)]
            rows.append((win.before, span, win.after))
            free.append(masked)
            where += [(w, i) for i in range(k, len(win.ids), stride)]
        canvas = build_canvas(rows, free, special.pad, engine.device)
        positions = canvas.free.nonzero(as_tuple=True)  # ([N], [N]), row-major as ``where``
        logits = denoiser(canvas.tokens, canvas.attention, positions)  # [N, V]
        nfe += 1
        gaps, tops = disagreements(logits, [windows[w].ids[i] for w, i in where], banned)
        for (w, i), g, t in zip(where, gaps, tops):
            disagreement[w][i], top[w][i] = g, t
    denoise_ms = (time.perf_counter() - t0) * 1000

    scores = [
        window_score(engine.tokenizer, win.spans, disagreement[w], top[w])
        for w, win in enumerate(windows)
    ]
    total = (time.perf_counter() - start) * 1000
    return ScoreResult(tuple(scores), nfe, Timings(tokenize_ms, 0.0, denoise_ms, total))


def _expand(special: Any) -> tuple[int, ...]:
    """DreamOn's expand token is no text: it never counts as the top token of a scored one."""
    return () if special.expand is None else (special.expand,)

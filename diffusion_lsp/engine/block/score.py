"""Scoring existing text with DiffusionGemma: the warm start, one decoder forward per prompt.

A window's current text is the canvas (in inpaint mode followed by the clamped suffix, as refine
builds it), its prompt the one infill and refine build for that spot (``engine._prompt``: the
windowed prefix, or the instruction around the hole). One forward of the canvas decoder over prompt
and canvas, without self-conditioning, gives each canvas token's ``p(token)`` and ``p(top)``.

The loop batches rows over one batch-1 prompt cache (``block.loop``: the cache is expanded to the
batch, never padded), so windows whose prompts are the same share one forward (their canvases
padded); windows with different prompts (the usual case: each has its own prefix) run one prefill
and one forward each. Each prompt is encoded afresh and kept out of the engine's prompt cache, so
scoring never evicts the entry a document's next completion extends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from diffusion_lsp.engine.api import (
    CancelToken,
    EngineError,
    RefineRequest,
    ScoreRequest,
    ScoreResult,
    Timings,
    WindowScore,
)
from diffusion_lsp.engine.block.cache import encode_tokens
from diffusion_lsp.engine.block.loop import EagerCanvasDecoder, _lm_logits
from diffusion_lsp.engine.scoring import disagreements, token_spans, window_score

if TYPE_CHECKING:
    from diffusion_lsp.engine.block.engine import BlockDiffusionEngine


def score_windows(
    engine: BlockDiffusionEngine, request: ScoreRequest, cancel: CancelToken | None = None
) -> ScoreResult:
    """``Engine.score`` for DiffusionGemma (see the module docstring)."""
    import torch

    from diffusion_lsp.engine.block.engine import _check_common, _Clock

    _check_common(1, None, None, request.context_tokens)
    clock = _Clock(engine.model)
    tok, canvas = engine.tokenizer, engine.settings.canvas_length
    groups: dict[tuple[int, ...], list[int]] = {}  # prompt ids -> the windows scored under it
    prompts, canvases, window_ids, spans = [], [], [], []
    for w, (a, b) in enumerate(request.windows):
        text = request.text[a:b]
        ids = list(tok(text, add_special_tokens=False).input_ids) if text else []
        if len(ids) > canvas:
            raise EngineError(
                f"a window of {len(ids)} tokens is longer than the model's canvas ({canvas}).",
                "score shorter windows.",
            )
        spot = RefineRequest(
            request.text[:a],
            text,
            request.text[b:],
            context_tokens=request.context_tokens,
            preamble=request.preamble,
        )
        prompt = engine._prompt(spot, canvas - len(ids))
        prompts.append(prompt)
        canvases.append(ids + prompt.suffix_ids)
        window_ids.append(ids)
        spans.append(token_spans(tok, ids, text, a))
        if ids:
            groups.setdefault(tuple(prompt.ids), []).append(w)
    tokenize_ms = clock.lap()

    special = set(getattr(tok, "all_special_ids", ()) or ())
    banned = (special - {engine._pad} - engine.stop_ids) | set(
        range(len(tok), engine.settings.vocab_size)
    )
    scores: list[WindowScore] = [WindowScore(0.0, ()) for _ in request.windows]
    nfe, prefill_ms, denoise_ms = 0, 0.0, 0.0
    device = engine.model.device
    for prompt_ids, members in groups.items():
        if cancel is not None:
            cancel.raise_if_cancelled()
        cache = encode_tokens(engine.model, None, prompt_ids, 0)
        prefill_ms += clock.lap()
        width = max(len(canvases[w]) for w in members)
        rows = torch.full((len(members), width), engine._pad, dtype=torch.long, device=device)
        scored = torch.zeros((len(members), width), dtype=torch.bool, device=device)
        for r, w in enumerate(members):
            rows[r, : len(canvases[w])] = torch.tensor(canvases[w], dtype=torch.long)
            scored[r, : len(window_ids[w])] = True
        start = cache.get_seq_length()
        positions = torch.arange(start, start + width, device=device).expand(len(members), width)
        decoder = EagerCanvasDecoder(engine.model)
        decoder.start(cache, len(members))
        with torch.no_grad():
            hidden = decoder.step(rows, None, [len(canvases[w]) for w in members], positions)
            logits = _lm_logits(engine.model, hidden[scored])  # [N, V], row-major
        nfe += 2  # the prompt's prefill and the canvas forward
        current = [t for w in members for t in window_ids[w]]
        gaps, tops, lps = disagreements(logits, current, banned)
        at = 0
        for w in members:
            n = len(window_ids[w])
            scores[w] = window_score(
                tok, spans[w], gaps[at : at + n], tops[at : at + n], lps[at : at + n]
            )
            at += n
        denoise_ms += clock.lap()
    timings = Timings(tokenize_ms, prefill_ms, denoise_ms, clock.total())
    return ScoreResult(tuple(scores), nfe, timings)

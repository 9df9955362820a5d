"""The DiffusionGemma engine: infill and refine requests in, ranked candidates out.

Builds the prompt and canvases for the chosen infill mode (``block.prompt``), gets the prompt's encoder
cache from the per-document ``PromptCache`` (encoding only new tokens), denoises every candidate hole
length in one batch (``block.loop``), then trims, decodes and ranks the candidates.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from diffusion_lsp.engine.api import (
    CancelToken,
    Candidate,
    EngineError,
    EngineInfo,
    InfillRequest,
    ModelSpec,
    RefineRequest,
    Result,
    ScoreRequest,
    ScoreResult,
    Timings,
)
from diffusion_lsp.engine.block.cache import PrefillStats, PromptCache
from diffusion_lsp.engine.block.loop import Row, RowResult, Schedule, denoise, score_tokens
from diffusion_lsp.engine.block.policy import DiffusionSettings
from diffusion_lsp.engine.block.prompt import (
    Prompt,
    inpaint_prompt,
    inpaint_suffix,
    instruct_prompt,
    resolve_mode,
    strip_fences,
)
from diffusion_lsp.engine.candidates import (
    cut_single_line,
    default_lengths,
    hole_lengths,
    rank,
    trim_filler,
)

log = logging.getLogger(__name__)

MAX_DOCUMENTS = 64  # documents whose last window start is remembered
SUFFIX_SHARE = 4  # in inpaint mode, at least 1/SUFFIX_SHARE of the canvas is kept for the suffix


class BlockDiffusionEngine:
    """``api.Engine`` for ``DiffusionGemmaForBlockDiffusion`` checkpoints.

    Defaults (steps, entropy bound, temperature schedule, stopping, canvas length, EOS and pad ids)
    come from the checkpoint's ``generation_config`` and config. ``prompt_cache`` keeps encoder caches
    per document (``request.document``); ``last_prefill`` says what the last request's prefill reused.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        info: EngineInfo,
        spec: ModelSpec,
        *,
        cuda_graphs: bool | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.info = info
        self.spec = spec
        self.settings = DiffusionSettings.from_model(model)
        names = (spec.model, info.model, getattr(model.config, "_name_or_path", None))
        self.mode = resolve_mode(spec.infill_mode, tokenizer, names)
        self.prompt_cache = PromptCache()
        self.last_prefill = PrefillStats(0, 0)
        self._heads: dict[str, str] = {}  # document -> start of its last prefix window
        special = set(getattr(tokenizer, "all_special_ids", ()) or ())
        self.stop_ids = frozenset(self.settings.eos_ids)
        pad = {self.settings.pad_id} if self.settings.pad_id is not None else set()
        self.filler_ids = frozenset((special | pad) - self.stop_ids)
        # ``cuda_graphs``: the canvas decoder step on static shapes, replayed as CUDA graphs
        # (``block.graphs``). None: on a CUDA device; False: transformers' decoder, eager.
        on_cuda = getattr(getattr(model, "device", None), "type", "cpu") == "cuda"
        self.decoder = None
        if cuda_graphs or (cuda_graphs is None and on_cuda):
            from diffusion_lsp.engine.block.graphs import GraphedCanvasDecoder

            self.decoder = GraphedCanvasDecoder(model)

    def warmup(
        self, progress: Callable[[str, float], None] | None = None, context_tokens: int = 2048
    ) -> None:
        """Capture the decoder step for the default candidate ladders, the canvas widths and every
        context bucket up to ``context_tokens`` now, at load, so that no request waits for one."""
        if self.decoder is None:
            return
        from diffusion_lsp.engine.block.graphs import CONTEXT_BUCKETS, WIDTH_BUCKETS

        canvas = self.settings.canvas_length
        rows = {len(default_lengths(64, single)) for single in (True, False)}
        widths = [w for w in WIDTH_BUCKETS if w < canvas] + [canvas]
        contexts = [c for c in CONTEXT_BUCKETS if c < context_tokens] + [context_tokens]
        self.decoder.warmup(rows, widths, contexts, progress)  # falls back to eager steps itself

    # -- requests ---------------------------------------------------------------------------------

    def infill(self, request: InfillRequest, cancel: CancelToken | None = None) -> Result:
        """Fill the hole between ``request.prefix`` and ``request.suffix``; every candidate length
        is denoised in one batch and the candidates are ranked by mean confidence."""
        _check_common(
            request.max_tokens, request.steps, request.temperature, request.context_tokens
        )
        clock = _Clock(self.model)
        canvas = self.settings.canvas_length
        if request.lengths and any(n < 1 for n in request.lengths):
            raise EngineError(f"hole lengths must be positive, got {request.lengths}.")
        if self.mode == "instruct":
            room = canvas
        else:
            room = canvas - len(
                inpaint_suffix(self.tokenizer, request.suffix, canvas // SUFFIX_SHARE)
            )
        lengths = hole_lengths(request.lengths, request.max_tokens, request.single_line, cap=room)
        prompt = self._prompt(request, canvas - max(lengths))
        tokenize_ms = clock.lap()
        cache, stats = self._prefill(prompt, request.document, cancel)
        prefill_ms = clock.lap()

        seed = _seed(request.seed)
        suffix = prompt.suffix_ids
        rows = [
            Row([self._pad] * n + suffix, [True] * n + [False] * len(suffix), seed) for n in lengths
        ]
        results, calls = denoise(
            self.model,
            cache,
            rows,
            self.settings,
            self._schedule(request.steps, request.temperature, 1.0),
            cancel,
            self.decoder,
        )
        denoise_ms = clock.lap()
        candidates = [
            self._candidate(res.tokens[:n], res.confidence[:n], n, request.single_line)
            for res, n in zip(results, lengths)
        ]
        nfe = calls + (1 if stats.encoded else 0)
        return self._result(
            candidates, request.alternatives, nfe, clock, tokenize_ms, prefill_ms, denoise_ms
        )

    def refine(self, request: RefineRequest, cancel: CancelToken | None = None) -> Result:
        """Rewrite ``request.text``: renoise its least confident ``fraction`` of tokens (by one scoring
        pass of the decoder), clamp the rest, and denoise from that noise level."""
        _check_common(
            request.max_tokens, request.steps, request.temperature, request.context_tokens
        )
        if not 0.0 < request.fraction <= 1.0:
            raise EngineError(f"fraction must be in (0, 1], got {request.fraction}.")
        clock = _Clock(self.model)
        text_ids = self.tokenizer(request.text, add_special_tokens=False).input_ids
        if not text_ids:
            raise EngineError("there is no text to refine.", "Select the code to refine.")
        canvas = self.settings.canvas_length
        limit = min(request.max_tokens, canvas)
        if len(text_ids) > limit:
            raise EngineError(
                f"the selection is {len(text_ids)} tokens; at most {limit} can be refined at once.",
                "Select a smaller region.",
            )
        prompt = self._prompt(request, canvas - len(text_ids))
        tokenize_ms = clock.lap()
        cache, stats = self._prefill(prompt, request.document, cancel)
        prefill_ms = clock.lap()

        n = len(text_ids)
        tokens = list(text_ids) + prompt.suffix_ids
        scores = score_tokens(self.model, cache, tokens, self.settings)[:n]
        renoise = max(1, round(request.fraction * n))
        chosen = set(sorted(range(n), key=lambda i: scores[i])[:renoise])
        free = [i in chosen for i in range(n)] + [False] * len(prompt.suffix_ids)
        seed = _seed(request.seed)
        rows = [Row(tokens, free, seed + k) for k in range(max(1, request.alternatives))]
        schedule = self._schedule(request.steps, request.temperature, request.fraction)
        results, calls = denoise(
            self.model, cache, rows, self.settings, schedule, cancel, self.decoder
        )
        denoise_ms = clock.lap()
        candidates = [self._refined(res, free[:n]) for res in results]
        nfe = 1 + calls + (1 if stats.encoded else 0)
        return self._result(
            candidates, request.alternatives, nfe, clock, tokenize_ms, prefill_ms, denoise_ms
        )

    def score(self, request: ScoreRequest, cancel: CancelToken | None = None) -> ScoreResult:
        """How much the model wants to change each window's tokens, read from one forward over the
        window's text as the canvas (the warm start; ``block.score``)."""
        from diffusion_lsp.engine.block.score import score_windows

        return score_windows(self, request, cancel)

    # -- pieces -----------------------------------------------------------------------------------

    @property
    def _pad(self) -> int:
        return self.settings.pad_id if self.settings.pad_id is not None else 0

    def _prompt(self, request: InfillRequest | RefineRequest, suffix_cap: int) -> Prompt:
        """The prompt for the engine's mode; inpaint clamps at most ``suffix_cap`` suffix tokens.
        The request's preamble goes in the instruction (instruct) or after the BOS (inpaint)."""
        head = self._heads.get(request.document) if request.document else None
        if self.mode == "instruct":
            return instruct_prompt(
                self.tokenizer,
                request.prefix,
                request.suffix,
                request.context_tokens,
                head,
                request.preamble,
            )
        suffix_ids = inpaint_suffix(self.tokenizer, request.suffix, suffix_cap)
        return inpaint_prompt(
            self.tokenizer,
            request.prefix,
            suffix_ids,
            request.context_tokens,
            self.settings.bos_id,
            head,
            request.preamble,
        )

    def _prefill(
        self, prompt: Prompt, document: str | None, cancel: CancelToken | None
    ) -> tuple[Any, PrefillStats]:
        """The prompt's encoder cache, from the document's cached prompt where it extends one."""
        if cancel is not None:
            cancel.raise_if_cancelled()
        if document is not None:
            self._heads.pop(document, None)
            self._heads[document] = prompt.head
            while len(self._heads) > MAX_DOCUMENTS:
                self._heads.pop(next(iter(self._heads)))
        cache, stats = self.prompt_cache.encode(
            self.model, prompt.ids, stable=prompt.stable, key=document
        )
        self.last_prefill = stats
        log.debug("prefill: %d tokens reused, %d encoded", stats.reused, stats.encoded)
        return cache, stats

    def _schedule(self, steps: int | None, temp: float | None, noise: float) -> Schedule:
        """``steps`` total (default: the checkpoint's), starting at the given noise level; a request
        temperature t scales the checkpoint's schedule to start at t; 0 samples greedily."""
        s = self.settings
        total = steps or s.steps
        first = max(1, min(total, math.ceil(noise * total)))
        if temp is None or temp == 0:
            return Schedule(total, first, s.t_min, s.t_max, greedy=temp == 0)
        return Schedule(total, first, temp * s.t_min / s.t_max, temp)

    def _decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(
            list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False
        )

    def _candidate(
        self, ids: Sequence[int], conf: Sequence[float], length: int, single_line: bool
    ) -> Candidate:
        ids, kept = trim_filler(ids, conf, self.filler_ids, self.stop_ids)
        text = self._decode(ids)
        if self.mode == "instruct":
            text = strip_fences(text)
        if single_line:
            text, kept = cut_single_line(text, kept, [self._decode([t]) for t in ids])
        return Candidate(text, tuple(kept), length)

    def _refined(self, res: RowResult, free: Sequence[bool]) -> Candidate:
        """Refined text: clamped tokens as they were; filler or stop tokens at free positions dropped."""
        drop = self.filler_ids | self.stop_ids
        keep = [i for i, f in enumerate(free) if not (f and res.tokens[i] in drop)]
        ids = [res.tokens[i] for i in keep]
        return Candidate(self._decode(ids), tuple(res.confidence[i] for i in keep), len(free))

    def _result(
        self,
        candidates: list[Candidate],
        alternatives: int,
        nfe: int,
        clock: _Clock,
        tokenize_ms: float,
        prefill_ms: float,
        denoise_ms: float,
    ) -> Result:
        ranked = rank(candidates)
        best = ranked[0]
        timings = Timings(tokenize_ms, prefill_ms, denoise_ms, clock.total())
        return Result(best.text, best.confidence, nfe, timings, ranked[: max(1, alternatives)])


class _Clock:
    """Milliseconds per phase; waits for the device so that asynchronous GPU work is counted."""

    def __init__(self, model: Any) -> None:
        self._cuda = getattr(getattr(model, "device", None), "type", "cpu") == "cuda"
        self._start = self._last = time.perf_counter()

    def _now(self) -> float:
        if self._cuda:
            import torch

            torch.cuda.synchronize()
        return time.perf_counter()

    def lap(self) -> float:
        now = self._now()
        ms, self._last = (now - self._last) * 1000.0, now
        return ms

    def total(self) -> float:
        return (self._now() - self._start) * 1000.0


def _check_common(max_tokens: int, steps: int | None, temp: float | None, context: int) -> None:
    if max_tokens < 1:
        raise EngineError(f"max_tokens must be at least 1, got {max_tokens}.")
    if steps is not None and steps < 1:
        raise EngineError(f"steps must be at least 1, got {steps}.")
    if temp is not None and temp < 0:
        raise EngineError(f"temperature must be 0 (greedy) or positive, got {temp}.")
    if context < 1:
        raise EngineError(f"context_tokens must be at least 1, got {context}.")


def _seed(seed: int | None) -> int:
    return int.from_bytes(os.urandom(4), "little") if seed is None else int(seed)

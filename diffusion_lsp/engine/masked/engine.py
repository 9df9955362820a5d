"""The masked-diffusion engine: infill and refine requests in, ranked results out.

It builds canvases from requests (windowed context, one row per candidate length and alternative),
runs the sampler with the model's denoiser and an unmasking policy, and trims, decodes and ranks what
comes back. Works for masked LMs (ModernBERT, the embedded model) and the masked code models loaded
natively (Dream, DiffuCoder, Dream-Coder, LLaDA, Open-dCoder); a DreamOn checkpoint (one with an
expand token) fills through ``expand.py``, its hole growing and shrinking while it is denoised.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
from diffusion_lsp.engine.candidates import (
    default_lengths,
    hole_lengths,
    length_bias_of,
    rank,
    trim_filler,
)
from diffusion_lsp.engine.checkpoint import SpecialIds
from diffusion_lsp.engine.masked.denoiser import Denoiser
from diffusion_lsp.engine.masked.loop import denoise, row_generators
from diffusion_lsp.engine.masked.policy import ConfidenceThreshold, Policy
from diffusion_lsp.engine.tokens import (
    build_canvas,
    decode,
    decode_hole,
    encode,
    heal,
    unheal,
    windowed_context,
)

MAX_DEFAULT_STEPS = 32  # when neither the request nor the checkpoint names a step count
EXPAND_START = 4  # masks a DreamOn hole starts with (its quick start's); it grows from there
PREAMBLE_TOKENS = 256  # the most of a request's preamble a canvas holds (its end kept)


class MaskedDiffusionEngine:
    """An ``api.Engine`` for masked (absorbing-state) diffusion models.

    ``denoiser`` and ``special`` default to what ``model`` and ``tokenizer`` say; tests pass an
    oracle denoiser instead of a model.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        info: EngineInfo,
        spec: ModelSpec | None = None,
        *,
        special: SpecialIds | None = None,
        denoiser: Denoiser | None = None,
        shift: bool | None = None,
        policy: Policy | None = None,
        default_steps: int | None = None,
        default_temperature: float = 0.0,
        fast_path: bool | None = None,
    ) -> None:
        from diffusion_lsp.engine.checkpoint import editor_steps, shifts_logits, special_ids
        from diffusion_lsp.engine.masked.denoiser import pick_denoiser

        self.model = model
        self.tokenizer = tokenizer
        self.info = info
        self.spec = spec or ModelSpec(model=info.model)
        config = getattr(model, "config", None)
        config_dict = config.to_dict() if config is not None else {}
        gen = getattr(model, "generation_config", None)
        self.special = special or special_ids(tokenizer, config, gen, model=info.model)
        self.shift = shifts_logits(config_dict) if shift is None else shift
        # trained to end a hole's answer with null tokens in its unused slots: one hole will do
        self.null_trained = config_dict.get("null_token_id") is not None
        # ``fast_path``: the dual-cache (and on CUDA graphed) denoiser; ``pick_denoiser`` decides.
        self._denoiser_given = denoiser is not None  # an oracle in the tests runs every loop
        self._eager: Denoiser | None = None
        self.denoiser = denoiser or pick_denoiser(
            model, self.shift, fast_path=fast_path, remote_code=bool(config_dict.get("auto_map"))
        )
        self.policy = policy or ConfidenceThreshold()
        # CAL: the per-length bias fitted by ``diffusion-lsp eval calibrate``, when the config has one
        self.length_bias = length_bias_of(config_dict)
        self.default_steps = default_steps or editor_steps(gen)
        self.default_temperature = default_temperature
        self.device = getattr(model, "device", None) or "cpu"
        lead = self.special.lead
        if self.shift and not lead:
            # The logit of position 0 comes from position -1: give the canvas a first token.
            bos = getattr(tokenizer, "bos_token_id", None)
            lead = (bos if bos is not None else self.special.pad,)
        self._lead = tuple(lead)
        eos = getattr(tokenizer, "eos_token_id", None)
        self._eos = eos if isinstance(eos, int) else self.special.pad

    def warmup(
        self, progress: Callable[[str, float], None] | None = None, context_tokens: int = 2048
    ) -> None:
        """Capture the fast path's denoising steps for the default candidate ladders and every
        context bucket up to ``context_tokens`` now, at load, so that no request waits for one."""
        warm = getattr(self.denoiser, "warmup", None)
        if warm is None:
            return
        ladders = [default_lengths(64, single) for single in (True, False)]
        for ladder in ladders:
            warm([len(ladder)], [max(ladder)], _context_sizes(context_tokens), progress)

    # -- infill ----------------------------------------------------------------------------------

    def infill(self, request: InfillRequest, cancel: CancelToken | None = None) -> Result:
        start = time.perf_counter()
        special = self.special
        healed_prefix, healed = heal(request.prefix)
        prefix, suffix = windowed_context(
            self.tokenizer, healed_prefix, request.suffix, request.context_tokens
        )
        max_tokens = max(1, request.max_tokens)
        if special.expand is not None and not request.lengths:
            return self._infill_expanding(request, prefix, suffix, healed, start, cancel)
        one = not request.search_length and self.null_trained
        lengths = hole_lengths(
            request.lengths, max_tokens, request.single_line, cap=max_tokens, one=one
        )
        temperature = self._temperature(request.temperature)
        samples = max(1, request.alternatives) if temperature > 0 else 1
        plan = [(n, j) for n in lengths for j in range(samples)]
        lead, tail = self.frame(request.preamble)
        before, after = [*lead, *prefix], [*suffix, *tail]
        rows = [(before, [special.mask] * n, after) for n, _ in plan]
        canvas = build_canvas(rows, [[True] * n for n, _ in plan], special.pad, self.device)
        tokenize_ms = (time.perf_counter() - start) * 1000

        sample = self._denoise(
            canvas,
            request.steps or self._steps(max(lengths)),
            temperature,
            self._seeds(request.seed, plan),
            cancel,
        )
        candidates = []
        for r, (n, _) in enumerate(plan):
            a, b = canvas.spans[r]
            ids, conf = trim_filler(
                sample.tokens[r, a:b].tolist(),
                sample.confidence[r, a:b].tolist(),
                special.filler,
                special.stop,
            )
            text, conf = decode_hole(self.tokenizer, ids, conf, request.single_line)
            candidates.append(Candidate(unheal(text, healed), tuple(conf), n))
        return self._result(
            candidates, request.alternatives, sample.nfe, start, tokenize_ms, 0.0, sample.denoise_ms
        )

    def _infill_expanding(
        self,
        request: InfillRequest,
        prefix: list[int],
        suffix: list[int],
        healed: bool,
        start: float,
        cancel: CancelToken | None,
    ) -> Result:
        """DreamOn: the hole starts at ``EXPAND_START`` masks and takes the length its content
        needs (``expand.denoise_expanding``), up to ``max_tokens``; one row per alternative."""
        import torch

        from diffusion_lsp.engine.masked.denoiser import MaskedDenoiser
        from diffusion_lsp.engine.masked.expand import Row, denoise_expanding

        special = self.special
        device = torch.device(self.device)
        assert special.expand is not None
        budget = max(1, request.max_tokens)
        temperature = self._temperature(request.temperature)
        samples = max(1, request.alternatives) if temperature > 0 else 1
        plan = [(0, j) for j in range(samples)]
        # The prompt DreamOn was trained on: bos, prefix, masks, suffix, eos.
        delete = self._eos
        after = [*suffix, *(special.tail or (delete,))]
        first = min(EXPAND_START, budget)
        lead = self.frame(request.preamble)[0]
        rows = [Row([*lead, *prefix], [special.mask] * first, list(after)) for _ in plan]
        tokenize_ms = (time.perf_counter() - start) * 1000
        # The canvas changes length every step, so the eager denoiser runs it (the dual cache
        # plans for one fixed canvas per request).
        if self._eager is None:
            self._eager = MaskedDenoiser(self.model, self.shift)
        denoiser = self.denoiser if self._denoiser_given else self._eager
        sample = denoise_expanding(
            denoiser,
            rows,
            mask_id=special.mask,
            expand_id=special.expand,
            delete_id=delete,
            budget=budget,
            temperature=temperature,
            generators=row_generators(self._seeds(request.seed, plan), device),
            pad_id=special.pad,
            device=device,
            banned=special.banned,
            max_steps=request.steps,
            cancel=cancel,
        )
        candidates = []
        for row in sample.rows:
            ids, conf = trim_filler(row.hole, row.confidence, special.filler, special.stop)
            text, conf = decode_hole(self.tokenizer, ids, conf, request.single_line)
            candidates.append(Candidate(unheal(text, healed), tuple(conf), len(row.hole)))
        return self._result(
            candidates, request.alternatives, sample.nfe, start, tokenize_ms, 0.0, sample.denoise_ms
        )

    # -- refine ----------------------------------------------------------------------------------

    def refine(self, request: RefineRequest, cancel: CancelToken | None = None) -> Result:
        import torch

        start = time.perf_counter()
        special = self.special
        span = encode(self.tokenizer, request.text)
        if len(span) > request.max_tokens:
            raise EngineError(
                f"the text to refine is {len(span)} tokens, more than max_tokens={request.max_tokens}.",
                "select a shorter span or raise max_tokens.",
            )
        prefix, suffix = windowed_context(
            self.tokenizer, request.prefix, request.suffix, request.context_tokens
        )
        lead, tail = self.frame(request.preamble)
        before, after = [*lead, *prefix], [*suffix, *tail]
        tokenize_ms = (time.perf_counter() - start) * 1000
        if not span:
            return Result("", (), 0, Timings(tokenize_ms, 0.0, 0.0, tokenize_ms), ())

        # Score the existing tokens: one forward, each token's probability given all the rest.
        t0 = time.perf_counter()
        scored = build_canvas(
            [(before, span, after)], [[False] * len(span)], special.pad, self.device
        )
        a, b = scored.spans[0]
        positions = torch.arange(a, b, device=scored.tokens.device)  # [n]
        rows = (torch.zeros_like(positions), positions)
        if cancel is not None:
            cancel.raise_if_cancelled()
        logits = self.denoiser(scored.tokens, scored.attention, rows)  # [n, V]
        held = torch.tensor(span, device=logits.device)
        keep_conf = logits.softmax(-1).gather(1, held[:, None]).squeeze(1)  # [n]
        prefill_ms = (time.perf_counter() - t0) * 1000

        fraction = min(max(request.fraction, 0.0), 1.0)
        k = max(1, round(fraction * len(span)))
        renoise = torch.zeros(len(span), dtype=torch.bool)
        renoise[keep_conf.argsort(stable=True)[:k].cpu()] = True  # the least confident k
        noised = [special.mask if renoise[i] else t for i, t in enumerate(span)]
        temperature = self._temperature(request.temperature)
        samples = max(1, request.alternatives) if temperature > 0 else 1
        plan = [(len(span), j) for j in range(samples)]
        canvas = build_canvas(
            [(before, noised, after)] * samples,
            [renoise.tolist()] * samples,
            special.pad,
            self.device,
        )
        sample = self._denoise(
            canvas,
            request.steps or self._steps(k),
            temperature,
            self._seeds(request.seed, plan),
            cancel,
        )
        candidates = []
        for r in range(samples):
            conf = torch.where(renoise.to(keep_conf.device), sample.confidence[r, a:b], keep_conf)
            ids, conf_list = trim_filler(
                sample.tokens[r, a:b].tolist(), conf.tolist(), special.filler | special.stop, ()
            )
            candidates.append(Candidate(decode(self.tokenizer, ids), tuple(conf_list), len(span)))
        return self._result(
            candidates,
            request.alternatives,
            1 + sample.nfe,
            start,
            tokenize_ms,
            prefill_ms,
            sample.denoise_ms,
        )

    # -- score -----------------------------------------------------------------------------------

    def score(self, request: ScoreRequest, cancel: CancelToken | None = None) -> ScoreResult:
        """How much the model wants to change each window's tokens (``score.score_windows``)."""
        from diffusion_lsp.engine.masked.score import score_windows

        return score_windows(self, request, cancel)

    # -- helpers ---------------------------------------------------------------------------------

    def frame(self, preamble: str = "") -> tuple[list[int], list[int]]:
        """The ids every canvas row starts and ends with: the lead tokens and the preamble's ids
        (its last ``PREAMBLE_TOKENS``, never windowed), and the tail tokens."""
        ids = encode(self.tokenizer, preamble)[-PREAMBLE_TOKENS:] if preamble else []
        return [*self._lead, *ids], list(self.special.tail)

    def one_forward_denoiser(self) -> Denoiser:
        """A denoiser that runs each call's whole canvas, for a single forward (scoring): the
        engine's own where it is eager (or an oracle), else an eager ``MaskedDenoiser`` (the dual
        cache would prefill and plan span steps for one request's canvas that never come)."""
        from diffusion_lsp.engine.masked.denoiser import MaskedDenoiser

        if self._denoiser_given or isinstance(self.denoiser, MaskedDenoiser):
            return self.denoiser
        if self._eager is None:
            self._eager = MaskedDenoiser(self.model, self.shift)
        return self._eager

    def _denoise(
        self,
        canvas: Any,
        steps: int,
        temperature: float,
        seeds: list[int | None],
        cancel: CancelToken | None,
    ) -> Any:
        """The fixed-length loop over ``canvas`` with this engine's denoiser, policy and bans."""
        return denoise(
            self.denoiser,
            canvas.tokens,
            canvas.attention,
            canvas.free,
            mask_id=self.special.mask,
            banned=self.special.banned,
            policy=self.policy,
            steps=steps,
            temperature=temperature,
            generators=row_generators(seeds, canvas.tokens.device),
            cancel=cancel,
        )

    def _temperature(self, requested: float | None) -> float:
        return self.default_temperature if requested is None else max(0.0, requested)

    def _steps(self, tokens: int) -> int:
        return int(self.default_steps or min(tokens, MAX_DEFAULT_STEPS))

    @staticmethod
    def _seeds(seed: int | None, plan: list[tuple[int, int]]) -> list[int | None]:
        """Row seeds depend on the alternative index only, never on the row's place in the batch."""
        return [None if seed is None else seed + j for _, j in plan]

    def _result(
        self,
        candidates: list[Candidate],
        alternatives: int,
        nfe: int,
        start: float,
        tokenize_ms: float,
        prefill_ms: float,
        denoise_ms: float,
    ) -> Result:
        ranked = rank(candidates, self.length_bias)
        best = ranked[0]
        total = (time.perf_counter() - start) * 1000
        return Result(
            text=best.text,
            confidence=best.confidence,
            nfe=nfe,
            timings=Timings(tokenize_ms, prefill_ms, denoise_ms, total),
            alternatives=ranked[: max(1, alternatives)],
        )


def _context_sizes(limit: int) -> list[int]:
    """Context lengths whose buckets cover every context up to ``limit`` tokens."""
    from diffusion_lsp.engine.masked.cache import CONTEXT_BUCKETS

    return [b for b in CONTEXT_BUCKETS if b < limit] + [limit]

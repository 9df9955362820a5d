"""The DiffusionGemma denoising loop: canvases of several rows denoised in one batch over one prompt cache.

One step (transformers' ``_denoising_step``, plus clamping): the canvas decoder reads the prompt cache
and the current canvas with self-conditioning on the previous step's logits; logits are computed only
at free positions; a token is sampled at each free position; the entropy bound picks which samples to
accept; every other free position is renoised with a uniform random token; clamped positions never
change. A row stops when its argmax canvas is stable and confident, or when the steps run out, and then
leaves the batch. Each row draws its noise from its own generator, so a row denoises the same whether
it runs alone or beside others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from diffusion_lsp.engine.api import CancelToken
from diffusion_lsp.engine.block.cache import cache_kwarg, expand
from diffusion_lsp.engine.block.policy import (
    DiffusionSettings,
    StableAndConfident,
    entropy,
    entropy_bound_accept,
    temperature,
)


@dataclass(frozen=True)
class Row:
    """One canvas: its tokens (clamped ones fixed, free ones only placeholders), which are free, a seed."""

    tokens: Sequence[int]
    free: Sequence[bool]
    seed: int


@dataclass(frozen=True)
class RowResult:
    """The denoised canvas (argmax at free positions, clamped tokens elsewhere) and per-position
    confidence (probability of the token under the model's untempered logits; 1.0 where clamped)."""

    tokens: list[int]
    confidence: list[float]
    steps: int


@dataclass(frozen=True)
class Schedule:
    """Which steps to run and how to sample: steps count down from ``first`` to 1 out of ``total``."""

    total: int
    first: int
    t_min: float
    t_max: float
    greedy: bool = False


def denoise(
    model: Any,
    cache: Any,
    rows: Sequence[Row],
    settings: DiffusionSettings,
    schedule: Schedule,
    cancel: CancelToken | None = None,
    decoder: Any | None = None,
) -> tuple[list[RowResult], int]:
    """Denoise ``rows`` against the batch-1 prompt ``cache`` (only read). Returns results and the
    number of decoder calls. ``decoder``: the canvas-decoder step (default: transformers' decoder,
    eager; ``block.graphs.GraphedCanvasDecoder`` replays it as CUDA graphs)."""
    import torch

    device = model.device
    vocab = settings.vocab_size
    prompt_len = cache.get_seq_length()
    width = max(len(r.tokens) for r in rows)
    pad = settings.pad_id if settings.pad_id is not None else 0
    gens = [torch.Generator(device=device).manual_seed(r.seed) for r in rows]
    free = [torch.tensor(list(r.free), dtype=torch.bool, device=device) for r in rows]  # [L_i]
    n_free = [sum(map(bool, r.free)) for r in rows]  # counted on the host: no device sync per step
    fixed = [torch.tensor(list(r.tokens), dtype=torch.long, device=device) for r in rows]  # [L_i]
    # The initial canvas: uniform noise everywhere (as transformers draws it), then the clamps.
    current = [
        torch.where(f, torch.randint(0, vocab, (len(t),), generator=g, device=device), t)
        for t, f, g in zip(fixed, free, gens)
    ]
    stoppers = [_stopper(settings) for _ in rows]
    argmax: list[Any] = [t[f] for t, f in zip(current, free)]
    raw_last: list[Any] = [None] * len(rows)
    steps_run = [0] * len(rows)
    active = list(range(len(rows)))
    sc_buffer = (
        None  # [B, width, V] self-conditioning logits of the active rows; None at the first step
    )
    nfe = 0
    decoder = decoder or EagerCanvasDecoder(model)
    decoder.start(cache, len(rows))
    emb_dtype = model.model.decoder.embed_tokens.weight.dtype

    for step in range(schedule.first, 0, -1):
        if cancel is not None:
            cancel.raise_if_cancelled()
        batch = len(active)
        canvas = torch.full((batch, width), pad, dtype=torch.long, device=device)  # [B, width]
        free_mask = torch.zeros((batch, width), dtype=torch.bool, device=device)  # [B, width]
        for b, i in enumerate(active):
            canvas[b, : len(current[i])] = current[i]
            free_mask[b, : len(free[i])] = free[i]
        lengths = [len(current[i]) for i in active]
        positions = torch.arange(prompt_len, prompt_len + width, device=device).expand(batch, width)
        with torch.no_grad():
            hidden = decoder.step(canvas, sc_buffer, lengths, positions)  # [B, width, H]
            logits = _lm_logits(model, hidden[free_mask])  # [F, V], F = free positions of all rows
        nfe += 1

        temp = temperature(step, schedule.total, schedule.t_min, schedule.t_max)
        processed_all = logits / temp  # [F, V]
        if sc_buffer is None:
            sc_buffer = _clamp_logits(canvas, free_mask, vocab, emb_dtype)  # [B, width, V]
        sc_buffer[free_mask] = processed_all.to(emb_dtype)
        finished: list[int] = []
        offset = 0
        for b, i in enumerate(active):
            n = n_free[i]
            raw, processed = logits[offset : offset + n], processed_all[offset : offset + n]
            offset += n
            probs = torch.softmax(processed, dim=-1, dtype=torch.float32)  # [n, V]
            sample = torch.multinomial(probs, num_samples=1, generator=gens[i]).squeeze(-1)  # [n]
            best = torch.argmax(processed, dim=-1)  # [n]
            if schedule.greedy:
                sample = best
            h = entropy(processed)  # [n]
            accept = entropy_bound_accept(h, settings.entropy_bound)  # [n]
            noise = torch.randint(0, vocab, (len(current[i]),), generator=gens[i], device=device)
            nxt = current[i].clone()
            nxt[free[i]] = torch.where(accept, sample, noise[free[i]])
            current[i] = nxt
            argmax[i], raw_last[i] = best, raw
            steps_run[i] += 1
            if stoppers[i] is not None and stoppers[i](best, torch.mean(h, dim=-1)):
                finished.append(b)
        if len(finished) == len(active):
            break
        if finished:
            keep = [b for b in range(len(active)) if b not in finished]
            sc_buffer = sc_buffer[keep]
            active = [active[b] for b in keep]

    results = []
    for i in range(len(rows)):
        tokens = fixed[i].clone()
        tokens[free[i]] = argmax[i]
        conf = torch.ones(len(tokens), dtype=torch.float32)
        if raw_last[i] is not None:
            p = torch.softmax(raw_last[i], dim=-1, dtype=torch.float32)
            conf[free[i].cpu()] = p.gather(-1, argmax[i][:, None]).squeeze(-1).float().cpu()
        results.append(RowResult(tokens.tolist(), conf.tolist(), steps_run[i]))
    return results, nfe


class EagerCanvasDecoder:
    """The canvas-decoder step as transformers runs it: the decoder reads the batch-1 prompt cache
    (expanded to the batch) and the canvas; padded rows' pad slots are no keys."""

    def __init__(self, model: Any) -> None:
        self.decoder = model.model.decoder
        self.cache_name = cache_kwarg(self.decoder)
        self.cache: Any = None

    def start(self, cache: Any, batch: int) -> None:
        """Begin a request on the batch-1 prompt ``cache``."""
        self.cache = cache

    def step(
        self, canvas: Any, sc_logits: Any | None, lengths: Sequence[int], positions: Any
    ) -> Any:
        """canvas [B, L], sc_logits [B, L, V] or None, positions [B, L] -> hidden [B, L, H]."""
        import torch

        batch, width = canvas.shape
        cache = self.cache
        prompt_len = cache.get_seq_length()
        attn = None
        if any(n < width for n in lengths):
            attn = torch.ones((batch, prompt_len + width), dtype=torch.bool, device=canvas.device)
            for b, n in enumerate(lengths):
                attn[b, prompt_len + n :] = False
        return self.decoder(
            decoder_input_ids=canvas,
            **{self.cache_name: expand(cache, batch)},
            self_conditioning_logits=sc_logits,
            decoder_attention_mask=attn,
            decoder_position_ids=positions,
        ).last_hidden_state


def score_tokens(
    model: Any, cache: Any, tokens: Sequence[int], settings: DiffusionSettings
) -> list[float]:
    """One decoder pass over a clean canvas ``tokens``: the probability the model gives each token
    (untempered, no self-conditioning). Refine renoises where this is lowest."""
    import torch

    device = model.device
    prompt_len = cache.get_seq_length()
    canvas = torch.tensor([list(tokens)], dtype=torch.long, device=device)  # [1, L]
    positions = torch.arange(prompt_len, prompt_len + canvas.shape[1], device=device)[None]
    with torch.no_grad():
        hidden = model.model.decoder(
            decoder_input_ids=canvas,
            decoder_position_ids=positions,
            **{cache_kwarg(model.model.decoder): cache},
        ).last_hidden_state  # [1, L, H]
        logits = _lm_logits(model, hidden[0])  # [L, V]
    probs = torch.softmax(logits, dim=-1, dtype=torch.float32)
    return probs.gather(-1, canvas[0][:, None]).squeeze(-1).tolist()


def _lm_logits(model: Any, hidden: Any) -> Any:
    """The LM head with final-logit soft-capping, as ``DiffusionGemmaForBlockDiffusion.forward``:
    hidden [N, H] -> float32 logits [N, V]."""
    import torch

    logits = model.lm_head(hidden).to(torch.float32)
    cap = getattr(model, "final_logit_softcapping", None)
    if cap is not None:
        logits = torch.tanh(logits / cap) * cap
    return logits


def _clamp_logits(canvas: Any, free_mask: Any, vocab: int, dtype: Any) -> Any:
    """Self-conditioning logits for positions without logits (clamped and pad): one-hot on the token,
    so their soft embedding is the token's own embedding. canvas [B, L] -> [B, L, V]."""
    import torch

    low = torch.finfo(dtype).min
    out = torch.full((*canvas.shape, vocab), low, dtype=dtype, device=canvas.device)
    out.scatter_(-1, canvas[..., None], 0.0)
    return out


def _stopper(settings: DiffusionSettings) -> StableAndConfident | None:
    if settings.stability_threshold is None or settings.confidence_threshold is None:
        return None
    return StableAndConfident(
        int(settings.stability_threshold), float(settings.confidence_threshold)
    )

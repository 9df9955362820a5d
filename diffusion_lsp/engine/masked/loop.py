"""The denoising loop for masked diffusion: sample every masked position, let the policy commit some.

One loop serves infill and refine, every policy and every denoiser (a real model or the oracle in the
tests). Committed and clamped tokens never change. Each row of the batch draws its noise from its own
generator, so a candidate denoised in a batch equals the same candidate denoised alone.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from diffusion_lsp.engine.api import CancelToken
from diffusion_lsp.engine.masked.denoiser import Denoiser
from diffusion_lsp.engine.masked.policy import Policy

if TYPE_CHECKING:
    import torch


@dataclass
class Sample:
    """What the loop produced: the final canvas and each committed token's confidence."""

    tokens: torch.Tensor  # [B, L] long
    confidence: torch.Tensor  # [B, L] float; 1.0 where a token was clamped (never sampled)
    nfe: int  # denoiser calls
    denoise_ms: float


def row_generators(seeds: Sequence[int | None], device: torch.device) -> list[torch.Generator]:
    """One generator per batch row; ``None`` seeds draw from torch's global generator state."""
    import torch

    gens = []
    for seed in seeds:
        gen = torch.Generator(device=device)
        gen.manual_seed(seed if seed is not None else int(torch.randint(0, 2**62, ()).item()))
        gens.append(gen)
    return gens


def choose(
    logits: torch.Tensor,
    row_of: torch.Tensor,
    temperature: float,
    generators: Sequence[torch.Generator],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick a token for every scored row and its probability.

    logits: [N, V]; row_of: [N], the batch row of each scored position. Greedy at temperature 0;
    otherwise Gumbel-max sampling from ``softmax(logits / temperature)``, the noise of batch row b
    drawn from ``generators[b]`` in position order. Returns (tokens [N], probabilities [N]).
    """
    import torch

    if temperature <= 0:
        probs = logits.softmax(dim=-1)  # [N, V]
        conf, tok = probs.max(dim=-1)
        return tok, conf
    scaled = logits / temperature  # [N, V]
    gumbel = torch.empty_like(scaled)
    for b in row_of.unique().tolist():
        sel = row_of == b
        u = torch.rand(
            (int(sel.sum()), scaled.shape[1]), generator=generators[b], device=scaled.device
        )
        exponential = (-u.clamp_min(1e-20).log()).clamp_min(1e-20)  # -log(u) > 0
        gumbel[sel] = -exponential.log()
    tok = (scaled + gumbel).argmax(dim=-1)  # [N]
    conf = scaled.softmax(dim=-1).gather(1, tok[:, None]).squeeze(1)  # [N]
    return tok, conf


def denoise(
    denoiser: Denoiser,
    tokens: torch.Tensor,
    attention: torch.Tensor,
    free: torch.Tensor,
    *,
    mask_id: int,
    policy: Policy,
    steps: int,
    temperature: float,
    generators: Sequence[torch.Generator],
    banned: Collection[int] = (),
    cancel: CancelToken | None = None,
) -> Sample:
    """Fill the masked positions of ``free`` within ``steps`` denoiser calls.

    tokens: [B, L] (masked positions hold ``mask_id``); attention: [B, L] bool, False on padding;
    free: [B, L] bool, the positions the loop may write (the hole, or the renoised part of a span);
    everything else is clamped. ``banned`` ids are never sampled (the mask itself, at least).
    Checks ``cancel`` before every step.
    """
    import torch

    start = time.perf_counter()
    x = tokens.clone()  # [B, L]
    confidence = torch.ones(x.shape, dtype=torch.float32, device=x.device)  # [B, L]
    masked = free & (x == mask_id)  # [B, L]
    banned_ids = torch.tensor(sorted({mask_id, *banned}), device=x.device)
    nfe = 0
    steps = max(1, steps)
    for step in range(steps):
        if not bool(masked.any()):
            break
        if cancel is not None:
            cancel.raise_if_cancelled()
        rows = masked.nonzero(as_tuple=True)  # ([N], [N])
        logits = denoiser(x, attention, rows)  # [N, V]
        nfe += 1
        logits[:, banned_ids[banned_ids < logits.shape[1]]] = float("-inf")
        tok, conf = choose(logits, rows[0], temperature, generators)
        step_conf = torch.full_like(confidence, float("-inf"))  # [B, L]
        step_conf[rows] = conf
        proposal = x.clone()
        proposal[rows] = tok
        commit = policy.select(step_conf, masked, step, steps) & masked  # [B, L]
        x = torch.where(commit, proposal, x)
        confidence = torch.where(commit, step_conf, confidence)
        masked &= ~commit
    return Sample(x, confidence, nfe, (time.perf_counter() - start) * 1000)

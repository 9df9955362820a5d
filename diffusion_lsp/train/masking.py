"""Training batches for masked diffusion and the loss, built on the training device in a few kernels.

Two kinds of rows, mixed in every batch:

* random-rate rows: a window of the corpus with each token masked with probability t ~ U(eps, 1);
  the loss of the row is (1/t) x sum of the masked tokens' cross-entropy / row length, the
  masked-diffusion ELBO (Sahoo et al. 2024, "Simple and Effective Masked Diffusion Language
  Models", eq. 10; Shi et al. 2024, MD4);
* hole rows: a syntax span (SAFIM-style expression / statement / block, or lines) becomes a hole of
  answer length n followed by k extra slots whose target is the null token, placed inside its own
  context. Inside the hole a fraction t of the slots is masked (t = 1 half of the time, as at the
  first denoising step; t ~ U(0, 1) otherwise, as at later steps), weighted 1/t with t the realised
  share of masked slots, i.e. the mean over the masked slots. The null slots teach the model to close a hole that is longer than its answer, so infill
  needs no oracle length.

Corrective noise (arXiv 2512.15596): in both kinds of rows a share ``noise_share`` of the corrupted
positions shows a random ordinary token instead of the mask; its label is still the original token,
so the loss covers it and the model learns to find and restore wrong visible tokens (what Fix and
Refine need; plain masking never shows a wrong token). The weights are unchanged: a noisy position
counts as a corrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Batch:
    """``input_ids``, ``labels`` (-100 where not masked), ``weight`` per row: [B, S], [B, S], [B]."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    weight: torch.Tensor


@dataclass(frozen=True)
class MaskingConfig:
    mask_id: int
    null_id: int
    seq_len: int
    hole_fraction: float = 0.5  # share of hole rows in a batch
    max_nulls: int = 32
    eps: float = 1e-3
    noise_share: float = 0.0  # share of corrupted positions given a random token, not the mask
    noise_ids: tuple[int, int] = (0, 0)  # [low, high): the ordinary token ids noise is drawn from


def corrupt(
    ids: torch.Tensor, corrupted: torch.Tensor, cfg: MaskingConfig, gen: torch.Generator
) -> torch.Tensor:
    """The inputs: ``ids`` with ``corrupted`` positions masked, and a ``noise_share`` of them given
    a random token from ``noise_ids`` instead (corrective noise). ids, corrupted: [R, S]."""
    inputs = torch.where(corrupted, torch.full_like(ids, cfg.mask_id), ids)
    if cfg.noise_share <= 0:
        return inputs
    low, high = cfg.noise_ids
    if high <= low:
        raise ValueError("corrective noise needs noise_ids, the [low, high) range of ordinary ids")
    noisy = corrupted & (torch.rand(ids.shape, device=ids.device, generator=gen) < cfg.noise_share)
    random_ids = torch.randint(low, high, ids.shape, device=ids.device, generator=gen)
    return torch.where(noisy, random_ids, inputs)


def random_rate_rows(
    tokens: torch.Tensor, rows: int, cfg: MaskingConfig, gen: torch.Generator
) -> Batch:
    """``rows`` corpus windows masked at rate t ~ U(eps, 1); weight 1/t / S (the ELBO)."""
    device = tokens.device
    S = cfg.seq_len
    start = torch.randint(0, max(1, len(tokens) - S), (rows, 1), device=device, generator=gen)
    src = start + torch.arange(S, device=device)  # [R, S]
    ids = tokens[src.clamp_max(len(tokens) - 1)].long()
    t = cfg.eps + (1 - cfg.eps) * torch.rand(rows, device=device, generator=gen)  # [R]
    masked = torch.rand(rows, S, device=device, generator=gen) < t[:, None]  # [R, S]
    labels = torch.where(masked, ids, torch.full_like(ids, -100))
    return Batch(corrupt(ids, masked, cfg, gen), labels, 1.0 / (t * S))


def hole_rows(
    tokens: torch.Tensor, spans: torch.Tensor, rows: int, cfg: MaskingConfig, gen: torch.Generator
) -> Batch:
    """``rows`` holes from ``spans`` ([N, 3] start, end, kind) with null slots after the answer."""
    device = tokens.device
    S, N = cfg.seq_len, len(tokens)
    pick = torch.randint(0, len(spans), (rows,), device=device, generator=gen)
    a, b = spans[pick, 0], spans[pick, 1]  # [R]
    n = b - a
    # extra null slots: none a quarter of the time, else up to 2n (at least 8, at most max_nulls),
    # so that a ladder of canvas lengths (8, 16, 32, ...) always has one the model was trained for
    k_max = torch.clamp(2 * n, min=8).clamp_max(cfg.max_nulls)
    k = (torch.rand(rows, device=device, generator=gen) * (k_max + 1)).long()
    k = torch.where(torch.rand(rows, device=device, generator=gen) < 0.25, torch.zeros_like(k), k)
    H = n + k  # hole length in slots
    # where the hole sits in the row: anywhere, but with no more left context than the corpus has
    p = (torch.rand(rows, device=device, generator=gen) * (S - H + 1).clamp_min(1)).long()
    p = torch.minimum(p, a)
    j = torch.arange(S, device=device)[None, :]  # [1, S]
    p_, n_, H_ = p[:, None], n[:, None], H[:, None]
    left = j < p_
    answer = (j >= p_) & (j < p_ + n_)
    null = (j >= p_ + n_) & (j < p_ + H_)
    src = torch.where(left | answer, a[:, None] - p_ + j, b[:, None] + (j - p_ - H_))  # [R, S]
    ids = tokens[src.clamp(0, N - 1)].long()
    ids = torch.where(null, torch.full_like(ids, cfg.null_id), ids)
    hole = answer | null  # [R, S]
    full = torch.rand(rows, device=device, generator=gen) < 0.5
    t = torch.where(
        full, torch.ones(rows, device=device), torch.rand(rows, device=device, generator=gen)
    )
    masked = hole & (torch.rand(rows, S, device=device, generator=gen) < t[:, None])
    # a row with nothing masked masks its whole hole
    none = ~masked.any(dim=1, keepdim=True)
    masked = masked | (hole & none)
    labels = torch.where(masked, ids, torch.full_like(ids, -100))
    inputs = corrupt(ids, masked, cfg, gen)
    # 1/t with t the realised share of masked slots (t x H = masked count): the row's loss is the
    # mean over its masked slots, never a small-t blow-up when a short hole gets one mask
    return Batch(inputs, labels, 1.0 / masked.sum(dim=1).float())


def make_batch(
    tokens: torch.Tensor,
    spans: torch.Tensor,
    batch_size: int,
    cfg: MaskingConfig,
    gen: torch.Generator,
) -> Batch:
    """A mixed batch: ``hole_fraction`` hole rows (when there are spans), the rest random-rate rows."""
    n_hole = int(round(batch_size * cfg.hole_fraction)) if len(spans) else 0
    parts = [random_rate_rows(tokens, batch_size - n_hole, cfg, gen)]
    if n_hole:
        parts.append(hole_rows(tokens, spans, n_hole, cfg, gen))
    return Batch(
        torch.cat([p.input_ids for p in parts]),
        torch.cat([p.labels for p in parts]),
        torch.cat([p.weight for p in parts]),
    )


def diffusion_loss(model: Any, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The weighted loss: sum over masked tokens of weight[row] x cross-entropy, averaged over rows.

    Logits are computed only at masked positions (the vocabulary projection dominates otherwise).
    Also returns the plain mean cross-entropy and accuracy over the masked tokens, for logging.
    """
    hidden = model.model(input_ids=batch.input_ids).last_hidden_state  # [B, S, h]
    masked = batch.labels != -100  # [B, S]
    rows = masked.nonzero(as_tuple=True)[0]  # [M]
    logits = model.decoder(model.head(hidden[masked])).float()  # [M, V]
    targets = batch.labels[masked]  # [M]
    ce = torch.nn.functional.cross_entropy(logits, targets, reduction="none")  # [M]
    loss = weighted_loss(ce, rows, batch.weight, batch.input_ids.shape[0])
    with torch.no_grad():
        stats = {"ce": ce.mean(), "acc": (logits.argmax(-1) == targets).float().mean()}
    return loss, stats


def weighted_loss(
    ce: torch.Tensor, rows: torch.Tensor, weight: torch.Tensor, batch_size: int
) -> torch.Tensor:
    """sum_m weight[rows[m]] * ce[m] / batch_size. ce, rows: [M]; weight: [B]."""
    return (ce * weight[rows]).sum() / batch_size

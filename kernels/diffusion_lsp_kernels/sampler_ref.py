"""PyTorch reference for the fused row sampler: softcap, temperature, softmax statistics, entropy,
argmax and a Gumbel-max sample for each row of a logits matrix, in several plain passes.

The Gumbel noise comes from a counter-based hash of (seed, row, column), the same function the Triton
kernel evaluates, so kernel and reference draw identical samples and can be compared exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

_MASK32 = 0xFFFFFFFF
_M1 = 0x7FEB352D  # lowbias32 multipliers (Chris Wellons, "Prospecting for Hash Functions", 2018)
_M2 = 0x846CA68B
_GOLDEN = 0x9E3779B9


@dataclass(frozen=True)
class RowSample:
    """Per-row results; every field is a tensor of shape [R]."""

    argmax: torch.Tensor  # int64, index of the largest processed logit (first on ties)
    sample: torch.Tensor  # int64, Gumbel-max sample; equals ``argmax`` when temperature is 0
    logsumexp: torch.Tensor  # float32, of the processed logits
    entropy: torch.Tensor  # float32, of softmax(processed logits), in nats
    argmax_prob: torch.Tensor  # float32, probability of ``argmax``
    sample_prob: torch.Tensor  # float32, probability of ``sample``


def _mul32(x: torch.Tensor, m: int) -> torch.Tensor:
    """(x * m) mod 2**32 for x in [0, 2**32), without overflowing int64."""
    lo, hi = m & 0xFFFF, m >> 16
    return (x * lo + (((x * hi) & 0xFFFF) << 16)) & _MASK32


def hash32(x: torch.Tensor) -> torch.Tensor:
    """lowbias32 on int64 tensors holding unsigned 32-bit values."""
    x = x & _MASK32
    x = x ^ (x >> 16)
    x = _mul32(x, _M1)
    x = x ^ (x >> 15)
    x = _mul32(x, _M2)
    return x ^ (x >> 16)


def uniform_noise(
    seed: int, rows: int, cols: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """U(0, 1) float32 [rows, cols] from hash(col xor hash(seed + hash(row))); 24 random bits each."""
    import torch

    row = torch.arange(rows, dtype=torch.int64, device=device)
    col = torch.arange(cols, dtype=torch.int64, device=device)
    seed_mix = (seed * _GOLDEN) & _MASK32
    row_key = hash32((hash32(row) + seed_mix) & _MASK32)  # [R]
    x = hash32(col[None, :] ^ row_key[:, None])  # [R, V]
    return ((x >> 8).to(torch.float32) + 0.5) * (1.0 / 16777216.0)


def process_logits(logits: torch.Tensor, temperature: float, softcap: float | None) -> torch.Tensor:
    """float32 logits after ``softcap * tanh(z / softcap)`` and division by the temperature.

    Temperature 0 (greedy) leaves the scale alone, so the statistics are those of temperature 1.
    """
    import torch

    z = logits.float()
    if softcap:
        z = softcap * torch.tanh(z / softcap)
    if temperature > 0:
        z = z / temperature
    return z


def sample_rows_ref(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    softcap: float | None = None,
    seed: int = 0,
) -> RowSample:
    """Reference implementation. logits: [R, V], any float dtype; computed in float32."""
    import torch

    if logits.ndim != 2:
        raise ValueError(f"logits must be [rows, vocab], got shape {tuple(logits.shape)}")
    z = process_logits(logits, temperature, softcap)  # [R, V]
    lse = torch.logsumexp(z, dim=-1)  # [R]
    logp = z - lse[:, None]  # [R, V]
    p = logp.exp()
    entropy = -torch.where(p > 0, p * logp, torch.zeros_like(p)).sum(dim=-1)  # [R]
    argmax = z.argmax(dim=-1)  # [R]
    if temperature > 0:
        u = uniform_noise(seed, z.shape[0], z.shape[1], z.device)
        sample = (z - torch.log(-torch.log(u))).argmax(dim=-1)  # Gumbel-max
    else:
        sample = argmax
    rows = torch.arange(z.shape[0], device=z.device)
    return RowSample(
        argmax=argmax,
        sample=sample,
        logsumexp=lse,
        entropy=entropy,
        argmax_prob=p[rows, argmax],
        sample_prob=p[rows, sample],
    )

"""Unmasking policies: pure decisions about which masked positions to commit at each step.

A policy sees the confidence of the token sampled at every still-masked position and answers with the
positions to commit now. The sampler owns the loop; policies own nothing but the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch


class Policy(Protocol):
    """Chooses the positions to commit at one step."""

    def select(
        self, confidence: torch.Tensor, masked: torch.Tensor, step: int, steps: int
    ) -> torch.Tensor:
        """``confidence``: [B, L] float (any value where not masked); ``masked``: [B, L] bool.

        Returns a [B, L] bool tensor, a subset of ``masked``; at the last step (``step == steps
        - 1``) it must be all of ``masked``.
        """
        ...


def _top_k(confidence: torch.Tensor, masked: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Per row b, the ``k[b]`` most confident masked positions. confidence, masked: [B, L]; k: [B]."""
    import torch

    score = confidence.masked_fill(~masked, float("-inf"))  # [B, L]
    order = score.argsort(dim=1, descending=True, stable=True)  # [B, L]
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    return masked & (rank < k.unsqueeze(1))  # [B, L]


@dataclass(frozen=True)
class TopKPerStep:
    """Commit a fixed number of tokens per step, the most confident first.

    LLaDA's low-confidence remasking with its linear schedule (Nie et al. 2025, "Large Language
    Diffusion Models", Algorithm 5 and ``get_num_transfer_tokens``): the masked tokens are spread as
    evenly as possible over the steps, the remainder going to the first steps, so a run ends in
    exactly ``steps`` steps (fewer when the hole is shorter than ``steps``)."""

    def select(
        self, confidence: torch.Tensor, masked: torch.Tensor, step: int, steps: int
    ) -> torch.Tensor:
        left = max(1, steps - step)
        remaining = masked.sum(dim=1)  # [B]
        k = (remaining + left - 1) // left  # ceil: the first of the remaining steps take the extra
        return _top_k(confidence, masked, k)


@dataclass(frozen=True)
class ConfidenceThreshold:
    """Commit every token whose confidence exceeds ``threshold``, and at least as many as the even
    schedule asks, so the run still ends within ``steps`` (Fast-dLLM's parallel decoding, Wu et al.
    2025, "Fast-dLLM: Training-free Acceleration of Diffusion LLM", Section 3.3 / ``get_transfer_index``
    with a threshold; the floor keeps the step budget the user set)."""

    threshold: float = 0.9

    def select(
        self, confidence: torch.Tensor, masked: torch.Tensor, step: int, steps: int
    ) -> torch.Tensor:
        floor = TopKPerStep().select(confidence, masked, step, steps)  # [B, L]
        return floor | (masked & (confidence > self.threshold))


def make_policy(name: str, threshold: float = 0.9) -> Policy:
    """``threshold`` (default) or ``topk``."""
    if name == "topk":
        return TopKPerStep()
    if name == "threshold":
        return ConfidenceThreshold(threshold)
    raise ValueError(f"unknown unmasking policy {name!r}: use 'threshold' or 'topk'")

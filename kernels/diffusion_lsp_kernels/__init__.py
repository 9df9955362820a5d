"""Triton kernels for diffusion-lsp, each with a PyTorch reference beside it.

``sample_rows`` picks the fused Triton sampler where it can run (a CUDA tensor with Triton installed,
or ``TRITON_INTERPRET=1``) and the PyTorch reference otherwise; both return a ``RowSample``.
"""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING

from diffusion_lsp_kernels.sampler_ref import RowSample, sample_rows_ref

if TYPE_CHECKING:
    import torch

__all__ = ["RowSample", "sample_rows", "sample_rows_ref", "triton_available"]


def triton_available() -> bool:
    """Whether the ``triton`` package is installed (it is optional: the ``kernels`` extra)."""
    return importlib.util.find_spec("triton") is not None


def sample_rows(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    softcap: float | None = None,
    seed: int = 0,
) -> RowSample:
    """Softcap, temperature, softmax statistics, entropy, argmax and a Gumbel-max sample per row."""
    interpret = os.environ.get("TRITON_INTERPRET", "0") == "1"
    if triton_available() and (logits.is_cuda or interpret):
        from diffusion_lsp_kernels.sampler_triton import sample_rows_triton

        return sample_rows_triton(logits, temperature=temperature, softcap=softcap, seed=seed)
    return sample_rows_ref(logits, temperature=temperature, softcap=softcap, seed=seed)

"""Fused Triton row sampler: one pass over each row of logits computes softcap and temperature, the
online softmax statistics (max, sum, and the sum of p * z for the entropy), the argmax and a Gumbel-max
sample. The PyTorch reference is ``sampler_ref.sample_rows_ref``; the two draw the same noise.

One program per row streams the vocabulary in blocks, so the logits are read once; the reference reads
them about six times. The kernel module is imported on first use, so ``TRITON_INTERPRET=1`` set before the
first call runs it on the CPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from diffusion_lsp_kernels.sampler_ref import _GOLDEN, RowSample

if TYPE_CHECKING:
    import torch


def sample_rows_triton(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    softcap: float | None = None,
    seed: int = 0,
    block: int = 2048,
) -> RowSample:
    """The fused kernel. logits: [R, V] with unit stride along V (rows may be strided)."""
    import torch

    if logits.ndim != 2:
        raise ValueError(f"logits must be [rows, vocab], got shape {tuple(logits.shape)}")
    if logits.stride(1) != 1:
        logits = logits.contiguous()
    rows, vocab = logits.shape
    dev = logits.device
    out_i = torch.empty((2, rows), dtype=torch.int64, device=dev)
    out_f = torch.empty((4, rows), dtype=torch.float32, device=dev)
    if rows:
        from diffusion_lsp_kernels._sampler_kernel import row_sampler

        row_sampler[(rows,)](
            logits,
            logits.stride(0),
            vocab,
            (seed * _GOLDEN) & 0xFFFFFFFF,
            1.0 / temperature if temperature > 0 else 1.0,
            float(softcap or 1.0),
            out_i[0],
            out_i[1],
            out_f[0],
            out_f[1],
            out_f[2],
            out_f[3],
            HAS_SOFTCAP=bool(softcap),
            SAMPLE=temperature > 0,
            BLOCK=block,
        )
    return RowSample(out_i[0], out_i[1], out_f[0], out_f[1], out_f[2], out_f[3])

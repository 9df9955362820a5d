"""Fused Triton row sampler: one pass over each row of logits computes softcap and temperature, the
online softmax statistics (max, sum, and the sum of p * z for the entropy), the argmax and a Gumbel-max
sample. The PyTorch reference is ``sampler_ref.sample_rows_ref``; the two draw the same noise.

Each row is split into chunks so that small batches still fill the device: program (row, chunk)
streams its chunk once in blocks, keeping online statistics, and a second small kernel merges the
chunks of each row. The logits are read once; the reference reads them about six times. The kernel module is imported on first use, so ``TRITON_INTERPRET=1`` set before the
first call runs it on the CPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from diffusion_lsp_kernels.sampler_ref import _GOLDEN, RowSample

if TYPE_CHECKING:
    import torch

_PROGRAMS = 528  # about four programs per multiprocessor of an H100 (132)


def sample_rows_triton(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    softcap: float | None = None,
    seed: int = 0,
    block: int = 1024,
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
        from diffusion_lsp_kernels._sampler_kernel import row_sampler_combine, row_sampler_partial

        blocks = -(-vocab // block)
        parts = max(1, min(blocks, -(-_PROGRAMS // rows)))  # enough programs to fill the device
        chunk = -(-blocks // parts) * block
        parts = -(-vocab // chunk)  # no empty chunk
        part_f = torch.empty((5, rows, parts), dtype=torch.float32, device=dev)
        part_i = torch.empty((2, rows, parts), dtype=torch.int32, device=dev)
        row_sampler_partial[(rows, parts)](
            logits,
            logits.stride(0),
            vocab,
            chunk,
            (seed * _GOLDEN) & 0xFFFFFFFF,
            1.0 / temperature if temperature > 0 else 1.0,
            float(softcap or 1.0),
            part_f,
            part_i,
            HAS_SOFTCAP=bool(softcap),
            SAMPLE=temperature > 0,
            BLOCK=block,
        )
        row_sampler_combine[(rows,)](
            part_f,
            part_i,
            parts,
            out_i[0],
            out_i[1],
            out_f[0],
            out_f[1],
            out_f[2],
            out_f[3],
            SAMPLE=temperature > 0,
            PARTS=max(16, 1 << (parts - 1).bit_length()),
        )
    return RowSample(out_i[0], out_i[1], out_f[0], out_f[1], out_f[2], out_f[3])

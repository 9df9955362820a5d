"""FP8 weights for the linear layers: half the bytes of bf16, read once per denoising step.

At batch one a denoising step reads every weight once, so its time is the bytes of the weights over
the memory bandwidth; a prefill over thousands of tokens is bound by the matrix units instead. FP8
(e4m3) weights halve the first and, on GPUs with FP8 matrix units (compute capability 8.9 and up:
Ada, Hopper, Blackwell), double the rate of the second. Each weight row (output channel) has its own
scale; activations are quantized per token as they arrive (dynamic scaling), and the product runs in
``torch._scaled_mm`` with a bf16 result. Embeddings, the LM head and the experts of a mixture of
experts (3-D tensors, not ``nn.Linear``) stay as they are.

transformers' own FP8 path (``FineGrainedFP8Config``) fetches its kernels from the Hugging Face Hub
at run time, which fails offline, so the project quantizes with PyTorch alone. Off CUDA the layer
computes the same quantized product with ordinary float32 arithmetic (the reference the tests use).
"""

from __future__ import annotations

from typing import Any

import torch

E4M3_MAX = 448.0  # the largest finite float8_e4m3fn
# Left in their dtype: modules with one of these names anywhere in their path (heads, embeddings,
# the router that picks experts), and the top-level modules named in SKIP_TOP (ModernBERT's head).
SKIP_PARTS = ("lm_head", "embed_tokens", "embeddings", "router")
SKIP_TOP = ("head", "decoder")


def supported(device: Any) -> bool:
    """Whether ``device`` has FP8 matrix units (CUDA, compute capability 8.9 or higher)."""
    device = torch.device(device)
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 9)


def quantize_rows(x: Any) -> tuple[Any, Any]:
    """x [..., K] -> (float8_e4m3fn [..., K], float32 scale [..., 1]) with x ~= q * scale, one
    scale per row (the row's largest magnitude maps to 448)."""
    amax = x.abs().amax(dim=-1, keepdim=True).float().clamp(min=1e-12)
    scale = amax / E4M3_MAX
    q = (x.float() / scale).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn)
    return q, scale


class Fp8Linear(torch.nn.Module):
    """An ``nn.Linear`` whose weight is float8 (e4m3) with one float32 scale per output row."""

    def __init__(self, linear: Any) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.out_dtype = linear.weight.dtype
        q, scale = quantize_rows(linear.weight.detach())  # [N, K], [N, 1]
        self.weight = torch.nn.Parameter(q, requires_grad=False)
        self.weight_scale = torch.nn.Parameter(
            scale.t().contiguous(), requires_grad=False
        )  # [1, N]
        bias = linear.bias
        self.bias = None if bias is None else torch.nn.Parameter(bias.detach(), requires_grad=False)

    def forward(self, x: Any) -> Any:
        lead, k = x.shape[:-1], x.shape[-1]
        x2 = x.reshape(-1, k)  # [M, K]
        xq, xs = quantize_rows(x2)  # [M, K] fp8, [M, 1]
        if x.device.type == "cuda":
            m = x2.shape[0]
            rows = -(-m // 16) * 16  # the FP8 GEMM wants the rows in multiples of 16
            if rows != m:
                xq = torch.nn.functional.pad(xq.view(torch.uint8), (0, 0, 0, rows - m))
                xq = xq.view(torch.float8_e4m3fn)
            # The row scales live in storage for a multiple of 256 rows: the row-wise kernel has
            # been seen reading scales past the last row (pytorch/pytorch#133334).
            store = torch.ones((-(-rows // 256) * 256, 1), dtype=torch.float32, device=x.device)
            store[:m] = xs
            xs = store[:rows]
            out = torch._scaled_mm(
                xq,
                self.weight.t(),  # [K, N], column-major as the GEMM wants
                scale_a=xs,
                scale_b=self.weight_scale,
                out_dtype=self.out_dtype,
            )[:m]
        else:  # the same quantized product in float32
            w = self.weight.float() * self.weight_scale.t()  # [N, K]
            out = ((xq.float() * xs) @ w.t()).to(self.out_dtype)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, fp8 e4m3"


def quantize_linears(model: Any) -> int:
    """Replace every ``nn.Linear`` under ``model`` by an ``Fp8Linear``, in place, except the heads,
    embeddings and routers (``SKIP_PARTS``, ``SKIP_TOP``) and layers whose sizes are not multiples
    of 16. Returns how many were replaced."""
    replaced = 0
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            parts = full.split(".")
            skipped = any(p in SKIP_PARTS for p in parts) or parts[0] in SKIP_TOP
            if not isinstance(child, torch.nn.Linear) or skipped:
                continue
            if child.in_features % 16 or child.out_features % 16:
                continue
            setattr(module, child_name, Fp8Linear(child))
            replaced += 1
    return replaced

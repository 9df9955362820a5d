"""Linear layers whose weights are laid out once, at load, for the CPU's matrix kernels (oneDNN).

On the CPU, ``F.linear`` hands the weight to the matrix kernel in its plain layout, and the kernel
re-lays it out on every call. For the skinny products of a span step (16 to 48 rows against a
weight of a few megabytes) that costs as much as the product itself: a [16, 384] x [384, 3072]
product takes 0.26 ms through ``F.linear`` in bfloat16 and 0.12 ms with the weight packed once; the
prediction head ([16, 384] x [384, 16384]) 1.1 ms and 0.5 ms; in float32 the gains are larger
(``benchmarks/bench_cpu_floor.py`` measures the request; docs/benchmarks.md). ``pack_linears``
swaps every ``nn.Linear`` of a model for a ``PackedLinear`` holding its weight in oneDNN's layout
(``torch.ops.mkldnn._reorder_linear_weight``, the op torch.compile's CPU weight freezing uses) and
multiplying with ``torch.ops.mkldnn._linear_pointwise``: the same products (bit for bit in bfloat16
on the development machine, within float32 rounding otherwise), so the model's own forward and the
dual cache's stacks both run on it unchanged.

``fuse_geglu`` goes one step further for ModernBERT's GeGLU MLP (``Wi`` -> gelu(input) * gate ->
``Wo``): the gelu and the product with the gate run inside the two matrix kernels (oneDNN post-ops)
instead of as passes over a [tokens, 2 x inner] intermediate, which on a 1,000-token prefill is a
tenth of the MLP's time in float32.

Where the build has no oneDNN, or a check product on the model's dtype disagrees with ``F.linear``,
nothing is swapped and the model runs as loaded.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

PACKED_DTYPES = ("float32", "bfloat16")


def _pack(weight: torch.Tensor) -> torch.Tensor:
    """A linear layer's weight [out, in] in oneDNN's layout for the CPU's matrix kernels."""
    with torch.no_grad():
        return torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous())


class PackedLinear(torch.nn.Module):
    """``nn.Linear``'s forward over a weight packed for oneDNN (inference only: no gradients)."""

    def __init__(self, linear: torch.nn.Linear, shared: bool = False) -> None:
        super().__init__()
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self._packed = _pack(linear.weight)
        # ``weight`` stays a parameter, so counts of the model's parameters do not change: the packed
        # one, or, for a weight another module shares (a head tied to the embeddings), that one
        self.weight = (
            linear.weight if shared else torch.nn.Parameter(self._packed, requires_grad=False)
        )
        self.bias = linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self._packed, self.bias, "none", [], "")

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, packed"


def can_pack(dtype: Any) -> bool:
    """Whether this torch packs linear weights of ``dtype`` (a torch dtype or its name) on the CPU
    and multiplies with them as ``F.linear`` does (a small check product)."""
    name = str(dtype).removeprefix("torch.")
    if name not in PACKED_DTYPES:
        return False
    dtype = getattr(torch, name)
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        gen = torch.Generator().manual_seed(0)
        linear = torch.nn.Linear(64, 96).to(dtype)
        x = torch.randn(5, 64, generator=gen).to(dtype)
        with torch.no_grad():
            want = F.linear(x, linear.weight, linear.bias).float()
            got = PackedLinear(linear)(x).float()
    except (RuntimeError, AttributeError, NotImplementedError):
        return False
    return bool(torch.allclose(got, want, rtol=1e-2, atol=1e-2))


def pack_linears(model: Any) -> int:
    """Swap every ``nn.Linear`` of ``model`` (on the CPU, in a packable dtype) for a
    ``PackedLinear``; returns how many were swapped (0 where this torch cannot pack)."""
    linears = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if type(child) is torch.nn.Linear and child.weight.device.type == "cpu"
    ]
    if not linears or not can_pack(linears[0][2].weight.dtype):
        return 0
    uses: dict[int, int] = {}
    for _, p in model.named_parameters(remove_duplicate=False):
        uses[id(p)] = uses.get(id(p), 0) + 1
    for parent, name, child in linears:
        setattr(parent, name, PackedLinear(child, shared=uses[id(child.weight)] > 1))
    return len(linears)


class PackedGeGLU(torch.nn.Module):
    """A GeGLU MLP (``Wi`` giving input and gate halves, ``act(input) * gate``, dropout, ``Wo``)
    over packed weights, the gelu fused into the input half's product and the gate's product fused
    with the multiplication (inference only). ``Wo`` stays a child module (``pack_linears`` packs it)."""

    def __init__(self, mlp: Any, approximate: str) -> None:
        super().__init__()
        wi = mlp.Wi
        self.in_features = wi.in_features
        self.inner = inner = wi.out_features // 2
        self.approximate = approximate  # oneDNN's gelu: "none" (erf) or "tanh"
        bias = wi.bias.detach() if wi.bias is not None else None
        # parameters, as ``PackedLinear.weight``: the model's parameter counts do not change
        self.input_weight = torch.nn.Parameter(_pack(wi.weight[:inner]), requires_grad=False)
        self.gate_weight = torch.nn.Parameter(_pack(wi.weight[inner:]), requires_grad=False)
        self.input_bias = None if bias is None else bias[:inner].contiguous()
        self.gate_bias = None if bias is None else bias[inner:].contiguous()
        self.Wo = mlp.Wo

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        linear = torch.ops.mkldnn._linear_pointwise
        act = linear(x, self.input_weight, self.input_bias, "gelu", [], self.approximate)
        return self.Wo(linear.binary(x, act, self.gate_weight, self.gate_bias, "mul"))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, inner={self.inner}, gelu={self.approximate}, fused"


def _gelu_kind(act: Any) -> str | None:
    """Which gelu ``act`` computes ("none": erf, "tanh": the tanh approximation), found by running
    it, or None where it is neither."""
    x = torch.linspace(-6, 6, 257)
    with torch.no_grad():
        y = act(x)
        for kind in ("none", "tanh"):
            if torch.allclose(y, F.gelu(x, approximate=kind), rtol=0, atol=1e-6):
                return kind
    return None


def _is_geglu(module: Any) -> bool:
    wi, wo = getattr(module, "Wi", None), getattr(module, "Wo", None)
    return (
        type(wi) is torch.nn.Linear
        and type(wo) is torch.nn.Linear
        and wi.out_features == 2 * wo.in_features
        and isinstance(getattr(module, "drop", None), torch.nn.Dropout)
        and callable(getattr(module, "act", None))
        and wi.weight.device.type == "cpu"
    )


def fuse_geglu(model: Any) -> int:
    """Swap every GeGLU MLP of ``model`` (ModernBERT's: ``Wi``, ``act``, ``drop``, ``Wo``; on the
    CPU, in a packable dtype, a gelu activation) for a ``PackedGeGLU`` whose output matches it on a
    check input; returns how many were swapped. Call before ``pack_linears``."""
    mlps = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if _is_geglu(child)
    ]
    if not mlps or not can_pack(mlps[0][2].Wi.weight.dtype):
        return 0
    kind = _gelu_kind(mlps[0][2].act)
    if kind is None:
        return 0
    swapped = 0
    gen = torch.Generator().manual_seed(0)
    for parent, name, mlp in mlps:
        fused = PackedGeGLU(mlp, kind)
        x = torch.randn(3, mlp.Wi.in_features, generator=gen).to(mlp.Wi.weight.dtype)
        with torch.no_grad():
            want, got = mlp.eval()(x).float(), fused(x).float()
        if torch.allclose(got, want, rtol=2e-2, atol=2e-2 * float(want.abs().max()) + 1e-6):
            setattr(parent, name, fused)
            swapped += 1
    return swapped

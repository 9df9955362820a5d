"""Where a model runs and in what precision: ``device`` and ``dtype`` resolved from the machine.

``auto`` picks the first CUDA GPU, else the CPU; and bfloat16 on CUDA and on CPUs with native bf16
dot products (read from the CPU's flags), float32 elsewhere.
"""

from __future__ import annotations

import os
from typing import Any

from diffusion_lsp.engine.api import WEIGHT_DTYPES, ModelLoadError

# CPU flags (Linux /proc/cpuinfo) of native bf16 dot products: AVX512_BF16 (Zen 4+, Cooper Lake+)
# and AMX-BF16 (Sapphire Rapids+). Without them torch emulates bf16 matmuls, slower than float32.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
CPU_FLAGS_VAR = "DIFFUSION_LSP_CPU_FLAGS"


def cpu_has_native_bf16(flags: str | None = None) -> bool:
    """Whether the CPU has native bf16 dot products, from ``flags`` (a cpuinfo flags string; None:
    this machine's, read from /proc/cpuinfo, empty where there is none)."""
    if flags is None:
        flags = _cpu_flags()
    return not NATIVE_BF16_FLAGS.isdisjoint(flags.lower().split())


def _cpu_flags() -> str:
    """The CPU's flags: ``DIFFUSION_LSP_CPU_FLAGS`` where set (the test suite sets it empty, its
    server processes too), else the flags line of /proc/cpuinfo."""
    if CPU_FLAGS_VAR in os.environ:
        return os.environ[CPU_FLAGS_VAR]
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for row in f:
                if row.startswith("flags"):
                    return row.partition(":")[2]
    except OSError:
        pass
    return ""


def resolve_dtype(dtype: str, device: str) -> Any:
    """auto: bfloat16 on CUDA and on a CPU with native bf16 dot products, float32 elsewhere."""
    import torch

    if dtype == "auto":
        if device.startswith("cuda") or (device == "cpu" and cpu_has_native_bf16()):
            return torch.bfloat16
        return torch.float32
    try:
        return {name: getattr(torch, name) for name in WEIGHT_DTYPES}[dtype]
    except KeyError:
        raise ModelLoadError(
            f"unknown dtype {dtype!r}.",
            f"use auto, {', '.join(WEIGHT_DTYPES[:-1])} or {WEIGHT_DTYPES[-1]}.",
        ) from None


def resolve_device(device: str) -> str:
    """auto: the first CUDA GPU if there is one, else the CPU."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(
            f"device {device!r} was asked for but torch sees no CUDA GPU.",
            "set device to auto or cpu, or install a CUDA build of torch.",
        )
    return device

# ruff: noqa: B023  (every lambda below is timed at once, inside the loop that binds its names)
"""What the device can do (copy bandwidth, bf16 matmul rate: the floors' denominators) and the fused
Triton row sampler against its PyTorch reference.
"""

from __future__ import annotations

import os
import platform
from typing import Any

from benchmarks.speed.measure import Clock, Run, p50

# -- device ceilings -----------------------------------------------------------------------------


def measure_device(run: Run, device: Any, tiny: bool) -> dict[str, Any]:
    """Device-to-device copy bandwidth (bytes read + written over time) and bf16 matmul rate."""
    import torch

    clock = Clock(device)
    n = (16 << 20) if tiny else (2 << 30)  # bytes
    src = torch.empty(n, dtype=torch.uint8, device=device).random_()
    dst = torch.empty_like(src)
    ms = p50(clock.series(lambda: dst.copy_(src), reps=5 if tiny else 20, warmup=2))
    bw = 2 * n / (ms / 1000)  # bytes/s, read + written
    k = 256 if tiny else 8192
    dt = torch.float32 if tiny else torch.bfloat16
    a = torch.randn(k, k, device=device, dtype=dt)
    b = torch.randn(k, k, device=device, dtype=dt)
    mm = p50(clock.series(lambda: a @ b, reps=3 if tiny else 10, warmup=2))
    flops = 2 * k**3 / (mm / 1000)
    info = {
        "name": torch.cuda.get_device_name()
        if device.type == "cuda"
        else platform.processor() or "cpu",
        "copy_bandwidth_GBps": round(bw / 1e9, 1),
        "matmul_TFLOPs": round(flops / 1e12, 1),
        "torch": torch.__version__,
    }
    import transformers

    info["transformers"] = transformers.__version__
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError:
        info["triton"] = None
    run.log(f"device: {info}")
    return info


# -- the fused sampler ---------------------------------------------------------------------------


def bench_kernel(run: Run, device: Any, tiny: bool) -> dict[str, Any]:
    """The Triton row sampler against its PyTorch reference on the logits of a canvas."""
    import torch
    from diffusion_lsp_kernels import sample_rows, sample_rows_ref, triton_available

    clock = Clock(device)
    out: dict[str, Any] = {"rows": []}
    use_kernel = triton_available() and (
        device.type == "cuda" or os.environ.get("TRITON_INTERPRET") == "1"
    )
    for rows in (1, 32) if tiny else (1, 32, 64):
        for vocab in (4096,) if tiny else (152064, 262144):
            logits = torch.randn(rows, vocab, device=device, dtype=torch.float32) * 3
            ref = sample_rows_ref(logits, temperature=0.8, softcap=30.0, seed=1)
            entry: dict[str, Any] = {"rows": rows, "vocab": vocab}
            entry["torch_ms"] = round(
                p50(
                    clock.series(
                        lambda: sample_rows_ref(logits, temperature=0.8, softcap=30.0, seed=1),
                        5 if tiny else 50,
                    )
                ),
                4,
            )
            if use_kernel:
                got = sample_rows(logits, temperature=0.8, softcap=30.0, seed=1)
                entry["same_samples"] = bool(torch.equal(got.sample, ref.sample))
                entry["max_entropy_err"] = float((got.entropy - ref.entropy).abs().max())
                entry["triton_ms"] = round(
                    p50(
                        clock.series(
                            lambda: sample_rows(logits, temperature=0.8, softcap=30.0, seed=1),
                            5 if tiny else 50,
                        )
                    ),
                    4,
                )
            out["rows"].append(entry)
            run.log(f"sampler {entry}")
    return out

"""CPU latency of a one-line inline infill against its FLOP floor, in bfloat16 and in float32.

The request is the one the inline feature sends on an automatic trigger (the settings' defaults:
its steps, max tokens, length search, alternatives; single line; ``--context`` tokens of context),
to the product's engine loaded with ``load_engine`` as the server loads it. Every checkpoint and
dtype of a run is loaded first, then timed in interleaved rounds (``measure_all``), so that their
p50s compare within the run. The floor, measured in the same run: 2 x non-embedding parameters x
context tokens, divided by the rate of the model's own matrix products (its linear layers' shapes
at ``--context`` rows, the faster of ``torch.mm`` and the packed kernel) in that dtype. The rest of
a request is broken down: tokenize, prefill (the first model call: the whole canvas), the span
steps, and the rest (the head, sampling, decoding, ranking).

    python benchmarks/bench_cpu_floor.py                        # the embedded model
    python benchmarks/bench_cpu_floor.py --preset base          # random weights of a preset
    python benchmarks/bench_cpu_floor.py --sweep small,base     # item 2: p50 per preset (bf16)
    python benchmarks/bench_cpu_floor.py --sweep base,512x5x4x1536  # and candidate shapes
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import sys
import sysconfig
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))


def document(min_chars: int) -> tuple[str, str]:
    """(prefix, suffix) around a line in the middle of the longest stdlib module among the first
    50 (a real module, so the context is real code), the cursor after its indentation."""
    files = sorted(glob.glob(sysconfig.get_paths()["stdlib"] + "/**/*.py", recursive=True))[:50]
    text = max((open(f, encoding="utf-8", errors="replace").read() for f in files), key=len)
    assert len(text) >= min_chars, "the stdlib module is too short for the context asked"
    cut = text.index("\n", len(text) // 2) + 1
    cut += len(text[cut:]) - len(text[cut:].lstrip(" "))
    return text[:cut], text[text.index("\n", cut) :]


def preset_of(name: str) -> Any:
    """A preset of ``train/model.py`` by name, or a candidate shape ``HIDDENxLAYERSxHEADSxGEGLU``
    (``512x5x4x1536``; a 128-token local window, global attention every 3rd layer, 1,024
    positions, as the presets)."""
    from diffusion_lsp.train.model import PRESETS, Preset

    if name in PRESETS:
        return PRESETS[name]
    hidden, layers, heads, inner = (int(x) for x in name.split("x"))
    return Preset(hidden, layers, heads, inner, 128, 3, 1024)


def export_random(preset_name: str, out_dir: str) -> None:
    """A randomly initialised model of ``preset_name`` (``preset_of``) with the embedded model's
    tokenizer."""
    from transformers import AutoTokenizer

    from diffusion_lsp.engine.loading import DEFAULT_MODEL_DIR
    from diffusion_lsp.train.model import build_config, build_model, export
    from diffusion_lsp.train.tokenizer import special_ids

    tokenizer = AutoTokenizer.from_pretrained(str(DEFAULT_MODEL_DIR))
    config = build_config(preset_of(preset_name), special_ids(tokenizer), len(tokenizer))
    export(build_model(config), tokenizer, out_dir)


def matmul_rate(shapes: list[tuple[int, int]], rows: int, dtype: Any, repeats: int = 5) -> float:
    """GFLOP/s of ``rows`` x K times K x N products for the (K, N) ``shapes``: the best of ``repeats``
    runs of the faster of ``torch.mm`` and the packed oneDNN product the engine runs on the CPU
    (``engine/cpu_pack.py``), so that the floor is the machine's, not the engine's choice of kernel."""
    import torch

    from diffusion_lsp.engine.cpu_pack import PackedLinear, can_pack

    mats = [(torch.randn(rows, k).to(dtype), torch.randn(k, n).to(dtype)) for k, n in shapes]
    kernels = [[partial(torch.mm, a, b) for a, b in mats]]
    if can_pack(dtype):
        packed = []
        for a, b in mats:
            linear = torch.nn.Linear(*b.shape, bias=False).to(dtype)
            with torch.no_grad():
                linear.weight.copy_(b.t())
            packed.append(partial(PackedLinear(linear), a))
        kernels.append(packed)
    flops = sum(2 * rows * k * n for k, n in shapes)
    best = float("inf")
    with torch.no_grad():
        for _ in range(repeats + 1):
            for products in kernels:
                t0 = time.perf_counter()
                for product in products:
                    product()
                best = min(best, time.perf_counter() - t0)
    return flops / best / 1e9


def linear_shapes(model: Any) -> list[tuple[int, int]]:
    """(in, out) of every linear layer of the body (not the head's decoder), plain or packed; a fused
    GeGLU's two products counted as the one ``Wi`` they were made from."""
    import torch

    from diffusion_lsp.engine.cpu_pack import PackedGeGLU, PackedLinear

    inner = model.model
    return [
        (m.in_features, 2 * m.inner)
        if isinstance(m, PackedGeGLU)
        else (m.in_features, m.out_features)
        for m in inner.modules()
        if isinstance(m, torch.nn.Linear | PackedLinear | PackedGeGLU)
    ]


class PhaseClock:
    """Wraps the dual-cache denoiser's prefill and span steps to time them."""

    def __init__(self, denoiser: Any) -> None:
        self.ms = {"prefill": 0.0, "steps": 0.0}
        for name, phase in (("_prefill", "prefill"), ("_span_step", "steps")):
            inner = getattr(denoiser, name, None)
            if inner is not None:
                setattr(denoiser, name, self._timed(inner, phase))

    def _timed(self, fn: Any, phase: str) -> Any:
        def run(*args: Any) -> Any:
            t0 = time.perf_counter()
            out = fn(*args)
            self.ms[phase] += (time.perf_counter() - t0) * 1000
            return out

        return run

    def reset(self) -> None:
        self.ms = dict.fromkeys(self.ms, 0.0)


class Job:
    """One checkpoint in one dtype, loaded as the server loads it, with the request and its runs."""

    def __init__(
        self, label: str, path: str, dtype: str, args: argparse.Namespace, doc: tuple
    ) -> None:
        from diffusion_lsp.engine import load_engine
        from diffusion_lsp.engine.api import InfillRequest, ModelSpec
        from diffusion_lsp.lsp.settings import Settings

        self.label, self.args = label, args
        self.engine = load_engine(ModelSpec(model=path, device="cpu", dtype=dtype))
        settings = Settings()
        budget = settings.inline.automatic
        self.request = InfillRequest(
            doc[0],
            doc[1],
            max_tokens=budget.max_tokens,
            steps=budget.steps,
            search_length=budget.search_length,
            alternatives=settings.alternatives,
            single_line=True,
            context_tokens=args.context,
        )
        self.clock = PhaseClock(self.engine.denoiser)
        self.result = self.engine.infill(self.request)  # warm-up
        self.runs: list[tuple[float, ...]] = []

    def run(self) -> None:
        self.clock.reset()
        t0 = time.perf_counter()
        self.result = self.engine.infill(self.request)
        total = (time.perf_counter() - t0) * 1000
        tokenize, prefill = self.result.timings.tokenize_ms, self.clock.ms["prefill"]
        steps = self.clock.ms["steps"]
        self.runs.append((total, tokenize, prefill, steps, total - tokenize - prefill - steps))

    def summary(self) -> dict:
        """p50 and breakdown of the runs, and the floor measured now."""
        import torch

        from diffusion_lsp.train.model import count_parameters

        engine, result, args = self.engine, self.result, self.args
        total, tokenize, prefill, steps, rest = (statistics.median(c) for c in zip(*self.runs))
        _, body = count_parameters(engine.model)
        tokens = engine.denoiser.stats.tokens_encoded[-result.nfe] if result.nfe else args.context
        dtype_t = getattr(torch, engine.info.dtype)
        rate = matmul_rate(linear_shapes(engine.model), args.context, dtype_t)
        floor = 2 * body * args.context / (rate * 1e9) * 1000
        return {
            "dtype": engine.info.dtype,
            "params": engine.info.parameters,
            "body": body,
            "tokens": tokens,
            "nfe": result.nfe,
            "p50": total,
            "min": min(r[0] for r in self.runs),
            "tokenize": tokenize,
            "prefill": prefill,
            "steps": steps,
            "rest": rest,
            "rate": rate,
            "floor": floor,
        }


def measure_all(jobs: list[Job], repeats: int) -> None:
    """``repeats`` rounds, each job once per round, in alternating order: the machine's drift (a
    shared VM's speed moves by a fifth within minutes) falls on every job alike, so their p50s
    compare within one run."""
    for r in range(repeats):
        for job in jobs if r % 2 == 0 else jobs[::-1]:
            job.run()


def row(label: str, m: dict) -> str:
    return (
        f"| {label} | {m['dtype']} | {m['body'] / 1e6:.1f} M | {m['tokens']} | {m['nfe']} | "
        f"{m['p50']:.0f} | {m['min']:.0f} | {m['rate']:.0f} | {m['floor']:.3g} | "
        f"{m['p50'] / m['floor']:.1f} | {m['tokenize']:.0f} | {m['prefill']:.0f} | "
        f"{m['steps']:.0f} | {m['rest']:.0f} |"
    )


HEADER = (
    "| model | dtype | body params | canvas tokens | nfe | p50 ms | min ms | matmul GFLOP/s | "
    "floor ms | p50 / floor | tokenize ms | prefill ms | steps ms | rest ms |\n"
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a checkpoint directory (default: the embedded model)")
    ap.add_argument("--preset", help="random weights of this train/model.py preset instead")
    ap.add_argument(
        "--sweep",
        help="comma-separated presets or HIDDENxLAYERSxHEADSxGEGLU shapes, random weights, "
        "bfloat16 only, timed in interleaved rounds",
    )
    ap.add_argument("--dtypes", default="bfloat16,float32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--context", type=int, default=1000, help="tokens of context (prefix + suffix)")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    prefix, suffix = document(args.context * 2)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {args.threads} threads; "
        f"{args.context} context tokens; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(HEADER)
    if args.sweep:
        wanted = [(name, "bfloat16") for name in args.sweep.split(",")]
    else:
        wanted = [(args.preset, dtype) for dtype in args.dtypes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        jobs = []
        for preset, dtype in wanted:
            if preset:
                path = os.path.join(tmp, preset)
                if not os.path.isdir(path):
                    export_random(preset, path)
                label = f"random {preset}"
            else:
                path = args.model or str(ROOT / "diffusion_lsp" / "models" / "code-small")
                label = Path(path).name
            jobs.append(Job(label, path, dtype, args, (prefix, suffix)))
        measure_all(jobs, args.repeats)
        for job in jobs:
            print(row(job.label, job.summary()), flush=True)


if __name__ == "__main__":
    main()

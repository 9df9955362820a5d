"""Side-by-side speed of infilling: this engine's fast path against transformers' own loops and the
memory-bandwidth floor, on full-size configurations with random bf16 weights and fixed step counts.

    python -m benchmarks.speed --out OUT            # one GPU, under 10 minutes
    python -m benchmarks.speed --tiny --out OUT     # the whole benchmark on the CPU in a minute
    python -m benchmarks.speed --render OUT/speed.json --docs docs/benchmarks.md

Two models: a dense masked-diffusion model of the Dream/DiffuCoder class (the Qwen2-7B configuration,
bidirectional attention, shifted logits) and DiffusionGemma-26B-A4B (mixture of experts, 128 experts,
top 8). No weights can be downloaded, so both are built from their configurations with random weights:
latency does not depend on the values, but every confidence-driven choice (early stopping, acceptance)
is fixed instead (fixed step counts, no early exit), and the agreement numbers compare two loops on the
same random model, not quality. Writes ``speed.json`` (with ``dense.json``, ``gemma.json``,
``hf_ar.json`` from the process of each model), ``speed.png`` and ``speed.log`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.speed import ROOT
from benchmarks.speed.baselines import bench_hf_ar
from benchmarks.speed.configs import FULL, TINY
from benchmarks.speed.dense import bench_dense
from benchmarks.speed.device import bench_kernel, measure_device
from benchmarks.speed.gemma import bench_gemma
from benchmarks.speed.measure import Run
from benchmarks.speed.report import plot, render, write_docs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--tiny", action="store_true", help="tiny configurations on the CPU (a smoke test)"
    )
    ap.add_argument(
        "--out", type=Path, default=Path("bench-out"), help="folder for speed.json/png/log"
    )
    ap.add_argument("--models", default="dense,gemma", help="comma-separated: dense, gemma")
    ap.add_argument(
        "--docs", type=Path, help="write the Speed (GPU) section into this markdown file"
    )
    ap.add_argument("--render", type=Path, help="only render an existing speed.json into --docs")
    ap.add_argument(
        "--budget-s", type=float, help="stop starting new phases after this many seconds"
    )
    ap.add_argument(
        "--isolate", action="store_true", help="each model in its own process (always on a GPU)"
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)  # dense | gemma | hf_ar, in its own process
    ap.add_argument("--bandwidth", type=float, default=1e9, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.render:
        results = json.loads(args.render.read_text())
        if args.docs:
            write_docs(render(results), args.docs)
        else:
            print(render(results))
        return 0

    import torch

    plan = TINY if args.tiny else FULL
    device = torch.device("cpu" if args.tiny or not torch.cuda.is_available() else "cuda")
    dtype = torch.float32 if device.type == "cpu" else torch.bfloat16
    if device.type == "cpu" and not args.tiny:
        print("no GPU: run with --tiny for the CPU smoke test", file=sys.stderr)
        return 2
    if args.child:  # one model, in its own process (see below)
        run = Run(args.out, args.budget_s or plan.budget_s, name=args.child)
        bench = {"dense": bench_dense, "gemma": bench_gemma}.get(args.child)
        with run.phase(args.child) as ok:
            if ok and bench is not None:
                run.results[args.child] = bench(run, plan, device, dtype, args.tiny, args.bandwidth)
            elif ok:
                run.results[args.child] = bench_hf_ar(run, plan, device, dtype, args.tiny)
        return 0

    run = Run(args.out, args.budget_s or plan.budget_s)
    run.results["plan"] = {
        "contexts": plan.contexts,
        "lengths": plan.lengths,
        "steps": plan.steps,
        "tiny": args.tiny,
    }
    with run.phase("device") as ok:
        if ok:
            run.results["device"] = measure_device(run, device, args.tiny)
    bw = run.results.get("device", {}).get("copy_bandwidth_GBps", 1.0) * 1e9
    with run.phase("kernel") as ok:
        if ok:
            run.results["kernel"] = bench_kernel(run, device, args.tiny)
    models = [m for m in ("dense", "gemma") if m in args.models.split(",")]
    if "dense" in models and device.type == "cuda":
        models.append("hf_ar")
    path = os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))
    child_env = {**os.environ, "PYTHONPATH": path}  # the package, from any working directory
    share = {"dense": 0.4, "gemma": 0.85, "hf_ar": 1.0}  # of the time left when each starts
    need = {"dense": 30, "gemma": 60, "hf_ar": 120}
    for model in models:
        if device.type == "cpu" and not args.isolate:  # tiny: in this process
            with run.phase(model, need_s=need[model]) as ok:
                if ok:
                    bench = bench_dense if model == "dense" else bench_gemma
                    run.results[model] = bench(run, plan, device, dtype, args.tiny, bw)
            continue
        if device.type == "cuda":
            torch.cuda.empty_cache()
        # On the GPU each model runs in a process of its own: the memory of one is fully given
        # back before the next, and a CUDA error in one (a failed graph capture leaves the random
        # generator unusable) cannot take the others with it.
        budget = run.left() * share[model] - 10
        if budget < need[model]:
            run.log(f"SKIP {model}: {run.left():.0f}s left")
            run.results.setdefault("skipped", []).append(model)
            continue
        run.log(f"== {model} (own process, {budget:.0f}s)")
        cmd = [sys.executable, "-m", "benchmarks.speed", "--child", model, "--out", str(args.out)]
        cmd += ["--budget-s", f"{budget:.0f}", "--bandwidth", f"{bw:.6g}"]
        cmd += ["--tiny"] if args.tiny else []
        try:
            subprocess.run(cmd, timeout=budget + 60, check=False, env=child_env)
        except subprocess.TimeoutExpired:
            run.log(f"{model}: killed after {budget + 60:.0f}s")
            run.results.setdefault("failed", {})[model] = "timed out"
        part = args.out / f"{model}.json"
        if part.exists():
            child = json.loads(part.read_text())
            if model in child:
                run.results[model] = child[model]
            for k, v in child.get("failed", {}).items():
                run.results.setdefault("failed", {})[k] = v
            run.results.setdefault("skipped", []).extend(child.get("skipped", []))
        run.save()
    run.save()
    if plot(run.results, args.out / "speed.png"):
        run.log(f"plot: {args.out / 'speed.png'}")
    section = render(run.results)
    if args.docs:
        write_docs(section, args.docs)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

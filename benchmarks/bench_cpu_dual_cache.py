"""CPU latency of the embedded model's inline completion: shared prefill, dual cache, no cache.

Each hole is the rest of one line of a standard-library Python file (prefix: the file up to a third of
the line's text; suffix: from the line's end), with about 1,000 tokens of context, infilled as the
editor's inline completion asks (single line, up to 24 tokens, 8 steps, 3 candidate lengths). The
engines named by ``--engines`` run every hole, interleaved so that all see the same load:

- ``shared``: the CPU default, the dual cache with one prefill shared by the candidate lengths
  (``DualCacheDenoiser(share_prefill=True)``);
- ``cached``: the dual cache with each candidate's own prefill (the default before the sharing);
- ``uncached``: one full forward per step (``MaskedDenoiser``), the exact loop.

Every pair of engines is compared on every hole (same text, and position-wise token agreement).

    python benchmarks/bench_cpu_dual_cache.py --threads 1 --holes 30 --engines shared,cached
    python benchmarks/bench_cpu_dual_cache.py --threads 2 --holes 10 --engines shared,cached,uncached
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

FILES = ("argparse.py", "typing.py", "dataclasses.py", "inspect.py", "pathlib.py", "subprocess.py")


def holes(count: int) -> list[tuple[str, str, str]]:
    """(prefix, suffix, expected rest of line) for ``count`` lines spread over a few stdlib files."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    per_file = -(-count // len(FILES))
    out = []
    for name in FILES:
        path = stdlib / name
        if not path.exists():
            path = stdlib / name.removesuffix(".py") / "__init__.py"
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines(keepends=True)
        starts = [0]
        for line in lines:
            starts.append(starts[-1] + len(line))
        # lines with some code on them, from the middle of the file on (so context is on both sides)
        picks = [
            i
            for i in range(len(lines) // 3, len(lines))
            if len(lines[i].strip()) >= 24 and not lines[i].lstrip().startswith("#")
        ]
        step = max(1, len(picks) // per_file)
        for i in picks[::step][:per_file]:
            line = lines[i].rstrip("\n")
            indent = len(line) - len(line.lstrip())
            cut = indent + (len(line) - indent) // 3
            prefix = text[: starts[i] + cut]
            suffix = text[starts[i] + len(line) :]
            out.append((prefix, suffix, line[cut:]))
    return out[:count]


def percentile(ts: list[float], q: float) -> float:
    ts = sorted(ts)
    return ts[min(len(ts) - 1, int(q * len(ts)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--holes", type=int, default=30)
    ap.add_argument("--context", type=int, default=1000, help="tokens of context (prefix + suffix)")
    ap.add_argument(
        "--engines", default="shared,cached", help="comma-separated: shared, cached, uncached"
    )
    args = ap.parse_args()
    names = [n.strip() for n in args.engines.split(",") if n.strip()]

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    from diffusion_lsp.engine import load_engine
    from diffusion_lsp.engine.api import InfillRequest, ModelSpec
    from diffusion_lsp.engine.masked.cache import DualCacheDenoiser
    from diffusion_lsp.engine.masked.denoiser import MaskedDenoiser

    default = load_engine(ModelSpec())
    if not (isinstance(default.denoiser, DualCacheDenoiser) and default.denoiser.share_prefill):
        print("the engine did not take the dual cache with a shared prefill", file=sys.stderr)
        return 1
    denoisers = {
        "shared": lambda: default.denoiser,
        "cached": lambda: DualCacheDenoiser(default.model, default.shift),
        "uncached": lambda: MaskedDenoiser(default.model, default.shift),
    }
    engines = {}
    for name in names:
        engines[name] = copy.copy(default)
        engines[name].denoiser = denoisers[name]()
    tok = default.tokenizer

    def request(prefix: str, suffix: str) -> InfillRequest:
        return InfillRequest(
            prefix,
            suffix,
            single_line=True,
            max_tokens=24,
            steps=8,
            alternatives=3,
            context_tokens=args.context,
        )

    cases = holes(args.holes)
    load_before = os.getloadavg()
    for engine in engines.values():  # warm-up
        engine.infill(request(*cases[0][:2]))
    times: dict[str, list[float]] = {name: [] for name in names}
    tokenize: dict[str, list[float]] = {name: [] for name in names}
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    same_text = dict.fromkeys(pairs, 0)
    agree = dict.fromkeys(pairs, 0)
    total = dict.fromkeys(pairs, 0)
    for prefix, suffix, _ in cases:
        req = request(prefix, suffix)
        outs = {}
        for name, engine in engines.items():
            t0 = time.perf_counter()
            result = engine.infill(req)
            times[name].append((time.perf_counter() - t0) * 1e3)
            tokenize[name].append(result.timings.tokenize_ms)
            outs[name] = result.text
        ids = {n: tok(t, add_special_tokens=False)["input_ids"] for n, t in outs.items()}
        for a, b in pairs:
            same_text[a, b] += outs[a] == outs[b]
            agree[a, b] += sum(x == y for x, y in zip(ids[a], ids[b]))
            total[a, b] += max(len(ids[a]), len(ids[b]), 1)
    load_after = os.getloadavg()

    print(
        f"embedded model, {args.threads} threads, {len(cases)} holes, context {args.context} "
        "tokens, single line, max_tokens 24, 8 steps, 3 candidate lengths"
    )
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    print("| engine | p50 ms | p90 ms | min ms | tokenize p50 ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, ts in times.items():
        print(
            f"| {name} | {statistics.median(ts):.0f} | {percentile(ts, 0.9):.0f} | {min(ts):.0f} "
            f"| {statistics.median(tokenize[name]):.1f} |"
        )
    for a, b in pairs:
        print(
            f"{a} vs {b}: same text on {same_text[a, b]}/{len(cases)} holes; token agreement "
            f"{agree[a, b]}/{total[a, b]} = {agree[a, b] / max(total[a, b], 1):.1%}"
        )
    for name, engine in engines.items():
        stats = getattr(engine.denoiser, "stats", None)
        if stats is not None:
            print(
                f"{name}: {stats.prefills} prefills ({stats.shared_prefills} shared) of "
                f"{max(stats.tokens_encoded)} slots per row, {stats.span_steps} span steps"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

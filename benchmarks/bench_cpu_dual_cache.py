"""CPU latency of the embedded model's inline completion with and without the dual KV cache.

Each hole is the rest of one line of a standard-library Python file (prefix: the file up to a third of
the line's text; suffix: from the line's end), with about 1,000 tokens of context, infilled as the
editor's inline completion asks (single line, up to 24 tokens, 8 steps, 3 candidate lengths). Both
engines run every hole, interleaved so that both see the same load; the cached output is compared with
the uncached one (same text, and position-wise token agreement).

    python benchmarks/bench_cpu_dual_cache.py --threads 2 --holes 30
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--holes", type=int, default=30)
    ap.add_argument("--context", type=int, default=1000, help="tokens of context (prefix + suffix)")
    args = ap.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    from diffusion_lsp.engine import load_engine
    from diffusion_lsp.engine.api import InfillRequest, ModelSpec
    from diffusion_lsp.engine.fastpath import DualCacheDenoiser
    from diffusion_lsp.engine.masked import MaskedDenoiser

    cached = load_engine(ModelSpec())
    if not isinstance(cached.denoiser, DualCacheDenoiser):
        print("the engine did not take the dual cache", file=sys.stderr)
        return 1
    uncached = copy.copy(cached)
    uncached.denoiser = MaskedDenoiser(cached.model, cached.shift)
    tok = cached.tokenizer

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
    for engine in (cached, uncached):  # warm-up
        engine.infill(request(*cases[0][:2]))
    times: dict[str, list[float]] = {"cached": [], "uncached": []}
    same_text = 0
    agree = total = 0
    for prefix, suffix, _ in cases:
        req = request(prefix, suffix)
        outs = {}
        for name, engine in (("cached", cached), ("uncached", uncached)):
            t0 = time.perf_counter()
            outs[name] = engine.infill(req).text
            times[name].append((time.perf_counter() - t0) * 1e3)
        a = tok(outs["cached"], add_special_tokens=False)["input_ids"]
        b = tok(outs["uncached"], add_special_tokens=False)["input_ids"]
        same_text += outs["cached"] == outs["uncached"]
        agree += sum(x == y for x, y in zip(a, b))
        total += max(len(a), len(b), 1)
    load_after = os.getloadavg()
    prefills = cached.denoiser.stats.prefills
    encoded = cached.denoiser.stats.tokens_encoded
    prefill_slots = max(encoded)

    print(
        f"embedded model, {args.threads} threads, {len(cases)} holes, context {args.context} "
        f"tokens (prefill canvas {prefill_slots} slots per candidate), single line, "
        "max_tokens 24, 8 steps, 3 candidate lengths"
    )
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    print("| denoiser | p50 ms | p90 ms | min ms |")
    print("| --- | ---: | ---: | ---: |")
    for name, ts in times.items():
        ts = sorted(ts)
        p90 = ts[min(len(ts) - 1, int(0.9 * len(ts)))]
        print(f"| {name} | {statistics.median(ts):.0f} | {p90:.0f} | {ts[0]:.0f} |")
    print(
        f"cached vs uncached: same text on {same_text}/{len(cases)} holes; "
        f"token agreement {agree}/{total} = {agree / total:.1%}; "
        f"{prefills} prefills, {cached.denoiser.stats.block_steps} block steps"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

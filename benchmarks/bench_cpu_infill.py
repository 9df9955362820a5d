"""CPU latency of a single-line infill with the embedded model's size: 1,000 tokens of context.

Every infill is one ``engine.infill`` request to the product's engine, loaded from a checkpoint
directory with ``load_engine`` as the server loads it (on the CPU: float32, the dual-cache fast path).
Each request names its canvas lengths and a FIXED number of denoising steps, so that random weights
(when no trained checkpoint is given) time the same work a trained model does; the table reports the
engine's own count of model calls (nfe), which a trained model's confidence can make smaller.

    python benchmarks/bench_cpu_infill.py --threads 2                 # random weights, small preset
    python benchmarks/bench_cpu_infill.py --threads 2 --model DIR     # a trained checkpoint
"""

from __future__ import annotations

import argparse
import glob
import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

CASES = [((16,), 1), ((16,), 2), ((16,), 4), ((16,), 8), ((8, 16, 32), 4)]  # (lengths, steps)


def stdlib_texts(count: int) -> list[str]:
    files = sorted(glob.glob(sysconfig.get_paths()["stdlib"] + "/**/*.py", recursive=True))[:count]
    return [open(f, encoding="utf-8", errors="replace").read() for f in files]


def export_random(preset_name: str, out_dir: str, texts: list[str]) -> None:
    """A randomly initialised model of ``preset_name`` with a tokenizer trained on ``texts``."""
    from diffusion_lsp.train.model import PRESETS, build_config, build_model, export
    from diffusion_lsp.train.tokenizer import special_ids, train_tokenizer

    tokenizer = train_tokenizer(texts, vocab_size=16384)
    model = build_model(build_config(PRESETS[preset_name], special_ids(tokenizer), len(tokenizer)))
    export(model, tokenizer, out_dir)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a trained checkpoint directory (default: random weights)")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--context", type=int, default=1000, help="tokens of context (prefix + suffix)")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from diffusion_lsp.engine import load_engine
    from diffusion_lsp.engine.api import InfillRequest, ModelSpec

    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            texts, path, label = stdlib_texts(50), args.model, args.model
        else:
            texts, path = stdlib_texts(600), tmp
            export_random(args.preset, tmp, texts)
            label = f"random weights, preset {args.preset}"
        engine = load_engine(ModelSpec(model=path, device="cpu"))
    text = max(texts, key=len)
    cut = len(text) // 2
    cut = text.index("\n", cut) + 1
    cut += len(text[cut:]) - len(text[cut:].lstrip(" "))
    prefix, suffix = text[:cut], text[text.index("\n", cut) :]

    print(
        f"model: {label}; {engine.info.parameters / 1e6:.1f} M parameters; {engine.info.dtype}; "
        f"{args.threads} threads; {args.context} context tokens; the product's engine"
    )
    print("| canvases (tokens) | steps | nfe | p50 ms | min ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for lengths, steps in CASES:
        request = InfillRequest(
            prefix,
            suffix,
            lengths=lengths,
            max_tokens=max(lengths),
            steps=steps,
            single_line=True,
            context_tokens=args.context,
        )
        engine.infill(request)  # warm-up
        times, nfe = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = engine.infill(request)
            times.append((time.perf_counter() - t0) * 1e3)
            nfe.append(result.nfe)
        print(
            f"| {'+'.join(map(str, lengths))} | {steps} | {statistics.median(nfe):.0f} | "
            f"{statistics.median(times):.0f} | {min(times):.0f} |"
        )


if __name__ == "__main__":
    main()

"""CPU latency of a single-line infill with the embedded model's size: 1,000 tokens of context.

Runs the harness's reference infiller (``diffusion_lsp.eval.reference``) with a FIXED number of
denoising steps, so that random weights (when no trained checkpoint exists) time the same work a
trained model does; with a trained checkpoint the confidence threshold usually stops earlier.

    python benchmarks/bench_cpu_infill.py --threads 2                 # random weights, small preset
    python benchmarks/bench_cpu_infill.py --threads 2 --model DIR     # a trained checkpoint
"""

from __future__ import annotations

import argparse
import glob
import statistics
import sysconfig
import tempfile
import time


def build_random(preset_name: str):
    from diffusion_lsp.train.model import PRESETS, build_config, build_model
    from diffusion_lsp.train.tokenizer import special_ids, train_tokenizer

    files = sorted(glob.glob(sysconfig.get_paths()["stdlib"] + "/**/*.py", recursive=True))[:600]
    texts = [open(f, encoding="utf-8", errors="replace").read() for f in files]
    tokenizer = train_tokenizer(texts, vocab_size=16384)
    model = build_model(build_config(PRESETS[preset_name], special_ids(tokenizer), len(tokenizer)))
    return model, tokenizer, texts


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
    from diffusion_lsp.eval.reference import ReferenceInfiller

    if args.model:
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.model)
        model = AutoModelForMaskedLM.from_pretrained(args.model, dtype=torch.float32)
        files = sorted(glob.glob(sysconfig.get_paths()["stdlib"] + "/**/*.py", recursive=True))[:50]
        texts = [open(f, encoding="utf-8", errors="replace").read() for f in files]
        label = args.model
    else:
        model, tokenizer, texts = build_random(args.preset)
        with tempfile.TemporaryDirectory() as tmp:  # load as the engine would: from_pretrained
            from transformers import AutoModelForMaskedLM

            model.save_pretrained(tmp)
            model = AutoModelForMaskedLM.from_pretrained(tmp, dtype=torch.float32)
        label = f"random weights, preset {args.preset}"
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())
    text = max(texts, key=len)
    cut = len(text) // 2
    cut = text.index("\n", cut) + 1
    cut += len(text[cut:]) - len(text[cut:].lstrip(" "))
    prefix, suffix = text[:cut], text[text.index("\n", cut) :]

    print(
        f"model: {label}; {n_params / 1e6:.1f} M parameters; {args.threads} threads; {args.context} context tokens"
    )
    print("| canvases (tokens) | steps | p50 ms | min ms |")
    print("| --- | ---: | ---: | ---: |")
    for lengths, steps in [((16,), 1), ((16,), 2), ((16,), 4), ((16,), 8), ((8, 16, 32), 4)]:
        infiller = ReferenceInfiller(
            model, tokenizer, threshold=2.0, max_steps=steps
        )  # threshold > 1: fixed steps
        rows = infiller.rows_for(prefix, suffix, lengths, args.context)
        infiller.denoise(rows)  # warm-up
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            infiller.denoise(infiller.rows_for(prefix, suffix, lengths, args.context))
            times.append((time.perf_counter() - t0) * 1e3)
        print(
            f"| {'+'.join(map(str, lengths))} | {steps} | {statistics.median(times):.0f} | {min(times):.0f} |"
        )


if __name__ == "__main__":
    main()

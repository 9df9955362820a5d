"""Measure one masked-diffusion denoising step: candidate lengths in one batch, and the head-only path.

Random weights from a real full-size configuration (no download), fixed step counts, warm-up kept out
of the timings. Prints a markdown table for docs/benchmarks.md.

    python benchmarks/engine_masked_step.py [--arch qwen2-1.5b|modernbert-large] [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import torch

from diffusion_lsp.engine.candidates import MULTI_LINE_LADDER, default_lengths
from diffusion_lsp.engine.masked.denoiser import MaskedDenoiser
from diffusion_lsp.engine.masked.loop import denoise, row_generators
from diffusion_lsp.engine.masked.policy import TopKPerStep
from diffusion_lsp.engine.tokens import build_canvas

ARCHS = {
    # Dream-7B / DiffuCoder are Qwen2.5-7B-shaped; 1.5B keeps the run short. is_causal=False.
    "qwen2-1.5b": dict(
        kind="qwen2",
        vocab_size=151936,
        hidden_size=1536,
        intermediate_size=8960,
        num_hidden_layers=28,
        num_attention_heads=12,
        num_key_value_heads=2,
    ),
    "qwen2-7b": dict(
        kind="qwen2",
        vocab_size=152064,
        hidden_size=3584,
        intermediate_size=18944,
        num_hidden_layers=28,
        num_attention_heads=28,
        num_key_value_heads=4,
    ),
    "modernbert-large": dict(
        kind="modernbert",
        vocab_size=50368,
        hidden_size=1024,
        intermediate_size=2624,
        num_hidden_layers=28,
        num_attention_heads=16,
    ),
}


def build(arch: str, device: str, dtype: torch.dtype):
    cfg = dict(ARCHS[arch])
    kind = cfg.pop("kind")
    if kind == "qwen2":
        from transformers import Qwen2Config, Qwen2ForCausalLM

        model = Qwen2ForCausalLM(Qwen2Config(**cfg, is_causal=False, tie_word_embeddings=False))
        shift = True
    else:
        from transformers import ModernBertConfig, ModernBertForMaskedLM

        model = ModernBertForMaskedLM(ModernBertConfig(**cfg))
        shift = False
    return model.to(device=device, dtype=dtype).eval(), shift, cfg["vocab_size"]


def timed(fn, device: str, repeat: int) -> float:
    fn()  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1000 / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", choices=sorted(ARCHS), default="qwen2-1.5b")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--context", type=int, default=1024, help="prefix + suffix tokens")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    torch.manual_seed(0)
    model, shift, vocab = build(args.arch, args.device, dtype)
    mask, pad = vocab - 1, 0
    g = torch.Generator().manual_seed(0)
    prefix = torch.randint(1, vocab - 1, (args.context * 3 // 4,), generator=g).tolist()
    suffix = torch.randint(1, vocab - 1, (args.context // 4,), generator=g).tolist()

    def run(lengths, denoiser):
        rows = [(prefix, [mask] * n, suffix) for n in lengths]
        canvas = build_canvas(rows, [[True] * n for n in lengths], pad, args.device)
        return lambda: denoise(
            denoiser,
            canvas.tokens,
            canvas.attention,
            canvas.free,
            mask_id=mask,
            policy=TopKPerStep(),
            steps=args.steps,
            temperature=0.0,
            generators=row_generators([0] * len(lengths), args.device),
        )

    fast = MaskedDenoiser(model, shift)
    full = MaskedDenoiser(model, shift)
    full.body = None  # the generic path: full logits, then a gather
    params = sum(p.numel() for p in model.parameters()) / 1e9
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(
        f"\n{args.arch} ({params:.2f} B parameters, random weights), {name}, {dtype}, "
        f"context {args.context} tokens, {args.steps} steps\n"
    )
    print("| candidates (hole lengths) | head path | ms per step |")
    print("|---|---|---|")
    cases = [
        ((64,), "head on masked rows"),
        ((64,), "full logits"),
        (default_lengths(64, single_line=False), "head on masked rows"),
        (MULTI_LINE_LADDER, "head on masked rows"),
        (MULTI_LINE_LADDER, "full logits"),
    ]
    for lengths, path in cases:
        den = fast if path.startswith("head") else full
        ms = timed(run(lengths, den), args.device, args.repeat) / args.steps
        print(f"| {', '.join(map(str, lengths))} | {path} | {ms:.1f} |")


if __name__ == "__main__":
    main()

"""The masked code models on this machine: the memory each needs, and a one-line infill on the CPU.

``--memory``: the parameter count of each family at its published size, counted by building the
native transformers model (the class ``engine/families.py`` loads it with) on the meta device from
the published shape, and the bytes its weights take in bf16 and fp32.

``--latency``: an Open-dCoder-0.5B-shaped checkpoint (Qwen2.5-Coder-0.5B's shape) with random
weights, saved in its published layout (a plain Qwen2 save, mask ``<M>``) and loaded through
``load_engine`` as a user's would be, then the request an automatic inline completion sends (single
line, at most 24 tokens, 8 steps, ``context_tokens`` 1,000) timed in bf16 and in fp32 through
``engine.infill``: the product's default denoiser (one full forward per step on the CPU) and the
dual cache forced on (``fast_path=True``). The FLOP floor in the same run: 2 x non-embedding
parameters x context tokens / the measured matmul rate of that dtype at the model's shapes.

    python benchmarks/bench_masked_models.py --memory
    python benchmarks/bench_masked_models.py --latency --threads 2 --runs 3 --default-runs 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

# Published shapes (shared/model-facts/FACTS.md and the configs beside it; Qwen2.5-Coder-0.5B's
# config for Open-dCoder): transformers class, hidden, layers, heads, KV heads, FFN, vocab rows, tied.
SHAPES = {
    "Dream-v0 / DiffuCoder / Dream-Coder / DreamOn 7B": (
        "qwen2",
        3584,
        28,
        28,
        4,
        18944,
        152064,
        False,
    ),
    "LLaDA-8B (Base, Instruct, 1.5)": ("llama", 4096, 32, 32, 32, 12288, 126464, False),
    "Open-dCoder-0.5B": ("qwen2", 896, 24, 14, 2, 4864, 151936, True),
}


def config_of(shape: tuple) -> object:
    from transformers import LlamaConfig, Qwen2Config

    base, hidden, layers, heads, kv, ffn, vocab, tied = shape
    cls = Qwen2Config if base == "qwen2" else LlamaConfig
    return cls(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        intermediate_size=ffn,
        vocab_size=vocab,
        tie_word_embeddings=tied,
        is_causal=False,
    )


def parameters(shape: tuple) -> tuple[int, int]:
    """(all parameters, parameters outside the embedding and head) of the native model."""
    import torch
    from transformers import LlamaForCausalLM, Qwen2ForCausalLM

    cls = Qwen2ForCausalLM if shape[0] == "qwen2" else LlamaForCausalLM
    with torch.device("meta"):
        model = cls(config_of(shape))
    total = sum(p.numel() for p in model.parameters())
    body = sum(
        p.numel() for n, p in model.named_parameters() if "embed" not in n and "lm_head" not in n
    )
    return total, body


def memory() -> list[dict]:
    rows = []
    for name, shape in SHAPES.items():
        total, body = parameters(shape)
        rows.append(
            {
                "model": name,
                "parameters": total,
                "body": body,
                "bf16_gb": total * 2 / 1e9,
                "fp32_gb": total * 4 / 1e9,
            }
        )
    return rows


def matmul_rate(dtype, hidden: int, ffn: int, tokens: int) -> float:
    """FLOP/s of one ``[tokens, hidden] x [hidden, ffn]`` product, the model's largest shape."""
    import torch

    a = torch.randn(tokens, hidden).to(dtype)
    b = torch.randn(hidden, ffn).to(dtype)
    for _ in range(3):
        a @ b
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < 1.0:
        a @ b
        n += 1
    return 2 * tokens * hidden * ffn * n / (time.perf_counter() - start)


def save_open_dcoder(out: Path) -> Path:
    """A random Open-dCoder-0.5B-shaped checkpoint in its published layout (a plain Qwen2 save
    with the tiny published tokenizer: mask ``<M>``; the embedding rows past it are padding)."""
    import torch
    from transformers import Qwen2ForCausalLM

    from diffusion_lsp.engine.testing.published import build

    build(out, "open-dcoder")  # the tokenizer and config keys as published
    config = json.loads((out / "config.json").read_text())
    shape = SHAPES["Open-dCoder-0.5B"]
    for key, value in zip(
        (
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "intermediate_size",
            "vocab_size",
        ),
        shape[1:7],
    ):
        config[key] = value
    config["tie_word_embeddings"] = shape[7]
    config.pop("max_window_layers", None)
    torch.manual_seed(0)
    from transformers import Qwen2Config

    model = Qwen2ForCausalLM(Qwen2Config(**config)).to(torch.bfloat16)
    model.save_pretrained(out)
    return out


def request(context_tokens: int):
    import sysconfig

    from diffusion_lsp.engine.api import InfillRequest

    src = (Path(sysconfig.get_paths()["stdlib"]) / "argparse.py").read_text()
    at = src.index("        if not self._has_negative_number_optionals")
    cut = at + 20  # mid-line: the rest of the line is the hole
    end = src.index("\n", cut)
    return InfillRequest(
        prefix=src[:cut],
        suffix=src[end:],
        max_tokens=24,
        steps=8,
        single_line=True,
        context_tokens=context_tokens,
    )


def latency(threads: int, runs: int, default_runs: int, context_tokens: int) -> dict:
    import torch

    from diffusion_lsp.engine import load_engine
    from diffusion_lsp.engine.api import ModelSpec
    from diffusion_lsp.engine.masked.engine import MaskedDiffusionEngine

    torch.set_num_threads(threads)
    req = request(context_tokens)
    out: dict = {"threads": threads, "context_tokens": context_tokens, "load": os.getloadavg()[0]}
    shape = SHAPES["Open-dCoder-0.5B"]
    _, body = parameters(shape)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_open_dcoder(Path(tmp))
        for dtype_name in ("bfloat16", "float32"):
            engine = load_engine(ModelSpec(model=str(path), device="cpu", dtype=dtype_name))
            tokens = len(engine.tokenizer(req.prefix + req.suffix)["input_ids"])
            used = min(tokens, context_tokens)
            rate = matmul_rate(getattr(torch, dtype_name), shape[1], shape[5], used)
            floor_ms = 2 * body * used / rate * 1000
            cached = MaskedDiffusionEngine(
                engine.model, engine.tokenizer, engine.info, special=engine.special, fast_path=True
            )
            # The dual cache first: its warm-up also warms the weights and kernels the default
            # path uses, which then runs ``default_runs`` times (each several seconds here).
            for label, eng, n in (("dual cache", cached, runs), ("default", engine, default_runs)):
                if label == "dual cache":
                    eng.infill(req)  # warm-up
                times, nfe = [], 0
                for _ in range(n):
                    t = time.perf_counter()
                    result = eng.infill(req)
                    times.append((time.perf_counter() - t) * 1000)
                    nfe = result.nfe
                p50 = statistics.median(times)
                out[f"{dtype_name} {label}"] = row = {
                    "p50_ms": round(p50),
                    "runs": [round(t) for t in times],
                    "nfe": nfe,
                    "denoiser": type(eng.denoiser).__name__,
                    "floor_ms": round(floor_ms, 1),
                    "ratio_to_floor": round(p50 / floor_ms, 1),
                    "gflops": round(rate / 1e9),
                }
                print(dtype_name, label, json.dumps(row), file=sys.stderr, flush=True)
            del engine, cached
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3, help="timed runs of the dual cache")
    parser.add_argument("--default-runs", type=int, default=1, help="timed runs of the default")
    parser.add_argument("--context-tokens", type=int, default=1000)
    args = parser.parse_args(argv)
    if args.memory or not args.latency:
        for row in memory():
            print(json.dumps(row))
    if args.latency:
        print(
            json.dumps(
                latency(args.threads, args.runs, args.default_runs, args.context_tokens), indent=1
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

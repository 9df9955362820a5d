# ruff: noqa: B023  (every lambda below is timed at once, inside the loop that binds its names)
"""Side-by-side speed of infilling: this engine's fast path against transformers' own loops and the
memory-bandwidth floor, on full-size configurations with random bf16 weights and fixed step counts.

    python benchmarks/bench_speed.py --out OUT            # one GPU, under 10 minutes
    python benchmarks/bench_speed.py --tiny --out OUT     # the whole script on the CPU in a minute
    python benchmarks/bench_speed.py --render OUT/speed.json --docs docs/benchmarks.md

Two models: a dense masked-diffusion model of the Dream/DiffuCoder class (the Qwen2-7B configuration,
bidirectional attention, shifted logits) and DiffusionGemma-26B-A4B (mixture of experts, 128 experts,
top 8). No weights can be downloaded, so both are built from their configurations with random weights:
latency does not depend on the values, but every confidence-driven choice (early stopping, acceptance)
is fixed instead (fixed step counts, no early exit), and the agreement numbers compare two loops on the
same random model, not quality. Writes ``speed.json`` (with ``dense.json``, ``gemma.json``, ``hf_ar.json`` from the
process of each model), ``speed.png`` and ``speed.log`` under ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _p in (ROOT, ROOT / "kernels"):  # run from a checkout without installing
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

DREAM_MASK_ID = 151666  # Dream's mask id, an ordinary row of the 152064-row embedding


def dense_mask_id(config: Any) -> int:
    return DREAM_MASK_ID if config.vocab_size > DREAM_MASK_ID else config.vocab_size - 2


@dataclass(frozen=True)
class Plan:
    """What one run measures."""

    contexts: tuple[int, ...]
    lengths: tuple[int, ...]
    steps: int
    reps: dict[int, int]  # context -> timed repetitions
    sweep: tuple[int, ...]  # canvas lengths for the crossover
    typing_requests: int
    typing_context: int
    budget_s: float
    sweep_reps: int = 3


FULL = Plan(
    contexts=(512, 2048, 8192),
    lengths=(16, 32, 64),
    steps=8,
    reps={512: 10, 2048: 10, 8192: 5},
    sweep=(8, 16, 32, 64, 128, 256),
    typing_requests=50,
    typing_context=2048,
    budget_s=540.0,
)
TINY = Plan(
    contexts=(48,),
    lengths=(4, 8),
    steps=3,
    reps={48: 1},
    sweep=(4, 16),
    typing_requests=4,
    typing_context=48,
    budget_s=240.0,
    sweep_reps=1,
)


# -- configurations ------------------------------------------------------------------------------


def dense_config(tiny: bool) -> Any:
    """Qwen2-7B (the DiffuCoder-7B and Dream-7B backbone); attention is made bidirectional by the
    engine's stack, which never applies a causal mask."""
    from transformers import Qwen2Config

    if tiny:
        return Qwen2Config(
            vocab_size=1024,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=4096,
        )
    return Qwen2Config(
        vocab_size=152064,
        hidden_size=3584,
        intermediate_size=18944,
        num_hidden_layers=28,
        num_attention_heads=28,
        num_key_value_heads=4,
        max_position_embeddings=131072,
        rope_theta=1_000_000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
    )


# DiffusionGemma-26B-A4B's text backbone is Gemma-4-26B-A4B. transformers' DiffusionGemmaTextConfig
# defaults describe a small dense model, so the sizes come from the published Gemma-4-26B-A4B model
# definition (MaxText's gemma4-26b.yml): 30 layers, hidden 2816, 16 query heads, 8 KV heads of 256 on
# sliding layers, 2 KV heads of 512 (keys = values) on global layers, a dense MLP of 2112 beside 128
# experts of 704 with top-8 routing, sliding window 1024, vocabulary 262144, final softcap 30.
GEMMA_26B_A4B = {
    "vocab_size": 262144,
    "hidden_size": 2816,
    "intermediate_size": 2112,
    "num_hidden_layers": 30,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 256,
    "global_head_dim": 512,
    "num_global_key_value_heads": 2,
    "sliding_window": 1024,
    "num_experts": 128,
    "top_k_experts": 8,
    "moe_intermediate_size": 704,
    "max_position_embeddings": 131072,
}
GEMMA_TINY = {
    "vocab_size": 512,
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "global_head_dim": 32,
    "num_global_key_value_heads": 1,
    "sliding_window": 16,
    "layer_types": ["sliding_attention"] * 3 + ["full_attention"],
    "num_experts": 16,
    "top_k_experts": 2,
    "moe_intermediate_size": 32,
    "max_position_embeddings": 4096,
}
# The vision tower plays no part in text infilling; a small one keeps memory for the text model.
VISION_SMALL = {
    "model_type": "gemma4_vision",
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "head_dim": 8,
    "position_embedding_size": 64,
}


def gemma_config(tiny: bool) -> Any:
    from transformers import DiffusionGemmaConfig

    return DiffusionGemmaConfig(
        text_config=dict(GEMMA_TINY if tiny else GEMMA_26B_A4B),
        vision_config=dict(VISION_SMALL),
        canvas_length=64,
    )


def build_random(cls: Any, config: Any, device: Any, dtype: Any) -> Any:
    """A model with random weights built in place on ``device``: on the meta device first, weights
    tied (DiffusionGemma's encoder and decoder share every layer; building both would need twice the
    memory), then each distinct tensor allocated once and initialised by the model's own
    ``_init_weights``. (``Module.to_empty`` would untie shared parameters and double the memory.)"""
    import torch

    with torch.device("meta"):
        model = cls._from_config(config, dtype=dtype)
    model.tie_weights()
    made: dict[int, Any] = {}
    for mod in model.modules():
        for table in (mod._parameters, mod._buffers):
            for name, t in list(table.items()):
                if t is None:
                    continue
                new = made.get(id(t))
                if new is None:
                    new = torch.empty_like(t, device=device)
                    if isinstance(t, torch.nn.Parameter):
                        new = torch.nn.Parameter(new, requires_grad=False)
                    made[id(t)] = new
                table[name] = new
    with torch.no_grad():
        model.initialize_weights()
        for name, buf in model.named_buffers():
            if name.endswith(
                "layer_scalar"
            ):  # set in __init__, not by _init_weights (encoder layers)
                buf.fill_(1.0)
    return model.eval()


# -- timing --------------------------------------------------------------------------------------


class Clock:
    """Wall time of a callable, synchronised with the device."""

    def __init__(self, device: Any) -> None:
        self.device = device

    def sync(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def ms(self, fn: Callable[[], Any]) -> float:
        self.sync()
        t0 = time.perf_counter()
        fn()
        self.sync()
        return (time.perf_counter() - t0) * 1000

    def series(self, fn: Callable[[], Any], reps: int, warmup: int = 1) -> list[float]:
        for _ in range(warmup):
            fn()
        return [self.ms(fn) for _ in range(reps)]


def p50(xs: list[float]) -> float:
    return statistics.median(xs)


def p95(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, math.ceil(0.95 * len(s)) - 1)]


def summary(xs: list[float]) -> dict[str, float]:
    return {"p50": round(p50(xs), 3), "p95": round(p95(xs), 3), "n": len(xs)}


class Run:
    """Results, log and the time budget of one benchmark run; results are flushed after each phase."""

    def __init__(self, out: Path, budget_s: float, name: str = "speed") -> None:
        self.out = out
        self.name = name
        self.start = time.perf_counter()
        self.budget_s = budget_s
        self.results: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S")}
        out.mkdir(parents=True, exist_ok=True)
        self.log_file = (out / "speed.log").open("a")

    def log(self, msg: str) -> None:
        line = f"[{time.perf_counter() - self.start:7.1f}s] {msg}"
        print(line, flush=True)
        self.log_file.write(line + "\n")
        self.log_file.flush()

    def left(self) -> float:
        return self.budget_s - (time.perf_counter() - self.start)

    def save(self) -> None:
        self.results["elapsed_s"] = round(time.perf_counter() - self.start, 1)
        (self.out / f"{self.name}.json").write_text(json.dumps(self.results, indent=1))

    @contextlib.contextmanager
    def phase(self, name: str, need_s: float = 0.0):
        if self.left() < need_s:
            self.log(f"SKIP {name}: {self.left():.0f}s left, needs about {need_s:.0f}s")
            self.results.setdefault("skipped", []).append(name)
            self.save()
            yield False
            return
        self.log(f"== {name}")
        try:
            yield True
        except Exception as exc:  # a failed phase is reported, and the run goes on
            import traceback

            self.log(f"FAILED {name}: {exc!r}\n{traceback.format_exc()}")
            self.results.setdefault("failed", {})[name] = repr(exc)
        finally:
            self.save()


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


# -- dense masked diffusion ----------------------------------------------------------------------


def random_tokens(n: int, vocab: int, seed: int, device: Any) -> Any:
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randint(10, min(vocab - 10, 150000), (n,), generator=g).to(device)


def dense_canvas(
    context: int, hole: int, vocab: int, device: Any, seed: int = 0, mask_id: int = DREAM_MASK_ID
) -> tuple[Any, Any, Any]:
    """prefix (3/4 of the context) + hole of masks + suffix (1/4). Returns tokens, attention, free [1, L]."""
    import torch

    suffix = context // 4
    prefix = context - suffix
    toks = random_tokens(context, vocab, seed, device)
    x = torch.cat([toks[:prefix], torch.full((hole,), mask_id, device=device), toks[prefix:]])[None]
    free = torch.zeros_like(x, dtype=torch.bool)
    free[0, prefix : prefix + hole] = True
    return x, torch.ones_like(x, dtype=torch.bool), free


def engine_loop(mask_id: int) -> tuple[str, Callable[..., Any]]:
    """The engine's own denoising loop where it exists on this checkout, else the minimal loop below.
    Both call the denoiser once per step and commit the most confident tokens on an even schedule."""
    try:
        from diffusion_lsp.engine.policy import TopKPerStep
        from diffusion_lsp.engine.sampler import denoise, row_generators

        params = inspect.signature(denoise).parameters
        if {"policy", "steps", "generators", "mask_id"} <= set(params):

            def loop(den: Any, x: Any, attention: Any, free: Any, steps: int) -> Any:
                return denoise(
                    den,
                    x,
                    attention,
                    free,
                    mask_id=mask_id,
                    policy=TopKPerStep(),
                    steps=steps,
                    temperature=0.0,
                    generators=row_generators([0] * x.shape[0], x.device),
                ).tokens

            return "diffusion_lsp.engine.sampler.denoise", loop
    except ImportError:
        pass
    return "benchmark fallback loop", fallback_loop


def fallback_loop(den: Any, x: Any, attention: Any, free: Any, steps: int) -> Any:
    """Greedy, an even number of tokens committed per step, the most confident first (LLaDA's
    low-confidence remasking); the fused sampler picks tokens and confidences."""
    import torch
    from diffusion_lsp_kernels import sample_rows

    x = x.clone()
    masked = free.clone()
    for step in range(steps):
        rows = masked.nonzero(as_tuple=True)
        if rows[0].numel() == 0:
            break
        logits = den(x, attention, rows)  # [N, V]
        pick = sample_rows(logits, temperature=0.0)
        conf = torch.full(x.shape, -1.0, device=x.device)
        conf[rows] = pick.argmax_prob
        proposal = x.clone()
        proposal[rows] = pick.argmax
        left = steps - step
        k = (masked.sum(1) + left - 1) // left  # [B]
        order = conf.argsort(dim=1, descending=True)
        rank = torch.empty_like(order)
        rank.scatter_(1, order, torch.arange(order.shape[1], device=x.device).expand_as(order))
        commit = masked & (rank < k[:, None])
        x = torch.where(commit, proposal, x)
        masked &= ~commit
    return x


class GraphedAR:
    """Token-by-token greedy decoding of the same backbone (causal): a static KV cache, and the
    decode step (forward, argmax, cache write, position bump) captured as one CUDA graph, which is
    what transformers' ``generate`` with a static cache and ``torch.compile(mode="reduce-overhead")``
    does. On the CPU the same step runs eagerly."""

    def __init__(self, stack: Any, max_len: int, max_new: int) -> None:
        import torch

        self.stack = stack
        dev = stack.device
        self.keys, self.values = stack.new_kv(1, max_len)
        self.max_len = max_len
        self.ids = torch.zeros((1, 1), dtype=torch.long, device=dev)
        self.pos = torch.zeros((1,), dtype=torch.long, device=dev)
        self.count = torch.zeros((1,), dtype=torch.long, device=dev)
        self.out = torch.zeros((max_new,), dtype=torch.long, device=dev)
        self.bias = torch.full((1, 1, 1, max_len), float("-inf"), dtype=stack.dtype, device=dev)
        self.graph = None
        if dev.type == "cuda":
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side), torch.inference_mode():
                self._step()
            torch.cuda.current_stream().wait_stream(side)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph), torch.inference_mode():
                self._step()

    def _step(self) -> None:
        self.bias.index_fill_(3, self.pos, 0.0)
        hidden = self.stack.forward(
            self.ids, self.pos[None], self.keys, self.values, self.pos, self.bias
        )
        nxt = self.stack.head(hidden[:, -1]).argmax(-1)  # [1]
        self.out.index_copy_(0, self.count, nxt)
        self.ids.copy_(nxt[:, None])
        self.pos.add_(1)
        self.count.add_(1)

    def generate(self, prompt: Any, new_tokens: int) -> Any:
        import torch

        n = prompt.shape[1]
        with torch.inference_mode():
            causal = torch.full(
                (1, 1, n, self.max_len), float("-inf"), dtype=self.stack.dtype, device=prompt.device
            )
            causal[..., :n] = torch.triu(causal[..., :n], diagonal=1)
            hidden = self.stack.forward(
                prompt,
                torch.arange(n, device=prompt.device)[None],
                self.keys,
                self.values,
                0,
                causal,
            )
            first = self.stack.head(hidden[:, -1]).argmax(-1)
            self.bias.fill_(float("-inf"))
            self.bias[..., :n] = 0
            self.ids.copy_(first[:, None])
            self.pos.fill_(n)
            self.count.zero_()
            self.out[0] = first[0]
            self.count.fill_(1)
            for _ in range(new_tokens - 1):
                if self.graph is not None:
                    self.graph.replay()
                else:
                    self._step()
        return self.out[:new_tokens]


def weight_bytes(model: Any, skip_embedding: bool = True) -> int:
    """Bytes of the weights one forward reads: every parameter once; the input embedding table is
    only gathered from (a few rows), unless it doubles as the output head."""
    seen, total = set(), 0
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings()
    head_w = head.weight if head is not None else None
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        if skip_embedding and p is emb and p is not head_w:
            continue
        total += p.numel() * p.element_size()
    return total


def bench_dense(
    run: Run, plan: Plan, device: Any, dtype: Any, tiny: bool, bw: float
) -> dict[str, Any]:
    import torch
    from transformers import Qwen2ForCausalLM

    from diffusion_lsp.engine.fastpath import DualCacheDenoiser

    clock = Clock(device)
    cfg = dense_config(tiny)
    mid = dense_mask_id(cfg)
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = build_random(Qwen2ForCausalLM, cfg, device, dtype)
    res: dict[str, Any] = {
        "config": "Qwen2-7B layout (28 layers, hidden 3584, 28/4 heads, MLP 18944, vocab 152064)"
        if not tiny
        else "tiny Qwen2",
        "parameters": sum(p.numel() for p in model.parameters()),
        "build_s": round(time.perf_counter() - t0, 1),
        "steps": plan.steps,
    }
    step_bytes = weight_bytes(model)
    res["weight_bytes_per_step"] = step_bytes
    floor_step = step_bytes / bw * 1000
    res["floor_step_ms"] = round(floor_step, 3)
    run.results["dense"] = res  # partial results survive a later failure
    run.log(f"dense model: {res}")
    loop_name, loop = engine_loop(dense_mask_id(cfg))
    res["loop"] = loop_name
    den = DualCacheDenoiser(model, shift=True)
    t0 = time.perf_counter()
    den.warmup(
        [1], plan.lengths, plan.contexts, progress=lambda m, f: run.log(f"  warm-up {f:4.0%} {m}")
    )
    res["warmup_s"] = round(time.perf_counter() - t0, 2)
    res["captures_after_warmup"] = den.stats.captures
    stack = den.stack
    rows = res["rows"] = []
    for ctx in plan.contexts:
        ar = GraphedAR(stack, max_len=ctx + max(plan.lengths) + 8, max_new=max(plan.lengths))
        for n in plan.lengths:
            if run.left() < 30:
                run.log("dense: out of time budget")
                break
            x, att, free = dense_canvas(ctx, n, cfg.vocab_size, device, mask_id=mid)
            reps = plan.reps[ctx]
            a = clock.series(lambda: loop(den, x, att, free, plan.steps), reps)
            prompt = x[:, : ctx - ctx // 4]  # AR sees the prefix, and the suffix first (FIM order)
            prompt = torch.cat([x[:, -(ctx // 4) :], prompt], dim=1) if ctx // 4 else prompt
            c = clock.series(lambda: ar.generate(prompt, n), reps)
            row = {
                "context": ctx,
                "tokens": n,
                "engine": summary(a),
                "ar": summary(c),
                "floor_ms": round(plan.steps * floor_step, 3),
                "speedup_vs_ar": round(p50(c) / p50(a), 2),
            }
            rows.append(row)
            run.log(f"dense {row}")
            run.save()
    res["captures_after_requests"] = den.stats.captures

    # Dual cache against the uncached loop (refresh_every=1 recomputes everything every step).
    ctx_a = plan.contexts[1] if len(plan.contexts) > 1 else plan.contexts[0]
    n_a = plan.lengths[1] if len(plan.lengths) > 1 else plan.lengths[0]
    exact = DualCacheDenoiser(model, shift=True, refresh_every=1, cuda_graphs=False)
    same, total, exact_ms, cached_ms = 0, 0, [], []
    for seed in range(plan.sweep_reps):
        x, att, free = dense_canvas(ctx_a, n_a, cfg.vocab_size, device, seed=seed, mask_id=mid)
        out_e = loop(exact, x, att, free, plan.steps)
        out_c = loop(den, x, att, free, plan.steps)
        same += int((out_e[free] == out_c[free]).sum())
        total += int(free.sum())
        exact_ms.append(clock.ms(lambda: loop(exact, x, att, free, plan.steps)))
        cached_ms.append(clock.ms(lambda: loop(den, x, att, free, plan.steps)))
    res["dual_cache"] = {
        "context": ctx_a,
        "tokens": n_a,
        "token_agreement_with_uncached": round(same / total, 4),
        "uncached_ms_p50": round(p50(exact_ms), 2),
        "cached_ms_p50": round(p50(cached_ms), 2),
    }
    if den.use_graphs:  # graph replay against the eager step on the same inputs
        x, att, free = dense_canvas(ctx_a, n_a, cfg.vocab_size, device, seed=7, mask_id=mid)
        rws = free.nonzero(as_tuple=True)
        eager = DualCacheDenoiser(model, shift=True, cuda_graphs=False)
        eager(x, att, rws)
        den(x, att, rws)
        diff = (eager(x, att, rws) - den(x, att, rws)).abs().max().item()
        res["dual_cache"]["graph_vs_eager_max_abs_logit_diff"] = diff
    run.log(f"dual cache: {res['dual_cache']}")

    # Candidate lengths batched into one forward per step.
    n_c = plan.lengths[-1]
    x, att, free = dense_canvas(ctx_a, n_c, cfg.vocab_size, device, seed=3, mask_id=mid)
    cands = [max(1, n_c // 4), n_c // 2, 3 * n_c // 4, n_c]
    xb = x.repeat(len(cands), 1)
    fb = free.repeat(len(cands), 1)
    pre = ctx_a - ctx_a // 4
    for i, k in enumerate(cands):  # shorter candidates: the extra mask slots become padding
        xb[i, pre + k : pre + n_c] = 0
        fb[i, pre + k : pre + n_c] = False
    attb = torch.ones_like(xb, dtype=torch.bool)
    for i, k in enumerate(cands):
        attb[i, pre + k : pre + n_c] = False
    batched = clock.series(lambda: loop(den, xb, attb, fb, plan.steps), plan.sweep_reps)
    single = clock.series(lambda: loop(den, x, att, free, plan.steps), plan.sweep_reps)
    res["candidates"] = {
        "context": ctx_a,
        "lengths": cands,
        "batched_ms_p50": round(p50(batched), 2),
        "single_longest_ms_p50": round(p50(single), 2),
    }
    run.log(f"candidates: {res['candidates']}")

    # Crossover: a block step per canvas length against one autoregressive token.
    sweep = []
    ar = GraphedAR(stack, max_len=ctx_a + 16, max_new=9)
    prompt = x[:, :ctx_a]
    tok_ms = (
        p50(clock.series(lambda: ar.generate(prompt, 9), 2 * plan.sweep_reps))
        - p50(clock.series(lambda: ar.generate(prompt, 1), 2 * plan.sweep_reps))
    ) / 8
    for n in plan.sweep:
        xs, atts, frees = dense_canvas(ctx_a, n, cfg.vocab_size, device, seed=5, mask_id=mid)
        rws = frees.nonzero(as_tuple=True)
        den(xs, atts, rws)  # prefill
        step_ms = p50(clock.series(lambda: den(xs, atts, rws), 3 * plan.sweep_reps))
        sweep.append({"tokens": n, "step_ms": round(step_ms, 3)})
    res["crossover"] = crossover(sweep, tok_ms, ctx_a)
    run.log(f"dense crossover: {res['crossover']}")
    res["captures_total"] = den.stats.captures
    if run.left() > 40:
        res["fp8"] = bench_dense_fp8(run, plan, model, den, loop, cfg, device, bw)
    return res


def bench_dense_fp8(
    run: Run,
    plan: Plan,
    model: Any,
    den: Any,
    loop: Callable[..., Any],
    cfg: Any,
    device: Any,
    bw: float,
) -> dict[str, Any]:
    """The same infills with the linear layers' weights in FP8 (``engine.fp8``, row-wise e4m3,
    activations quantized per token): latency, and agreement of the greedy tokens with bf16."""
    import torch

    from diffusion_lsp.engine.fastpath import DualCacheDenoiser
    from diffusion_lsp.engine.fp8 import quantize_linears, supported

    if device.type == "cuda" and not supported(device):
        return {"skipped": "no FP8 matrix units on this GPU"}
    clock = Clock(device)
    mid = dense_mask_id(cfg)
    n = plan.lengths[1] if len(plan.lengths) > 1 else plan.lengths[0]
    canvases = {
        ctx: dense_canvas(ctx, n, cfg.vocab_size, device, seed=11, mask_id=mid)
        for ctx in plan.contexts
    }
    bf16 = {ctx: loop(den, x, att, free, plan.steps) for ctx, (x, att, free) in canvases.items()}
    bf16_ms = {
        ctx: p50(clock.series(lambda c=c: loop(den, *c, plan.steps), plan.reps[ctx]))
        for ctx, c in canvases.items()
    }
    den.reset()  # its graphs read the bf16 weights: never replayed after this
    if device.type == "cuda":
        torch.cuda.empty_cache()
    t0 = time.perf_counter()
    replaced = quantize_linears(model)
    res: dict[str, Any] = {
        "layers": replaced,
        "quantize_s": round(time.perf_counter() - t0, 2),
        "weight_bytes_per_step": weight_bytes(model),
        "tokens": n,
        "rows": [],
    }
    floor_step = res["weight_bytes_per_step"] / bw * 1000
    den8 = DualCacheDenoiser(model, shift=True)
    den8.warmup([1], [n], plan.contexts)
    for ctx, (x, att, free) in canvases.items():
        out = loop(den8, x, att, free, plan.steps)
        agree = float((out[free] == bf16[ctx][free]).float().mean())
        ms = clock.series(
            lambda x=x, att=att, free=free: loop(den8, x, att, free, plan.steps), plan.reps[ctx]
        )
        row = {
            "context": ctx,
            "fp8": summary(ms),
            "bf16_p50": round(bf16_ms[ctx], 3),
            "token_agreement_with_bf16": round(agree, 4),
            "floor_ms": round(plan.steps * floor_step, 3),
        }
        res["rows"].append(row)
        run.log(f"dense fp8 {row}")
    return res


def crossover(sweep: list[dict[str, float]], tok_ms: float, context: int) -> dict[str, Any]:
    """Smallest canvas length at which S denoising steps cost less than that many AR tokens."""
    out: dict[str, Any] = {
        "context": context,
        "ar_token_ms": round(tok_ms, 3),
        "sweep": sweep,
        "at_steps": {},
    }
    for steps in (4, 8, 16, 48):
        found = None
        for e in sweep:
            if steps * e["step_ms"] < e["tokens"] * tok_ms:
                found = e["tokens"]
                break
        out["at_steps"][str(steps)] = found
    return out


# -- DiffusionGemma ------------------------------------------------------------------------------


def cache_kw(fn: Any) -> str:
    """transformers renamed ``past_key_values`` to ``cache`` in DiffusionGemma (5.2x)."""
    params = inspect.signature(fn).parameters
    return "cache" if "cache" in params else "past_key_values"


class GemmaFast:
    """DiffusionGemma's fast path with the fused sampler: the prompt cache is kept per document and
    extended with only the new tokens; each denoising step runs the canvas decoder step (``decoder``:
    the engine's graphed or eager step) and the head on the canvas, and the fused kernel samples
    every row in one pass. Fixed steps: at step s the lowest-entropy (s+1)/S of the canvas is kept,
    the rest renoised."""

    name = "benchmark fused loop (prompt cache, canvas decoder step, fused sampler)"

    def __init__(self, model: Any, decoder: Any) -> None:
        self.model = model
        self.encoder = model.model.encoder
        self.decoder = decoder
        self.kw_enc = cache_kw(self.encoder.forward)
        self.softcap = model.config.get_text_config().final_logit_softcapping
        self.vocab = model.config.get_text_config().vocab_size
        self.cache = None
        self.cached_ids = None
        self.encoded: list[int] = []

    def encode(self, prompt: Any) -> None:
        """Extend the cache with the tokens of ``prompt`` [1, P] it does not hold yet (append only;
        a prompt that does not extend the cached one starts a new cache)."""
        import torch
        from transformers import DynamicCache

        have = 0 if self.cached_ids is None else self.cached_ids.shape[1]
        if have and (prompt.shape[1] < have or not torch.equal(prompt[:, :have], self.cached_ids)):
            have = 0
        if have == 0:
            self.cache = DynamicCache(config=self.model.config)
        new = prompt[:, have:]
        if new.shape[1]:
            pos = torch.arange(have, prompt.shape[1], device=prompt.device)[None]
            self.encoder(
                input_ids=new, position_ids=pos, use_cache=True, **{self.kw_enc: self.cache}
            )
        self.cached_ids = prompt
        self.encoded.append(int(new.shape[1]))

    def reset(self) -> None:
        self.cached_ids = None

    def infill(self, prompt: Any, n: int, steps: int, seed: int = 0, cold: bool = False) -> Any:
        import torch
        from diffusion_lsp_kernels import sample_rows

        if cold:
            self.reset()
        with torch.inference_mode():
            self.encode(prompt)
            dev = prompt.device
            start = prompt.shape[1]
            pos = torch.arange(start, start + n, device=dev)[None]
            g = torch.Generator(device=dev).manual_seed(seed)
            canvas = torch.randint(0, self.vocab, (1, n), device=dev, generator=g)
            kept = torch.zeros((1, n), dtype=torch.bool, device=dev)
            prev = None
            self.decoder.start(self.cache, 1)
            for s in range(steps):
                hidden = self.decoder.step(canvas, prev, [n], pos)  # [1, n, H]
                z = self.model.lm_head(hidden).float()  # [1, n, V]: every canvas slot is free here
                z = self.softcap * torch.tanh(z / self.softcap)
                temp = 0.8 - 0.4 * s / max(1, steps - 1)  # the checkpoint's 0.8 -> 0.4 schedule
                pick = sample_rows(z[0], temperature=temp, seed=seed * 1000 + s)
                want = (s + 1) * n // steps
                order = pick.entropy.masked_fill(kept[0], float("-inf")).argsort()
                kept[0, order[:want]] = True
                noise = torch.randint(0, self.vocab, (1, n), device=dev, generator=g)
                canvas = torch.where(kept, pick.sample[None], noise)
                prev = z
            return canvas


class GemmaEngine:
    """The engine's DiffusionGemma path on token ids: ``gemma_cache.PromptCache`` (exact prompt
    cache per document, extended with only the new tokens) and ``gemma_loop.denoise`` (decoder over
    the canvas, logits at free positions, entropy-bounded acceptance), with a fixed step count.
    ``graphs``: the canvas decoder step from ``gemma_graphs`` (static shapes, CUDA graphs) instead
    of transformers' decoder called eagerly."""

    def __init__(self, model: Any, graphs: bool) -> None:
        from diffusion_lsp.engine.gemma_cache import PromptCache
        from diffusion_lsp.engine.gemma_graphs import GraphedCanvasDecoder
        from diffusion_lsp.engine.gemma_loop import EagerCanvasDecoder, Row, Schedule
        from diffusion_lsp.engine.gemma_loop import denoise as gemma_denoise
        from diffusion_lsp.engine.gemma_sampling import DiffusionSettings

        self.model = model
        self.cache = PromptCache()
        self.encoded: list[int] = []
        self.decoder = GraphedCanvasDecoder(model) if graphs else EagerCanvasDecoder(model)
        self.name = "diffusion_lsp.engine.gemma_loop.denoise + gemma_cache.PromptCache" + (
            " + gemma_graphs.GraphedCanvasDecoder" if graphs else " (eager decoder)"
        )
        self._row, self._schedule, self._denoise = Row, Schedule, gemma_denoise
        text = model.config.get_text_config()
        self._settings = lambda n: DiffusionSettings(
            steps=0,
            entropy_bound=0.1,
            t_min=0.4,
            t_max=0.8,
            stability_threshold=None,  # no early exit: fixed steps
            confidence_threshold=None,
            canvas_length=n,
            vocab_size=text.vocab_size,
            eos_ids=(1,),
            pad_id=0,
            bos_id=2,
        )

    def reset(self) -> None:
        self.cache.clear()

    def infill(self, prompt: Any, n: int, steps: int, seed: int = 0, cold: bool = False) -> Any:
        """One row: a free canvas of ``n`` tokens after ``prompt`` [1, P]."""
        return self.request(prompt, [n], [], steps, seed, cold)

    def request(
        self,
        prompt: Any,
        lengths: list[int],
        suffix: list[int],
        steps: int,
        seed: int = 0,
        cold: bool = False,
    ) -> Any:
        """One row per candidate length: free slots, then the clamped ``suffix`` (inpainting)."""
        if cold:
            self.reset()
        ids = prompt[0].tolist()
        cache, stats = self.cache.encode(self.model, ids, key="bench")
        self.encoded.append(int(stats.encoded))
        rows = [
            self._row(tokens=[0] * n + suffix, free=[True] * n + [False] * len(suffix), seed=seed)
            for n in lengths
        ]
        width = max(lengths) + len(suffix)
        schedule = self._schedule(total=steps, first=steps, t_min=0.4, t_max=0.8)
        results, _ = self._denoise(
            self.model, cache, rows, self._settings(width), schedule, decoder=self.decoder
        )
        return results


def profile_steps(run: Run, fast: Any, eager: Any, prompt: Any, n: int) -> dict[str, Any]:
    """Where one warm request's time goes, by kernel (torch.profiler), eager and graphed: the
    largest device-time entries and the count of kernel launches, written to the log for the next
    round of tuning."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    cuda = prompt.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    out: dict[str, Any] = {}
    for name, engine in (("eager", eager), ("graphed", fast)):
        engine.infill(prompt, n, 2)  # cache warm
        with profile(activities=activities) as prof:
            engine.infill(prompt, n, 2)
            if cuda:
                torch.cuda.synchronize()
        stats = prof.key_averages()
        sort = "device_time_total" if cuda else "cpu_time_total"
        table = stats.table(sort_by=sort, row_limit=15)
        kernels = [e for e in stats if e.device_type.name == "CUDA"]
        out[name] = {
            "kernels": sum(e.count for e in kernels),
            "device_ms": round(sum(e.self_device_time_total for e in kernels) / 1000, 2),
        }
        run.log(f"profile, {name}, 2 steps, {n} tokens: {out[name]}\n{table}")
    return out


def count_touched_experts(model: Any, run_step: Callable[[], Any]) -> float:
    """Mean number of distinct experts per layer that one decoder step routes to."""
    import torch

    touched: list[int] = []

    def hook(_mod: Any, _inp: Any, out: Any) -> None:
        top_k_index = out[2]
        touched.append(int(torch.unique(top_k_index).numel()))

    routers = [m for m in model.model.decoder.modules() if type(m).__name__.endswith("TextRouter")]
    handles = [r.register_forward_hook(hook) for r in routers]
    try:
        run_step()
    finally:
        for h in handles:
            h.remove()
    return sum(touched) / max(1, len(touched))


def gemma_step_bytes(model: Any, experts_touched: float) -> int:
    """Bytes one decoder step reads: attention, norms, the dense MLP, the touched experts, and the
    tied embedding twice over (the head, and the self-conditioning product over the vocabulary)."""
    dec = model.model.decoder
    total = 0
    for layer in dec.layers:
        for name, p in layer.named_parameters():
            if name.startswith("experts."):
                continue
            total += p.numel() * p.element_size()
        ex = layer.experts
        per_expert = (
            ex.gate_up_proj[0].numel() + ex.down_proj[0].numel()
        ) * ex.gate_up_proj.element_size()
        total += int(experts_touched * per_expert)
    for name, p in dec.named_parameters():
        if not name.startswith("layers.") and name != "embed_tokens.weight":
            total += p.numel() * p.element_size()
    emb = dec.embed_tokens.weight
    return total + 2 * emb.numel() * emb.element_size()


def bench_gemma(
    run: Run, plan: Plan, device: Any, dtype: Any, tiny: bool, bw: float
) -> dict[str, Any]:
    import torch
    from transformers import DiffusionGemmaForBlockDiffusion

    clock = Clock(device)
    cfg = gemma_config(tiny)
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = build_random(DiffusionGemmaForBlockDiffusion, cfg, device, dtype)
    text = cfg.get_text_config()
    res: dict[str, Any] = {
        "config": {
            k: v for k, v in (GEMMA_TINY if tiny else GEMMA_26B_A4B).items() if k != "layer_types"
        },
        "parameters": sum(p.numel() for p in model.parameters()),
        "build_s": round(time.perf_counter() - t0, 1),
        "steps": plan.steps,
        "experts_implementation": getattr(text, "_experts_implementation", None)
        or getattr(model.config, "_experts_implementation", None),
    }
    run.results["gemma"] = res  # partial results survive a later failure
    run.log(f"gemma model: {res}")
    graphs = device.type == "cuda"
    fast = GemmaEngine(model, graphs=True)  # static shapes; CUDA graphs on a GPU
    eager = GemmaEngine(model, graphs=False)  # transformers' decoder, as before the graphs
    fused = GemmaFast(model, fast.decoder)
    res["loop"] = fast.name
    res["cuda_graphs"] = graphs
    vocab = text.vocab_size

    def prompt_of(ctx: int, seed: int = 0) -> Any:
        return random_tokens(ctx, vocab, seed, device)[None]

    # Warm-up at load: every width and context bucket the timed requests use, batch 1 and 4.
    ctx_c = plan.contexts[1] if len(plan.contexts) > 1 else plan.contexts[0]
    editor_lengths = [4, 8, 16]  # the single-line ladder: three rows, a batch bucket of four
    editor_suffix = 200 if not tiny else 8
    t0 = time.perf_counter()
    widths = sorted(set(plan.lengths) | set(plan.sweep))
    fast.decoder.warmup([1], widths, list(plan.contexts) + [plan.typing_context + 256])
    fast.decoder.warmup([len(editor_lengths)], [max(editor_lengths) + editor_suffix], [ctx_c])
    res["cuda_graphs"] = fast.decoder.use_graphs  # False if a capture failed (stats.error says why)
    res["capture_error"] = fast.decoder.stats.error
    res["warmup"] = {
        "seconds": round(time.perf_counter() - t0, 2),
        "shapes": len(fast.decoder.stats.shapes),
        "captures": fast.decoder.stats.captures,
    }
    run.log(f"gemma warm-up: {res['warmup']}")

    # Per-step floor: the experts a canvas of each size touches, counted on the random router
    # (forward hooks: they run in the eager decoder, not in a replayed graph).
    ctx0 = plan.contexts[0]
    touched = {}
    for n in sorted(set(plan.lengths) | set(plan.sweep)):
        p = prompt_of(ctx0)
        touched[n] = count_touched_experts(model, lambda p=p, n=n: eager.infill(p, n, 1, cold=True))
    res["experts_touched_per_layer"] = {str(k): round(v, 1) for k, v in touched.items()}
    e, k = text.num_experts, text.top_k_experts
    res["experts_expected_uniform"] = {
        str(n): round(e * (1 - (1 - k / e) ** n), 1) for n in touched
    }
    floor = {n: gemma_step_bytes(model, t) / bw * 1000 for n, t in touched.items()}
    res["floor_step_ms"] = {str(n): round(v, 3) for n, v in floor.items()}
    run.log(
        f"experts touched {res['experts_touched_per_layer']}, floor/step {res['floor_step_ms']}"
    )

    # The graphed step against transformers' decoder: the same request, the same seeds.
    p = prompt_of(ctx_c, seed=2)
    n = plan.lengths[1] if len(plan.lengths) > 1 else plan.lengths[0]
    a = fast.infill(p, n, plan.steps, seed=3, cold=True)[0].tokens
    b = eager.infill(p, n, plan.steps, seed=3, cold=True)[0].tokens
    res["graphed_vs_eager"] = {
        "context": ctx_c,
        "tokens": n,
        "token_agreement": round(sum(x == y for x, y in zip(a, b)) / len(a), 4),
    }
    run.log(f"graphed vs eager: {res['graphed_vs_eager']}")
    if run.left() > 120:
        res["profile"] = profile_steps(run, fast, eager, p, n)

    gen_cfg = dict(
        max_denoising_steps=plan.steps,
        stability_threshold=1,
        confidence_threshold=1e-12,  # mean entropy never falls below it: no early exit, fixed steps
    )

    def hf_generate(prompt: Any, n: int) -> Any:
        model.config.canvas_length = n
        with torch.inference_mode():
            return model.generate(input_ids=prompt, max_new_tokens=n, **gen_cfg)

    enc_kw = cache_kw(model.model.encoder.forward)

    def ar_generate(prompt: Any, n: int) -> Any:
        from transformers import DynamicCache

        with torch.inference_mode():
            cache = DynamicCache(config=model.config)
            ids = prompt
            start = 0
            out = []
            for _ in range(n):
                pos = torch.arange(start, start + ids.shape[1], device=device)[None]
                h = model.model.encoder(
                    input_ids=ids, position_ids=pos, use_cache=True, **{enc_kw: cache}
                ).last_hidden_state
                start += ids.shape[1]
                ids = model.lm_head(h[:, -1:]).argmax(-1)  # [1, 1]
                out.append(ids)
            return torch.cat(out, 1)

    rows = res["rows"] = []
    for ctx in plan.contexts:
        for n in plan.lengths:
            if run.left() < 60:
                run.log("gemma: out of time budget")
                break
            prompt = prompt_of(ctx)
            reps = max(1, plan.reps[ctx] // 2)

            a = clock.series(
                lambda prompt=prompt, n=n: fast.infill(prompt, n, plan.steps, cold=True), reps
            )
            fast.infill(prompt, n, plan.steps)  # cache warm: only the denoising steps remain
            a_steps = clock.series(
                lambda prompt=prompt, n=n: fast.infill(prompt, n, plan.steps), reps
            )
            eager.infill(prompt, n, plan.steps, cold=True)
            e_steps = clock.series(
                lambda prompt=prompt, n=n: eager.infill(prompt, n, plan.steps), 2, warmup=0
            )
            b = clock.series(lambda prompt=prompt, n=n: hf_generate(prompt, n), reps)
            c = clock.series(lambda prompt=prompt, n=n: ar_generate(prompt, n), 1, warmup=0)
            fused.infill(prompt, n, plan.steps, cold=True)
            f_steps = clock.series(
                lambda prompt=prompt, n=n: fused.infill(prompt, n, plan.steps), reps
            )
            step_ms = p50(a_steps) / plan.steps
            row = {
                "context": ctx,
                "tokens": n,
                "engine": summary(a),
                "engine_cached_prompt": summary(a_steps),
                "eager_cached_prompt": summary(e_steps),
                "fused_cached_prompt": summary(f_steps),
                "hf_generate": summary(b),
                "ar": summary(c),
                "floor_ms": round(plan.steps * floor[n], 3),
                "step_ms": round(step_ms, 3),
                "step_over_floor": round(step_ms / floor[n], 2),
                "speedup_vs_generate": round(p50(b) / p50(a), 2),
                "warm_speedup_vs_generate": round(p50(b) / p50(a_steps), 2),
            }
            rows.append(row)
            run.log(f"gemma {row}")
            run.save()

    # What an editor sends: three candidate lengths in one batch, each followed by the clamped
    # suffix (inpainting), the prompt cached as while typing.
    if run.left() > 40:
        prompt = prompt_of(ctx_c, seed=5)
        suffix = random_tokens(editor_suffix, vocab, 6, device).tolist()

        def editor(engine: Any) -> Any:
            return engine.request(prompt, editor_lengths, suffix, plan.steps)

        reps = max(1, plan.reps[ctx_c] // 2)
        editor(fast)
        g_ms = clock.series(lambda: editor(fast), reps)
        editor(eager)
        e_ms = clock.series(lambda: editor(eager), 2, warmup=0)
        res["editor_request"] = {
            "context": ctx_c,
            "lengths": editor_lengths,
            "suffix_tokens": editor_suffix,
            "graphed": summary(g_ms),
            "eager": summary(e_ms),
        }
        run.log(f"editor request: {res['editor_request']}")

    # Typing: consecutive inline requests on a growing prefix; only new tokens are encoded, and
    # no step is captured again.
    if run.left() > 60:
        doc = prompt_of(plan.typing_context + 4 * plan.typing_requests, seed=9)
        fast.reset()  # a fresh document
        fast.encoded = []
        captures = fast.decoder.stats.captures
        lat = []
        n_t = plan.lengths[1] if len(plan.lengths) > 1 else plan.lengths[0]
        for i in range(plan.typing_requests):
            end = plan.typing_context + 1 + (i * 7) % 4 + 3 * i  # 1 to 4 tokens typed per request
            lat.append(clock.ms(lambda end=end: fast.infill(doc[:, :end], n_t, plan.steps)))
        res["typing"] = {
            "requests": plan.typing_requests,
            "tokens": n_t,
            "encoded_per_request": list(fast.encoded),
            "latency_ms": [round(v, 2) for v in lat],
            "first_ms": round(lat[0], 2),
            "rest_p50_ms": round(p50(lat[1:]), 2),
            "captures_while_typing": fast.decoder.stats.captures - captures,
        }
        run.log(
            f"typing: first {lat[0]:.1f} ms, then p50 {p50(lat[1:]):.1f} ms; encoded "
            f"{fast.encoded[:8]}...; captures {res['typing']['captures_while_typing']}"
        )

    # Crossover: a denoising step per canvas length against one autoregressive token.
    prompt = prompt_of(ctx_c, seed=4)
    sweep = []
    for n in plan.sweep:
        if run.left() < 20:
            break
        fast.infill(prompt, n, 1)
        ms = (
            p50(clock.series(lambda n=n: fast.infill(prompt, n, 5), plan.sweep_reps))
            - p50(clock.series(lambda n=n: fast.infill(prompt, n, 1), plan.sweep_reps))
        ) / 4
        sweep.append({"tokens": n, "step_ms": round(ms, 3), "floor_ms": round(floor[n], 3)})
    tok = (
        p50(clock.series(lambda: ar_generate(prompt, 5), plan.sweep_reps))
        - p50(clock.series(lambda: ar_generate(prompt, 1), plan.sweep_reps))
    ) / 4
    res["crossover"] = crossover(sweep, tok, ctx_c)
    active = (
        gemma_step_bytes(model, text.top_k_experts)
        - model.model.decoder.embed_tokens.weight.numel() * 2
    )
    res["crossover"]["ar_token_floor_ms"] = round(active / bw * 1000, 3)
    res["crossover"]["at_steps_vs_ar_floor"] = crossover(sweep, active / bw * 1000, ctx_c)[
        "at_steps"
    ]
    res["captures_total"] = fast.decoder.stats.captures
    run.log(f"gemma crossover: {res['crossover']}")
    return res


def bench_hf_ar(run: Run, plan: Plan, device: Any, dtype: Any, tiny: bool) -> dict[str, Any]:
    """transformers' own ``generate()`` on the dense backbone with a static cache, which compiles the
    decode step (``torch.compile``, CUDA graphs), at one context and length: how the hand-graphed
    autoregressive baseline (c) compares with the library's. Compilation is timed apart."""
    import torch
    from transformers import Qwen2ForCausalLM

    cfg = dense_config(tiny)
    model = build_random(Qwen2ForCausalLM, cfg, device, dtype)
    ctx = plan.contexts[1] if len(plan.contexts) > 1 else plan.contexts[0]
    n = plan.lengths[1] if len(plan.lengths) > 1 else plan.lengths[0]
    prompt = random_tokens(ctx, cfg.vocab_size, 0, device)[None]
    clock = Clock(device)
    kw = dict(max_new_tokens=n, min_new_tokens=n, do_sample=False, cache_implementation="static")

    def gen() -> Any:
        with torch.inference_mode():
            return model.generate(input_ids=prompt, **kw)

    first = clock.ms(gen)
    second = clock.ms(gen)
    times = clock.series(gen, 5 if not tiny else 1, warmup=0)
    res = {
        "context": ctx,
        "tokens": n,
        "first_call_ms": round(first, 1),
        "second_call_ms": round(second, 1),
        "hf_generate_static": summary(times),
    }
    run.log(f"transformers generate (static cache): {res}")
    return res


# -- report --------------------------------------------------------------------------------------


def plot(results: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, key, series in (
        (axes[0], "dense", (("engine", "this engine"), ("ar", "autoregressive (c)"))),
        (
            axes[1],
            "gemma",
            (
                ("engine", "this engine"),
                ("hf_generate", "generate() (b)"),
                ("ar", "autoregressive (c)"),
            ),
        ),
    ):
        rows = results.get(key, {}).get("rows", [])
        if not rows:
            continue
        labels = [f"{r['context']}/{r['tokens']}" for r in rows]
        width = 0.8 / (len(series) + 1)
        for i, (field, name) in enumerate(series):
            ax.bar(
                [j + i * width for j in range(len(rows))],
                [r[field]["p50"] for r in rows],
                width,
                label=name,
            )
        ax.bar(
            [j + len(series) * width for j in range(len(rows))],
            [r["floor_ms"] for r in rows],
            width,
            label="floor (d)",
            color="grey",
        )
        ax.set_xticks([j + width for j in range(len(rows))], labels, rotation=45, fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("p50 latency, ms (log)")
        ax.set_xlabel("context tokens / infill tokens")
        ax.set_title("dense 7B masked" if key == "dense" else "DiffusionGemma-26B-A4B")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def render(results: dict[str, Any], plot_name: str = "speed.png") -> str:
    """The "Speed (GPU)" section of docs/benchmarks.md."""
    dev = results.get("device", {})
    d = results.get("dense", {})
    g = results.get("gemma", {})
    lines = [
        "## Speed (GPU)",
        "",
        f"Measured by `benchmarks/bench_speed.py` on {dev.get('name', '?')} "
        f"(copy bandwidth {dev.get('copy_bandwidth_GBps', '?')} GB/s read+written, bf16 matmul "
        f"{dev.get('matmul_TFLOPs', '?')} TFLOP/s; torch {dev.get('torch', '?')}, transformers "
        f"{dev.get('transformers', '?')}, triton {dev.get('triton', '?')}), {results.get('started', '')}. "
        "Random bf16 weights built from full-size configurations (no weights can be downloaded), "
        f"a fixed {d.get('steps', g.get('steps', '?'))} denoising steps and no early exit; batch size one; "
        "latency from tokens on the GPU to tokens on the GPU (no tokenizer), p50 and p95 over "
        "repeated requests after warm-up.",
        "",
    ]
    if d.get("rows"):
        lines += [
            "### Dense masked diffusion, Qwen2-7B layout (DiffuCoder / Dream class)",
            "",
            f"{d.get('parameters', 0) / 1e9:.2f} B parameters. (a) this engine: dual KV cache (one full pass, "
            "then only the hole block, bucketed and replayed as a CUDA graph), logits at the hole only, "
            f"driven by `{d.get('loop')}`. (c) the same backbone, causal, greedy token by token with a "
            "static KV cache and a CUDA-graphed decode step, prompt in fill-in-the-middle order. (d) steps "
            f"x weight bytes per step ({d.get('weight_bytes_per_step', 0) / 1e9:.2f} GB) / copy bandwidth. "
            "All include the prompt prefill.",
            "",
            "| context | infill | (a) p50 | (a) p95 | (c) p50 | (c) p95 | (d) floor | (c)/(a) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in d["rows"]:
            lines.append(
                f"| {r['context']} | {r['tokens']} | {r['engine']['p50']:.1f} | {r['engine']['p95']:.1f} | "
                f"{r['ar']['p50']:.1f} | {r['ar']['p95']:.1f} | {r['floor_ms']:.1f} | {r['speedup_vs_ar']:.2f}x |"
            )
        lines.append("")
        dc = d.get("dual_cache", {})
        if dc:
            lines.append(
                f"Dual cache against the uncached loop (every step recomputes the whole canvas), "
                f"{dc['context']} context, {dc['tokens']} tokens: {dc['token_agreement_with_uncached']:.1%} "
                f"of the infilled tokens agree (greedy, random weights); {dc['uncached_ms_p50']:.1f} ms "
                f"uncached against {dc['cached_ms_p50']:.1f} ms cached."
                + (
                    f" CUDA-graph replay against the eager step: max |logit difference| "
                    f"{dc['graph_vs_eager_max_abs_logit_diff']:.3g}."
                    if "graph_vs_eager_max_abs_logit_diff" in dc
                    else ""
                )
            )
            lines.append("")
        cd = d.get("candidates")
        if cd:
            lines.append(
                f"Candidate lengths {cd['lengths']} batched into one forward per step: "
                f"{cd['batched_ms_p50']:.1f} ms for all four against {cd['single_longest_ms_p50']:.1f} ms "
                "for the longest alone."
            )
            lines.append("")
        f8 = d.get("fp8", {})
        if f8.get("rows"):
            lines += [
                f"FP8 weights (`diffusion_lsp.engine.fp8`: {f8['layers']} linear layers in e4m3 with a "
                "scale per output row, activations quantized per token, `torch._scaled_mm`; "
                f"{f8['weight_bytes_per_step'] / 1e9:.2f} GB read per step), {f8['tokens']}-token "
                "infills, greedy, the same canvases as bf16:",
                "",
                "| context | fp8 p50 | fp8 p95 | bf16 p50 | floor (fp8) | tokens equal to bf16 |",
                "|---:|---:|---:|---:|---:|---:|",
            ]
            for r in f8["rows"]:
                lines.append(
                    f"| {r['context']} | {r['fp8']['p50']:.1f} | {r['fp8']['p95']:.1f} | "
                    f"{r['bf16_p50']:.1f} | {r['floor_ms']:.1f} | {r['token_agreement_with_bf16']:.1%} |"
                )
            lines.append("")
        elif f8.get("skipped"):
            lines += [f"FP8 weights: skipped ({f8['skipped']}).", ""]
        lines.append(
            f"Warm-up at load: {d.get('captures_after_warmup')} CUDA graphs in {d.get('warmup_s')} s; "
            f"captures after all timed requests: {d.get('captures_after_requests')} (no recapture while typing)."
        )
        lines.append("")
    if g.get("rows"):
        graphs = g.get("cuda_graphs")
        lines += [
            "### DiffusionGemma-26B-A4B",
            "",
            f"{g.get('parameters', 0) / 1e9:.2f} B parameters (encoder and decoder share their layers). "
            f"(a) this engine (`{g.get('loop')}`): the prompt cache kept per document and extended "
            "(cold: the whole prompt encoded; warm: the prompt already cached, as while typing), the "
            "canvas decoder step on static shapes"
            + (" replayed as a CUDA graph" if graphs else "")
            + ", logits at the free rows only; 'eager': the same warm request through transformers' "
            "decoder called eagerly (the engine before the graphs); 'fused': the same step with the "
            "fused Triton sampler in place of the engine's softmax, multinomial and entropy passes. "
            "(b) transformers' `generate()` with `canvas_length` and `max_new_tokens` set to the infill "
            "length and the same step count. (c) the encoder as a causal LM, greedy token by token, "
            "eager with a dynamic cache (not compiled; one run). (d) steps x bytes one step reads "
            "(attention, dense MLP, the experts the canvas touches, the tied embedding twice: head and "
            "self-conditioning) / copy bandwidth.",
            "",
            "| context | infill | (a) p50 | (a) p95 | (a) warm p50 | eager warm p50 | fused warm p50 | (b) p50 | (b) p95 | (c) | (d) floor | step / floor | (b)/(a) | (b)/(a) warm |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in g["rows"]:
            nan = {"p50": float("nan")}
            lines.append(
                f"| {r['context']} | {r['tokens']} | {r['engine']['p50']:.1f} | {r['engine']['p95']:.1f} | "
                f"{r['engine_cached_prompt']['p50']:.1f} | "
                f"{r.get('eager_cached_prompt', nan)['p50']:.1f} | "
                f"{r.get('fused_cached_prompt', nan)['p50']:.1f} | "
                f"{r['hf_generate']['p50']:.1f} | "
                f"{r['hf_generate']['p95']:.1f} | {r['ar']['p50']:.1f} | {r['floor_ms']:.1f} | "
                f"{r['step_over_floor']:.2f} | {r['speedup_vs_generate']:.2f}x | "
                f"{r.get('warm_speedup_vs_generate', float('nan')):.2f}x |"
            )
        lines.append("")
        wu, ge, er = g.get("warmup"), g.get("graphed_vs_eager"), g.get("editor_request")
        notes = [
            wu
            and f"Warm-up at load: {wu['captures']} decoder steps captured ({wu['shapes']} shapes) "
            f"in {wu['seconds']} s; captures in all: {g.get('captures_total')}.",
            ge
            and f"Static-shape step against transformers' decoder, the same request and seeds "
            f"({ge['context']} context, {ge['tokens']} tokens): {ge['token_agreement']:.1%} of the "
            "denoised tokens agree (bf16 sums in another order can flip a sample on random weights).",
            er
            and f"An editor-shaped request ({er['context']} context cached, candidate lengths "
            f"{er['lengths']} in one batch, each followed by {er['suffix_tokens']} clamped suffix "
            f"tokens, {g.get('steps')} steps): p50 {er['graphed']['p50']:.1f} ms (p95 "
            f"{er['graphed']['p95']:.1f}) against {er['eager']['p50']:.1f} ms with the eager decoder.",
        ]
        for note in filter(None, notes):
            lines += [note, ""]
        lines.append(
            f"Experts touched per layer by one step (measured on the random router): "
            f"{g.get('experts_touched_per_layer')}; uniform routing predicts {g.get('experts_expected_uniform')}."
        )
        lines.append("")
        ty = g.get("typing")
        if ty:
            lines.append(
                f"Typing trace: {ty['requests']} consecutive {ty['tokens']}-token inline requests on a growing "
                f"prefix. Tokens encoded per request: {ty['encoded_per_request'][:1]} for the first, then "
                f"{sorted(set(ty['encoded_per_request'][1:]))}; latency {ty['first_ms']:.1f} ms for the "
                f"first, p50 {ty['rest_p50_ms']:.1f} ms after; decoder steps captured while typing: "
                f"{ty.get('captures_while_typing', '?')}."
            )
            lines.append("")
    for key, name in (("dense", "dense 7B"), ("gemma", "DiffusionGemma-26B-A4B")):
        cr = results.get(key, {}).get("crossover")
        if cr:
            sweep = ", ".join(f"{e['tokens']}: {e['step_ms']:.1f}" for e in cr["sweep"])
            lines.append(
                f"Crossover, {name}, {cr['context']} context: one AR token {cr['ar_token_ms']:.2f} ms; "
                f"one denoising step by canvas length (ms) {sweep}. Diffusion is faster from "
                + ", ".join(
                    f"{v if v else 'never (in the sweep)'} tokens at {s} steps"
                    for s, v in cr["at_steps"].items()
                )
                + "."
                + (
                    f" Against an AR decoder at its own floor ({cr['ar_token_floor_ms']:.2f} ms/token): "
                    + ", ".join(
                        f"{v if v else 'never'} at {s} steps"
                        for s, v in cr["at_steps_vs_ar_floor"].items()
                    )
                    + "."
                    if "ar_token_floor_ms" in cr
                    else ""
                )
            )
            lines.append("")
    hf = results.get("hf_ar")
    if hf:
        lines.append(
            f'transformers\' own `generate()` on the dense backbone with `cache_implementation="static"` '
            f"(compiled decode step), {hf['context']} context, {hf['tokens']} tokens: first call "
            f"{hf['first_call_ms']:.0f} ms (compilation), then p50 {hf['hf_generate_static']['p50']:.1f} ms; "
            "the hand-graphed baseline (c) is in the dense table above."
        )
        lines.append("")
    k = results.get("kernel", {}).get("rows", [])
    if k:
        lines += [
            "### Fused sampler (Triton) against the PyTorch reference",
            "",
            "| rows | vocab | torch ms | triton ms | same samples |",
            "|---:|---:|---:|---:|:--|",
        ]
        for e in k:
            lines.append(
                f"| {e['rows']} | {e['vocab']} | {e['torch_ms']:.3f} | {e.get('triton_ms', float('nan')):.3f} | {e.get('same_samples', '-')} |"
            )
        lines.append("")
    if results.get("failed") or results.get("skipped"):
        lines.append(
            f"Phases that failed: {results.get('failed', {})}; skipped: {results.get('skipped', [])}."
        )
        lines.append("")
    lines.append(f"![latency]({plot_name})")
    lines.append("")
    return "\n".join(lines)


def write_docs(section: str, docs: Path) -> None:
    """Replace (or add) the "## Speed (GPU)" section of ``docs``, leaving other sections alone."""
    text = docs.read_text() if docs.exists() else "# Benchmarks\n\n"
    start = text.find("## Speed (GPU)")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        nxt = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[nxt + 1 :] if nxt >= 0 else "")
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text(text)


# -- main ----------------------------------------------------------------------------------------


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
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            model,
            "--out",
            str(args.out),
        ]
        cmd += ["--budget-s", f"{budget:.0f}", "--bandwidth", f"{bw:.6g}"]
        cmd += ["--tiny"] if args.tiny else []
        try:
            subprocess.run(cmd, timeout=budget + 60, check=False)
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

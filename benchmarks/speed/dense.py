# ruff: noqa: B023  (every lambda below is timed at once, inside the loop that binds its names)
"""The dense masked-diffusion model (Qwen2-7B layout, Dream/DiffuCoder class) through the engine's
dual-cache denoiser and masked loop: latency by context and infill length against the AR baseline and
the bandwidth floor, dual cache against uncached, batched candidates, the crossover, and FP8 weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmarks.speed.baselines import GraphedAR
from benchmarks.speed.configs import DREAM_MASK_ID, Plan, build_random, dense_config, dense_mask_id
from benchmarks.speed.measure import Clock, Run, crossover, p50, random_tokens, summary


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
    """The engine's masked denoising loop (``diffusion_lsp.engine.masked.loop.denoise``), greedy, the
    most confident tokens committed on an even schedule (``policy.TopKPerStep``), one denoiser call
    per step. Returns its name (reported) and ``loop(denoiser, x, attention, free, steps)``."""
    from diffusion_lsp.engine.masked.loop import denoise, row_generators
    from diffusion_lsp.engine.masked.policy import TopKPerStep

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

    return "diffusion_lsp.engine.masked.loop.denoise", loop


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

    from diffusion_lsp.engine.masked.cache import DualCacheDenoiser

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

    # Crossover: a span step per canvas length against one autoregressive token.
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

    from diffusion_lsp.engine.fp8 import quantize_linears, supported
    from diffusion_lsp.engine.masked.cache import DualCacheDenoiser

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

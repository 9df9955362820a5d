# ruff: noqa: B023  (every lambda below is timed at once, inside the loop that binds its names)
"""DiffusionGemma-26B-A4B through the engine's DiffusionGemma path (prompt cache, denoising loop,
graphed canvas decoder step): latency by context and infill length against transformers'
``generate()``, the AR baseline and the floor; graphed against eager, an editor-shaped request, a
typing trace, a kernel profile and the crossover.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmarks.speed.baselines import FusedSamplerLoop, gemma_ar_greedy, gemma_generate
from benchmarks.speed.configs import GEMMA_26B_A4B, GEMMA_TINY, Plan, build_random, gemma_config
from benchmarks.speed.measure import Clock, Run, crossover, p50, random_tokens, summary
from diffusion_lsp.engine.candidates import SINGLE_LINE_LADDER


class GemmaEngine:
    """The engine's DiffusionGemma path on token ids: ``block.cache.PromptCache`` (exact prompt
    cache per document, extended with only the new tokens) and ``block.loop.denoise`` (decoder over
    the canvas, logits at free positions, entropy-bounded acceptance), with a fixed step count.
    ``graphs``: the canvas decoder step from ``block.graphs`` (static shapes, CUDA graphs) instead
    of transformers' decoder called eagerly."""

    def __init__(self, model: Any, graphs: bool) -> None:
        from diffusion_lsp.engine.block.cache import PromptCache
        from diffusion_lsp.engine.block.graphs import GraphedCanvasDecoder
        from diffusion_lsp.engine.block.loop import EagerCanvasDecoder, Row, Schedule
        from diffusion_lsp.engine.block.loop import denoise as gemma_denoise
        from diffusion_lsp.engine.block.policy import DiffusionSettings

        self.model = model
        self.cache = PromptCache()
        self.encoded: list[int] = []
        self.decoder = GraphedCanvasDecoder(model) if graphs else EagerCanvasDecoder(model)
        self.name = "diffusion_lsp.engine.block.loop.denoise + block.cache.PromptCache" + (
            " + block.graphs.GraphedCanvasDecoder" if graphs else " (eager decoder)"
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
    fused = FusedSamplerLoop(model, fast.decoder)  # a baseline: the fused sampler
    res["loop"] = fast.name
    res["cuda_graphs"] = graphs
    vocab = text.vocab_size

    def prompt_of(ctx: int, seed: int = 0) -> Any:
        return random_tokens(ctx, vocab, seed, device)[None]

    # Warm-up at load: every width and context bucket the timed requests use, batch 1 and 4.
    ctx_c = plan.contexts[1] if len(plan.contexts) > 1 else plan.contexts[0]
    editor_lengths = list(SINGLE_LINE_LADDER)  # three rows, a batch bucket of four
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
            b = clock.series(
                lambda prompt=prompt, n=n: gemma_generate(model, prompt, n, plan.steps), reps
            )
            c = clock.series(
                lambda prompt=prompt, n=n: gemma_ar_greedy(model, prompt, n), 1, warmup=0
            )
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
        p50(clock.series(lambda: gemma_ar_greedy(model, prompt, 5), plan.sweep_reps))
        - p50(clock.series(lambda: gemma_ar_greedy(model, prompt, 1), plan.sweep_reps))
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

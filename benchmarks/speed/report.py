"""The "Speed (GPU)" section of docs/benchmarks.md and ``speed.png``, rendered from ``speed.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any


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
        f"Measured by `benchmarks/speed` on {dev.get('name', '?')} "
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
            "then only the span of the hole, bucketed and replayed as a CUDA graph), logits at the hole only, "
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

"""The named baselines the engine is measured against, in one place. None of them is the product:

- ``GraphedAR``: baseline (c) for the dense model, the same backbone decoding token by token;
- ``bench_hf_ar``: transformers' own ``generate()`` on the dense backbone, static cache, compiled;
- ``gemma_generate``: baseline (b), transformers' own DiffusionGemma ``generate()``;
- ``gemma_ar_greedy``: baseline (c) for DiffusionGemma, its encoder as a causal LM;
- ``FusedSamplerLoop``: the engine's DiffusionGemma step with the fused Triton sampler in place of
  the engine's sampling (a variant the engine does not ship, measured to decide whether it should).
"""

from __future__ import annotations

from typing import Any

from benchmarks.speed.configs import Plan, build_random, dense_config
from benchmarks.speed.measure import Clock, Run, random_tokens, summary


class GraphedAR:
    """Baseline (c) for the dense model, not the product: token-by-token greedy decoding of the
    same backbone (causal, the engine's ``masked.stacks`` forward) with a static KV cache, and the decode
    step (forward, argmax, cache write, position bump) captured as one CUDA graph, which is what
    transformers' ``generate`` with a static cache and ``torch.compile(mode="reduce-overhead")``
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


def gemma_generate(model: Any, prompt: Any, n: int, steps: int) -> Any:
    """Baseline (b): transformers' own DiffusionGemma ``generate()``, ``canvas_length`` and
    ``max_new_tokens`` set to the infill length, ``steps`` denoising steps and no early exit."""
    import torch

    model.config.canvas_length = n
    with torch.inference_mode():
        return model.generate(
            input_ids=prompt,
            max_new_tokens=n,
            max_denoising_steps=steps,
            stability_threshold=1,
            confidence_threshold=1e-12,  # mean entropy never falls below it: no early exit
        )


def gemma_ar_greedy(model: Any, prompt: Any, n: int) -> Any:
    """Baseline (c) for DiffusionGemma: its causal encoder as an autoregressive LM, greedy token by
    token, eager with a dynamic cache (not compiled). Returns the ``n`` new tokens [1, n]."""
    import torch
    from transformers import DynamicCache

    from diffusion_lsp.engine.block.cache import cache_kwarg

    enc_kw = cache_kwarg(model.model.encoder)
    with torch.inference_mode():
        cache = DynamicCache(config=model.config)
        ids = prompt
        start = 0
        out = []
        for _ in range(n):
            pos = torch.arange(start, start + ids.shape[1], device=prompt.device)[None]
            h = model.model.encoder(
                input_ids=ids, position_ids=pos, use_cache=True, **{enc_kw: cache}
            ).last_hidden_state
            start += ids.shape[1]
            ids = model.lm_head(h[:, -1:]).argmax(-1)  # [1, 1]
            out.append(ids)
        return torch.cat(out, 1)


class FusedSamplerLoop:
    """Not the product: DiffusionGemma's denoising steps with the fused Triton row sampler
    (``diffusion_lsp_kernels.sample_rows``: one pass for the sample and the entropy) in place of the
    engine's softmax, multinomial and entropy passes. The prompt cache (``block.cache.PromptCache``)
    and the canvas decoder step (``decoder``) are the engine's, so only the sampling differs. Fixed
    steps, every canvas slot free: at step s the lowest-entropy (s+1)/S of the canvas is kept, the
    rest renoised."""

    name = "fused-sampler baseline (engine prompt cache and decoder step, fused sampler)"

    def __init__(self, model: Any, decoder: Any) -> None:
        from diffusion_lsp.engine.block.cache import PromptCache

        self.model = model
        self.decoder = decoder
        self.softcap = model.config.get_text_config().final_logit_softcapping
        self.vocab = model.config.get_text_config().vocab_size
        self.cache = PromptCache()

    def reset(self) -> None:
        self.cache.clear()

    def infill(self, prompt: Any, n: int, steps: int, seed: int = 0, cold: bool = False) -> Any:
        """A free canvas of ``n`` tokens after ``prompt`` [1, P]; returns the canvas [1, n]."""
        import torch
        from diffusion_lsp_kernels import sample_rows

        if cold:
            self.reset()
        cache, _ = self.cache.encode(self.model, prompt[0].tolist(), key="bench")
        with torch.inference_mode():
            dev = prompt.device
            start = prompt.shape[1]
            pos = torch.arange(start, start + n, device=dev)[None]
            g = torch.Generator(device=dev).manual_seed(seed)
            canvas = torch.randint(0, self.vocab, (1, n), device=dev, generator=g)
            kept = torch.zeros((1, n), dtype=torch.bool, device=dev)
            prev = None
            self.decoder.start(cache, 1)
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


def bench_hf_ar(run: Run, plan: Plan, device: Any, dtype: Any, tiny: bool) -> dict[str, Any]:
    """Baseline, not the product: transformers' own ``generate()`` on the dense backbone with a
    static cache, which compiles the decode step (``torch.compile``, CUDA graphs), at one context
    and length: how the hand-graphed autoregressive baseline (c) compares with the library's.
    Compilation is timed apart."""
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

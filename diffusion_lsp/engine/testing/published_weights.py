"""Random weights for the published layouts (see ``published.py``), in transformers' tensor names,
and the renaming to LLaDA's published names."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from diffusion_lsp.engine.testing.published_tokenizers import FFN, HIDDEN, LAYERS


# Llama's tensor names to LLaDA's (the inverse of ``families.LLADA_KEYS``).
def llada_name(name: str) -> str:
    import re

    fixed = {
        "model.embed_tokens.weight": "model.transformer.wte.weight",
        "model.norm.weight": "model.transformer.ln_f.weight",
        "lm_head.weight": "model.transformer.ff_out.weight",
    }
    if name in fixed:
        return fixed[name]
    layer = {
        "input_layernorm": "attn_norm",
        "post_attention_layernorm": "ff_norm",
        "self_attn.q_proj": "q_proj",
        "self_attn.k_proj": "k_proj",
        "self_attn.v_proj": "v_proj",
        "self_attn.o_proj": "attn_out",
        "mlp.gate_proj": "ff_proj",
        "mlp.up_proj": "up_proj",
        "mlp.down_proj": "ff_out",
    }
    m = re.fullmatch(r"model\.layers\.(\d+)\.(.+)\.weight", name)
    if m is None or m.group(2) not in layer:
        raise ValueError(f"no LLaDA name for {name}")
    return f"model.transformer.blocks.{m.group(1)}.{layer[m.group(2)]}.weight"


def random_weights(
    config: dict[str, Any],
    llama: bool,
    seed: int,
    favour: Iterable[int],
    silent: Iterable[int] = (),
) -> dict:
    """Random weights in transformers' names (Qwen2 with q/k/v biases, or Llama without).

    ``silent``: ids whose head rows are zero, so greedy decoding never writes them (their logit 0
    is below the best of the random others): the byte tokens of control characters, which the
    server refuses in any edit.

    ``favour``: ids every position's logits prefer (hidden channel 0 is a constant the residual
    stream keeps, and those ids' head rows read it), to test that banned ids never come out.
    """
    import torch

    rows = config["vocab_size"] if "vocab_size" in config else config["embedding_size"]
    heads = config.get("num_attention_heads") or config["n_heads"]
    kv = config.get("num_key_value_heads") or config.get("n_kv_heads") or heads
    head_dim = HIDDEN // heads
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape: int, std: float = 0.05) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * std

    w = {"model.embed_tokens.weight": rand(rows, HIDDEN, std=0.5)}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = 1 + rand(HIDDEN, std=0.1)
        w[p + "post_attention_layernorm.weight"] = 1 + rand(HIDDEN, std=0.1)
        w[p + "self_attn.q_proj.weight"] = rand(heads * head_dim, HIDDEN, std=0.2)
        w[p + "self_attn.k_proj.weight"] = rand(kv * head_dim, HIDDEN, std=0.2)
        w[p + "self_attn.v_proj.weight"] = rand(kv * head_dim, HIDDEN, std=0.2)
        w[p + "self_attn.o_proj.weight"] = rand(HIDDEN, heads * head_dim, std=0.2)
        if not llama:
            w[p + "self_attn.q_proj.bias"] = rand(heads * head_dim, std=0.1)
            w[p + "self_attn.k_proj.bias"] = rand(kv * head_dim, std=0.1)
            w[p + "self_attn.v_proj.bias"] = rand(kv * head_dim, std=0.1)
        w[p + "mlp.gate_proj.weight"] = rand(FFN, HIDDEN, std=0.2)
        w[p + "mlp.up_proj.weight"] = rand(FFN, HIDDEN, std=0.2)
        w[p + "mlp.down_proj.weight"] = rand(HIDDEN, FFN, std=0.2)
    w["model.norm.weight"] = 1 + rand(HIDDEN, std=0.1)
    w["lm_head.weight"] = rand(rows, HIDDEN, std=0.5)
    w["lm_head.weight"][sorted(set(silent))] = 0.0
    favour = sorted(set(favour))
    if favour:
        w["model.embed_tokens.weight"][:, 0] = 4.0
        for i in range(LAYERS):
            w[f"model.layers.{i}.self_attn.o_proj.weight"][0] = 0.0
            w[f"model.layers.{i}.mlp.down_proj.weight"][0] = 0.0
        w["lm_head.weight"][favour, 0] = 30.0
    return {k: v.to(torch.bfloat16).float().contiguous() for k, v in w.items()}

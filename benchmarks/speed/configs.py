"""What one run measures (contexts, infill lengths, steps, repetitions: the ``Plan``) and the models
it measures: full-size configurations of a dense masked model and DiffusionGemma, with random weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from diffusion_lsp.engine.candidates import MULTI_LINE_LADDER
from diffusion_lsp.engine.testing.tiny import QWEN2_SMALL
from diffusion_lsp.engine.testing.tiny_gemma import VISION_SMALL

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
    sweep=MULTI_LINE_LADDER,  # every length the engine's multi-line ladder tries
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
        return Qwen2Config(vocab_size=1024, **QWEN2_SMALL)  # the engine's tiny Qwen2 shapes
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

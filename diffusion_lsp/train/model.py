"""The model: a native ModernBERT masked LM (bidirectional, local + global attention), sized presets,
and export as a sharded checkpoint that plain ``from_pretrained`` loads offline.

Sizing (issue #15, ``benchmarks/bench_cpu_floor.py``, docs/benchmarks.md "CPU FLOP floor"): an
automatic one-line inline infill with 1,000 tokens of context must keep its p50 under 300 ms in
bfloat16 on 2 cores, and the export must fit the package (at most 40 MB, shards of at most 15 MB).
With the engine's one-hole automatic request and packed CPU linears, the latency would allow a body
of about 20 M parameters (hidden 512, 5 layers: 256-276 ms); the package limit binds first: at most
about 19 M parameters in all in bfloat16, embeddings included (16,384 x hidden). ``base`` is the
largest preset under it: 12.6 M body parameters, 18.8 M in all (37.7 MB), p50 198-250 ms in
bfloat16 (3.2-3.9x the FLOP floor) and 290-337 ms in float32 on the development machine.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Preset:
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    local_attention: int
    global_attn_every_n_layers: int
    seq_len: int


PRESETS: dict[str, Preset] = {
    # tests and CPU dry runs
    "tiny": Preset(64, 2, 2, 128, 32, 2, 128),
    # the embedded model shipped today (its second run)
    "small": Preset(256, 6, 4, 512, 128, 3, 1024),
    # the next embedded model: the largest within the package limit and the CPU latency (above)
    "base": Preset(384, 6, 6, 1280, 128, 3, 1024),
}


def build_config(preset: Preset, special: dict[str, int], vocab_size: int) -> Any:
    """A ``ModernBertConfig`` for ``preset`` with the tokenizer's special ids written into it."""
    from transformers import ModernBertConfig

    layer_types = [
        "full_attention" if i % preset.global_attn_every_n_layers == 0 else "sliding_attention"
        for i in range(preset.num_hidden_layers)
    ]
    config = ModernBertConfig(
        vocab_size=vocab_size,
        hidden_size=preset.hidden_size,
        intermediate_size=preset.intermediate_size,
        num_hidden_layers=preset.num_hidden_layers,
        num_attention_heads=preset.num_attention_heads,
        max_position_embeddings=preset.seq_len,
        local_attention=preset.local_attention,
        layer_types=layer_types,
        pad_token_id=special["pad_token_id"],
        eos_token_id=special["eos_token_id"],
        bos_token_id=None,
        cls_token_id=special["eos_token_id"],
        sep_token_id=special["eos_token_id"],
        tie_word_embeddings=True,
    )
    config.mask_token_id = special["mask_token_id"]
    config.null_token_id = special["null_token_id"]
    config.diffusion_shift_logits = False
    return config


def build_model(config: Any) -> Any:
    from transformers import AutoModelForMaskedLM

    return AutoModelForMaskedLM.from_config(config)


def count_parameters(model: Any) -> tuple[int, int]:
    """(all parameters, non-embedding parameters); tied weights counted once."""
    total = sum(p.numel() for p in model.parameters())
    emb = model.get_input_embeddings().weight.numel()
    return total, total - emb


def export(
    model: Any, tokenizer: Any, out_dir: str, *, max_shard_mb: int = 15, extra: dict | None = None
) -> list[str]:
    """Save the model (safetensors shards of at most ``max_shard_mb`` MB) and tokenizer to ``out_dir``.

    ``extra`` is merged into config.json (training facts for the model card). Returns the file names.
    """
    os.makedirs(out_dir, exist_ok=True)
    for name in os.listdir(out_dir):
        if name.endswith(".safetensors") or name.endswith(".index.json"):
            os.remove(os.path.join(out_dir, name))
    model.save_pretrained(out_dir, max_shard_size=f"{max_shard_mb}MB", safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    if extra:
        path = os.path.join(out_dir, "config.json")
        with open(path) as f:
            cfg = json.load(f)
        cfg.update(extra)
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
            f.write("\n")
    return sorted(os.listdir(out_dir))

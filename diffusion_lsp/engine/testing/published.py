"""Tiny random checkpoints in the published layouts of the masked-diffusion code models.

For tests: each checkpoint has its family's published ``config.json`` keys at tiny sizes (with
``model_type``, ``architectures`` and ``auto_map`` as published), the published tensor names in one
``model.safetensors``, a tokenizer saved as the hub serves it (Dream's ``vocab.json`` + ``merges.txt``
+ ``added_tokens.json``, LLaDA's ``tokenizer.json``) with the published special tokens in the
published order right after a small byte-level BPE vocabulary, and the published generation
config. There is no modeling code beside the weights: they must load natively. The weights are
random, so the text is garbage; they prove loading, conventions and plumbing, never quality.

    python -m diffusion_lsp.engine.testing.published --out DIR --family dream [--seed N]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from diffusion_lsp.engine.testing.published_tokenizers import (
    BASE_VOCAB,
    DREAM_GENERATION,
    DREAM_SPECIALS,
    DREAM_VARIANTS,
    FAMILIES,
    FFN,
    HEADS,
    HIDDEN,
    KV_HEADS,
    LAYERS,
    LLADA_SPECIALS,
    PADDING_ROWS,
    QWEN_SPECIALS,
    bpe,
    decoder_json,
    qwen_tokenizer,
    special_ids_of,
    token_json,
    write_json,
)
from diffusion_lsp.engine.testing.published_weights import llada_name, random_weights


def _dream(out: Path, variant: str) -> dict[str, Any]:
    hub, extra = DREAM_VARIANTS[variant]
    specials = [*DREAM_SPECIALS, *extra]
    ids = special_ids_of(specials)
    names = [c for c, _ in extra]
    qwen_tokenizer(
        out,
        specials,
        {
            "add_bos_token": False,
            "add_prefix_space": False,
            "additional_special_tokens": ["<|beginoftext|>", "<|mask|>", *names],
            "auto_map": {"AutoTokenizer": ["tokenization_dream.DreamTokenizer", None]},
            "bos_token": "<|beginoftext|>",
            "clean_up_tokenization_spaces": False,
            "eos_token": "<|endoftext|>",
            "errors": "replace",
            "mask_token": "<|mask|>",
            "model_max_length": 131072,
            "pad_token": "<|endoftext|>",
            "split_special_tokens": False,
            "tokenizer_class": "DreamTokenizer",
            "unk_token": None,
        },
    )
    write_json(
        out / "special_tokens_map.json",
        {
            "additional_special_tokens": ["<|beginoftext|>", "<|mask|>", *names],
            "bos_token": token_json("<|beginoftext|>"),
            "eos_token": token_json("<|endoftext|>"),
            "mask_token": token_json("<|mask|>"),
            "pad_token": token_json("<|endoftext|>"),
        },
    )
    eot = ids["<|endoftext|>"]
    write_json(
        out / "generation_config.json",
        {**DREAM_GENERATION, "bos_token_id": eot, "eos_token_id": eot, "pad_token_id": eot},
    )
    return {
        "_name_or_path": hub,
        "architectures": ["DreamModel"],
        "attention_dropout": 0.0,
        "auto_map": {
            "AutoConfig": "configuration_dream.DreamConfig",
            "AutoModel": "modeling_dream.DreamModel",
        },
        "bos_token_id": eot,
        "eos_token_id": eot,
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": FFN,
        "mask_token_id": ids["<|mask|>"],
        "max_position_embeddings": 4096,
        "max_window_layers": LAYERS,
        "model_type": "Dream",
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "num_key_value_heads": KV_HEADS,
        "pad_token_id": eot,
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 1000000.0,
        "sliding_window": None,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.46.2",
        "use_cache": True,
        "use_mrope": False,
        "use_sliding_window": False,
        "vocab_size": BASE_VOCAB + len(specials) + PADDING_ROWS,
    }


def _open_dcoder(out: Path) -> dict[str, Any]:
    """A plain Qwen2 save (Qwen2.5-Coder's specials) whose tokenizer's mask token is ``<M>``."""
    specials = [*QWEN_SPECIALS, ("<M>", True)]
    ids = special_ids_of(specials)
    qwen_tokenizer(
        out,
        specials,
        {
            "add_prefix_space": False,
            "bos_token": None,
            "clean_up_tokenization_spaces": False,
            "eos_token": "<|endoftext|>",
            "errors": "replace",
            "mask_token": "<M>",
            "model_max_length": 32768,
            "pad_token": "<|endoftext|>",
            "split_special_tokens": False,
            "tokenizer_class": "Qwen2Tokenizer",
            "unk_token": None,
        },
    )
    eot = ids["<|endoftext|>"]
    write_json(out / "generation_config.json", {"bos_token_id": eot, "eos_token_id": eot})
    return {
        "_name_or_path": "fredzzp/open-dcoder-0.5B",
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": eot,
        "eos_token_id": eot,
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": FFN,
        "max_position_embeddings": 4096,
        "max_window_layers": LAYERS,
        "model_type": "qwen2",
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "num_key_value_heads": KV_HEADS,
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 1000000.0,
        "sliding_window": None,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.51.3",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": BASE_VOCAB + len(specials) + PADDING_ROWS,
    }


def _llada(out: Path) -> dict[str, Any]:
    specials = LLADA_SPECIALS
    ids = special_ids_of(specials)
    tok = bpe(specials)
    tok.save(str(out / "tokenizer.json"))
    write_json(
        out / "tokenizer_config.json",
        {
            "add_bos_token": False,
            "add_eos_token": False,
            "added_tokens_decoder": decoder_json(specials),
            "additional_special_tokens": [
                "<role>",
                "</role>",
                "<|arithmetic_start|>",
                "<|arithmetic_end|>",
                "<|number_start|>",
                "<|number_end|>",
            ],
            "bos_token": "<|startoftext|>",
            "clean_up_tokenization_spaces": False,
            "cls_token": "[CLS]",
            "eos_token": "<|endoftext|>",
            "fast_tokenizer": True,
            "gmask_token": "[gMASK]",
            "merges_file": None,
            "model_input_names": ["input_ids", "attention_mask"],
            "model_max_length": 1000000000000000019884624838656,
            "pad_token": "<|endoftext|>",
            "tokenizer_class": "PreTrainedTokenizerFast",
            "trust_remote_code": True,
            "vocab_file": None,
        },
    )
    write_json(
        out / "special_tokens_map.json",
        {
            "additional_special_tokens": [
                "<role>",
                "</role>",
                "<|arithmetic_start|>",
                "<|arithmetic_end|>",
                "<|number_start|>",
                "<|number_end|>",
            ],
            "bos_token": token_json("<|startoftext|>"),
            "cls_token": token_json("[CLS]"),
            "eos_token": token_json("<|endoftext|>"),
            "pad_token": token_json("<|endoftext|>"),
        },
    )
    bos, eos = ids["<|startoftext|>"], ids["<|endoftext|>"]
    write_json(
        out / "generation_config.json",
        {
            "_from_model_config": True,
            "bos_token_id": bos,
            "eos_token_id": eos,
            "transformers_version": "4.38.2",
        },
    )
    rows = BASE_VOCAB + len(specials) + PADDING_ROWS
    return {
        "activation_type": "silu",
        "alibi": False,
        "alibi_bias_max": 8.0,
        "architectures": ["LLaDAModelLM"],
        "attention_dropout": 0.0,
        "attention_layer_norm": False,
        "attention_layer_norm_with_affine": True,
        "auto_map": {
            "AutoConfig": "configuration_llada.LLaDAConfig",
            "AutoModelForCausalLM": "modeling_llada.LLaDAModelLM",
            "AutoModel": "modeling_llada.LLaDAModelLM",
        },
        "bias_for_layer_norm": False,
        "block_group_size": 1,
        "block_type": "llama",
        "d_model": HIDDEN,
        "embedding_dropout": 0.0,
        "embedding_size": rows,
        "eos_token_id": eos,
        "flash_attention": False,
        "include_bias": False,
        "include_qkv_bias": False,
        "init_cutoff_factor": None,
        "init_device": "meta",
        "init_fn": "mitchell",
        "init_std": 0.02,
        "input_emb_norm": False,
        "layer_norm_type": "rms",
        "layer_norm_with_affine": True,
        "mask_token_id": ids["<|mdm_mask|>"],
        "max_sequence_length": 4096,
        "mlp_hidden_size": FFN,
        "mlp_ratio": 4,
        "model_type": "llada",
        "multi_query_attention": None,
        "n_heads": HEADS,
        "n_kv_heads": HEADS,
        "n_layers": LAYERS,
        "pad_token_id": eos,
        "precision": "amp_bf16",
        "residual_dropout": 0.0,
        "rms_norm_eps": 1e-05,
        "rope": True,
        "rope_full_precision": True,
        "rope_theta": 500000.0,
        "scale_logits": False,
        "transformers_version": "4.46.3",
        "use_cache": False,
        "vocab_size": rows,
        "weight_tying": False,
    }


def build(out_dir: str | Path, family: str, seed: int = 0, favour: str | None = None) -> Path:
    """Write a tiny ``family`` checkpoint (one of ``FAMILIES``) to ``out_dir``.

    ``favour``: ``"banned"`` makes every position prefer the control tokens, the mask and the
    embedding's padding rows (see ``_weights``); a special token's text (``"<|expand|>"``) makes
    every position prefer that token.
    """
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if family in DREAM_VARIANTS:
        config = _dream(out, family)
    elif family == "open-dcoder":
        config = _open_dcoder(out)
    elif family == "llada":
        config = _llada(out)
    else:
        raise ValueError(f"unknown family {family!r}: one of {', '.join(FAMILIES)}")
    llama = family == "llada"
    silent = _control_ids(out, llama)
    write_json(out / "config.json", config)
    if favour == "banned":
        favoured = _favoured(out, config)
    else:
        favoured = [_special_id(out, favour)] if favour else []
    weights = random_weights(config, llama, seed, favoured, silent)
    if llama:
        weights = {llada_name(k): v for k, v in weights.items()}
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


def _control_ids(out: Path, llama: bool) -> list[int]:
    """The base vocabulary's ids whose text holds a control character (not a tab or line break)."""
    from transformers import PreTrainedTokenizerFast, Qwen2Tokenizer

    tok = (PreTrainedTokenizerFast if llama else Qwen2Tokenizer).from_pretrained(str(out))

    def control(text: str) -> bool:
        return any((c < " " and c not in "\t\n\r") or c == "\x7f" for c in text)

    return [i for i in range(BASE_VOCAB) if control(tok.decode([i]))]


def _special_id(out: Path, content: str) -> int:
    decoder = json.loads((out / "tokenizer_config.json").read_text())["added_tokens_decoder"]
    return next(int(i) for i, t in decoder.items() if t["content"] == content)


def _favoured(out: Path, config: dict[str, Any]) -> list[int]:
    """The ids a model must never write: the mask, padding rows, and control tokens."""
    decoder = json.loads((out / "tokenizer_config.json").read_text())["added_tokens_decoder"]
    rows = config.get("vocab_size") or config["embedding_size"]
    size = BASE_VOCAB + len(decoder)
    keep = {"<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|dlm_pad|>", "<tool_call>"}
    keep.add("</tool_call>")
    return [int(i) for i, t in decoder.items() if t["content"] not in keep] + list(
        range(size, rows)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m diffusion_lsp.engine.testing.published", description=__doc__
    )
    parser.add_argument("--out", required=True, help="directory to write the checkpoint to")
    parser.add_argument("--family", choices=FAMILIES, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(build(args.out, args.family, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())

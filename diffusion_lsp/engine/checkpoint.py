"""What a checkpoint says about itself: its family, whether logits are shifted, and its special ids.

Everything here is read from the checkpoint's config, generation config and tokenizer, never from
constants: the mask id of one model is an ordinary token of another.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from diffusion_lsp.engine.api import Family, ModelLoadError

BLOCK_MODEL_TYPES = ("diffusion_gemma",)
BLOCK_ARCHITECTURES = ("DiffusionGemmaForBlockDiffusion",)

# Masked-diffusion models adapted from an autoregressive model that keep its next-token head predict
# token i from position i - 1 (Dream, DiffuCoder, Dream-Coder). Models trained as masked LMs from the
# start predict token i at position i (LLaDA, BERT-style). The config attribute
# `diffusion_shift_logits` (true/false) overrides the guess for any checkpoint.
SHIFTED_MODEL_TYPES = ("dream",)
UNSHIFTED_MODEL_TYPES = ("llada",)


def family_of(config_dict: dict[str, Any]) -> Family:
    """``block`` for DiffusionGemma, ``masked`` for everything else."""
    archs = config_dict.get("architectures") or []
    if config_dict.get("model_type") in BLOCK_MODEL_TYPES or any(
        a in BLOCK_ARCHITECTURES for a in archs
    ):
        return "block"
    return "masked"


def is_masked_lm(config_dict: dict[str, Any]) -> bool:
    """True for checkpoints whose architecture is a masked LM (``*ForMaskedLM``)."""
    return any(a.endswith("ForMaskedLM") for a in config_dict.get("architectures") or [])


def shifts_logits(config_dict: dict[str, Any]) -> bool:
    """Whether the logit for token i sits at position i - 1 (see ``SHIFTED_MODEL_TYPES``)."""
    override = config_dict.get("diffusion_shift_logits")
    if override is not None:
        return bool(override)
    model_type = str(config_dict.get("model_type", "")).lower()
    archs = [a.lower() for a in config_dict.get("architectures") or []]
    if model_type in SHIFTED_MODEL_TYPES or any(a.startswith("dream") for a in archs):
        return True
    if model_type in UNSHIFTED_MODEL_TYPES or any(a.startswith("llada") for a in archs):
        return False
    if is_masked_lm(config_dict):
        return False
    # A decoder-style architecture (``*ForCausalLM``) run bidirectionally keeps its next-token head.
    return any(a.endswith("ForCausalLM") for a in archs)


@dataclass(frozen=True)
class SpecialIds:
    """Token ids a masked-diffusion run needs, all from the checkpoint.

    ``lead`` and ``tail`` are the ids the tokenizer wraps a sequence in (``[CLS]``/``[SEP]`` for a
    BERT-style model, a BOS for some decoders, nothing for others). ``stop`` ends a filled hole
    (EOS, and SEP for a masked LM); ``filler`` is dropped wherever it appears: pad, and the null
    token of a model trained to fill the unused end of a hole with it (``null_token_id`` in the
    config, as the embedded model records it).
    """

    mask: int
    pad: int
    stop: frozenset[int]
    filler: frozenset[int]
    lead: tuple[int, ...] = ()
    tail: tuple[int, ...] = ()


def _ids(value: Any) -> list[int]:
    if value is None:
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, Iterable):
        return [int(v) for v in value if v is not None]
    return []


def _first(*values: Any) -> int | None:
    for value in values:
        ids = _ids(value)
        if ids:
            return ids[0]
    return None


def special_ids(
    tokenizer: Any, config: Any, generation_config: Any = None, model: str = "the model"
) -> SpecialIds:
    """Read the mask, pad, stop and wrapper ids from ``tokenizer``, ``config`` and ``generation_config``.

    The mask id comes from the tokenizer's mask token, else ``mask_token_id`` in the config or the
    generation config; a checkpoint with none of them cannot be used as a masked-diffusion model.
    """
    gen = generation_config
    mask = _first(
        getattr(tokenizer, "mask_token_id", None),
        getattr(config, "mask_token_id", None),
        getattr(gen, "mask_token_id", None),
    )
    if mask is None:
        raise ModelLoadError(
            f"{model} has no mask token: neither its tokenizer (mask_token) nor its config or "
            "generation config (mask_token_id) names one, so it cannot be run as a masked-diffusion "
            "model.",
            "use a masked-diffusion checkpoint (a *ForMaskedLM model, Dream, DiffuCoder, LLaDA), or "
            "set mask_token_id in its config.json if the model was trained with one.",
        )
    eos = set(
        _ids(getattr(tokenizer, "eos_token_id", None))
        + _ids(getattr(config, "eos_token_id", None))
        + _ids(getattr(gen, "eos_token_id", None))
    )
    pad = _first(
        getattr(tokenizer, "pad_token_id", None),
        getattr(config, "pad_token_id", None),
        getattr(gen, "pad_token_id", None),
        sorted(eos) or None,
    )
    if pad is None:
        pad = mask  # only pads the batch; attention never sees it
    sep = _ids(getattr(tokenizer, "sep_token_id", None))
    stop = eos | set(sep)
    lead, tail = _wrapper_ids(tokenizer)
    stop.discard(mask)
    null = _ids(getattr(config, "null_token_id", None))
    return SpecialIds(
        mask=mask,
        pad=pad,
        stop=frozenset(stop),
        filler=frozenset({pad, *null} - {mask}),
        lead=lead,
        tail=tail,
    )


def _wrapper_ids(tokenizer: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The special ids the tokenizer puts before and after a text (from encoding an empty text)."""
    try:
        ids = list(tokenizer("", add_special_tokens=True)["input_ids"])
    except Exception:  # a tokenizer that cannot encode an empty text wraps nothing we can learn
        return (), ()
    closing = set(_ids(getattr(tokenizer, "sep_token_id", None))) | set(
        _ids(getattr(tokenizer, "eos_token_id", None))
    )
    split = len(ids)
    while split > 0 and ids[split - 1] in closing:
        split -= 1
    return tuple(ids[:split]), tuple(ids[split:])

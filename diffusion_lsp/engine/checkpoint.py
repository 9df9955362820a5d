"""What a checkpoint says about itself: its family, whether logits are shifted, and its special ids.

Everything here is read from the checkpoint's config, generation config and tokenizer, never from
constants: the mask id of one model is an ordinary token of another.
"""

from __future__ import annotations

import re
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
    archs = [str(a) for a in config_dict.get("architectures") or []]
    if model_type in SHIFTED_MODEL_TYPES or any(a.lower().startswith("dream") for a in archs):
        return True
    if model_type in UNSHIFTED_MODEL_TYPES or any(a.lower().startswith("llada") for a in archs):
        return False
    if is_masked_lm(config_dict):
        return False
    # A decoder-style architecture (``*ForCausalLM``) run bidirectionally keeps its next-token head.
    return any(a.endswith("ForCausalLM") for a in archs)


# Steps a checkpoint's generation config may name for an editor's request; more (Dream's 512) is a
# benchmark setting, and the engine then sizes the steps to the hole instead.
EDITOR_STEPS = 32


def editor_steps(generation_config: Any) -> int | None:
    """The checkpoint's default step count if it suits an editor (at most ``EDITOR_STEPS``)."""
    steps = getattr(generation_config, "steps", None)
    if isinstance(steps, int) and 0 < steps <= EDITOR_STEPS:
        return steps
    return None


# Instruct models end a turn with a chat stop token, not only eos.
CHAT_STOPS = ("<|im_end|>", "<|eot_id|>")
# Pad tokens of their own that models write into the slots past the answer (DiffuCoder).
FILLER_TOKENS = ("<|dlm_pad|>",)
# Control tokens that are never code, marked special or not.
CONTROL = re.compile(r"<\|(fim_[a-z_]+|reserved_token_\d+)\|>")


@dataclass(frozen=True)
class SpecialIds:
    """Token ids a masked-diffusion run needs, all from the checkpoint.

    ``lead`` and ``tail`` are the ids the tokenizer wraps a sequence in (``[CLS]``/``[SEP]`` for a
    BERT-style model, a BOS for some decoders, nothing for others). ``stop`` ends a filled hole
    (EOS, and SEP for a masked LM); ``filler`` is dropped wherever it appears: pad, and the null
    token of a model trained to fill the unused end of a hole with it (``null_token_id`` in the
    config, as the embedded model records it), and a pad token of the model's own (``<|dlm_pad|>``).
    ``banned`` ids are never sampled: the mask, the embedding's padding rows past the tokenizer, and
    control tokens (special tokens that are neither stop nor filler, ``<|fim_*|>``,
    ``<|reserved_token_*|>``). ``expand`` is DreamOn's expand token, when the tokenizer has one.
    """

    mask: int
    pad: int
    stop: frozenset[int]
    filler: frozenset[int]
    lead: tuple[int, ...] = ()
    tail: tuple[int, ...] = ()
    banned: frozenset[int] = frozenset()
    expand: int | None = None


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
    tokenizer: Any,
    config: Any,
    generation_config: Any = None,
    model: str = "the model",
    *,
    lead_bos: bool = False,
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
    vocab = _vocab(tokenizer)
    stop = eos | set(sep) | {vocab[t] for t in CHAT_STOPS if t in vocab}
    lead, tail = _wrapper_ids(tokenizer)
    if lead_bos and not lead:
        bos = _first(
            getattr(tokenizer, "bos_token_id", None),
            getattr(config, "bos_token_id", None),
            getattr(gen, "bos_token_id", None),
        )
        lead = () if bos is None else (bos,)
    stop.discard(mask)
    null = _ids(getattr(config, "null_token_id", None))
    filler = {pad, *null, *(vocab[t] for t in FILLER_TOKENS if t in vocab)} - {mask}
    return SpecialIds(
        mask=mask,
        pad=pad,
        stop=frozenset(stop),
        filler=frozenset(filler),
        lead=lead,
        tail=tail,
        banned=_banned(tokenizer, config, vocab, mask, stop | filler),
        expand=vocab.get("<|expand|>"),
    )


def _vocab(tokenizer: Any) -> dict[str, int]:
    try:
        return dict(tokenizer.get_vocab())
    except Exception:  # noqa: BLE001 - a tokenizer without a vocabulary names no token
        return {}


def _banned(
    tokenizer: Any, config: Any, vocab: dict[str, int], mask: int, allowed: set[int]
) -> frozenset[int]:
    """Ids an infill never writes (see ``SpecialIds.banned``)."""
    banned = {mask}
    try:
        size = len(tokenizer)
    except TypeError:
        size = None
    rows = getattr(config, "vocab_size", None)
    if isinstance(size, int) and isinstance(rows, int):
        banned.update(range(size, rows))  # embedding rows no token maps to
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    banned.update(i for i, t in decoder.items() if getattr(t, "special", False))
    banned.update(_ids(getattr(tokenizer, "all_special_ids", None)))
    banned.update(i for t, i in vocab.items() if CONTROL.fullmatch(t))
    return frozenset(banned - (allowed - {mask}))


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

"""Which model family a checkpoint is, and how to build its model with transformers' own classes.

The masked-diffusion code models (Dream, DiffuCoder, Dream-Coder, DreamOn, LLaDA, Open-dCoder) ship
modeling code written for transformers 4.46 that breaks under transformers 5, but their
architectures are ones transformers implements: a Qwen2 or a Llama block run bidirectionally. So a
recognised family is loaded with transformers' classes and the published weight names (mapped one to
one for LLaDA), never with the checkpoint's code, even when remote code is allowed. Remote code only
runs for an architecture no family here knows, and only when the user opted in.

Recognition reads the config (``model_type``, ``architectures``, ``auto_map``) and the tokenizer (its
mask token, DreamOn's expand token); ``ModelSpec.family`` (``--family``, ``diffusionLsp.family``)
overrides it where the checkpoint does not say.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from diffusion_lsp.engine.api import Family, ModelLoadError, ModelSpec
from diffusion_lsp.engine.checkpoint import family_of, is_masked_lm

EXPAND_TOKEN = "<|expand|>"  # DreamOn's "this slot becomes two" token


@dataclass(frozen=True)
class NativeFamily:
    """A family loaded with transformers' classes.

    ``base``: the transformers architecture ("qwen2" or "llama"); ``shift``: the logit for token i
    sits at position i - 1; ``key_mapping``: checkpoint tensor names (regex) to transformers' names;
    ``lead_bos``: the canvas starts with the bos token; ``hub``: published checkpoints.
    """

    name: str
    base: str
    shift: bool
    hub: tuple[str, ...]
    key_mapping: dict[str, str] = field(default_factory=dict)
    lead_bos: bool = False


# LLaDA's tensor names, one to one onto Llama's (FACTS.md; ``llada/weight-names.txt``).
LLADA_KEYS = {
    r"^model\.transformer\.wte\.": "model.embed_tokens.",
    r"^model\.transformer\.ln_f\.": "model.norm.",
    r"^model\.transformer\.ff_out\.": "lm_head.",
    r"^model\.transformer\.blocks\.(\d+)\.attn_norm\.": r"model.layers.\1.input_layernorm.",
    r"^model\.transformer\.blocks\.(\d+)\.ff_norm\.": r"model.layers.\1.post_attention_layernorm.",
    r"^model\.transformer\.blocks\.(\d+)\.q_proj\.": r"model.layers.\1.self_attn.q_proj.",
    r"^model\.transformer\.blocks\.(\d+)\.k_proj\.": r"model.layers.\1.self_attn.k_proj.",
    r"^model\.transformer\.blocks\.(\d+)\.v_proj\.": r"model.layers.\1.self_attn.v_proj.",
    r"^model\.transformer\.blocks\.(\d+)\.attn_out\.": r"model.layers.\1.self_attn.o_proj.",
    r"^model\.transformer\.blocks\.(\d+)\.ff_proj\.": r"model.layers.\1.mlp.gate_proj.",
    r"^model\.transformer\.blocks\.(\d+)\.up_proj\.": r"model.layers.\1.mlp.up_proj.",
    r"^model\.transformer\.blocks\.(\d+)\.ff_out\.": r"model.layers.\1.mlp.down_proj.",
}

DREAM_HUB = (
    "Dream-org/Dream-v0-Base-7B",
    "Dream-org/Dream-v0-Instruct-7B",
    "apple/DiffuCoder-7B-Base",
    "apple/DiffuCoder-7B-Instruct",
    "apple/DiffuCoder-7B-cpGRPO",
    "Dream-org/Dream-Coder-v0-Base-7B",
    "Dream-org/Dream-Coder-v0-Instruct-7B",
)
NATIVE: dict[str, NativeFamily] = {
    f.name: f
    for f in (
        NativeFamily("dream", "qwen2", shift=True, hub=DREAM_HUB),
        NativeFamily("dreamon", "qwen2", shift=True, hub=("Dream-org/DreamOn-v0-7B",)),
        NativeFamily(
            "llada",
            "llama",
            shift=False,
            hub=("GSAI-ML/LLaDA-8B-Base", "GSAI-ML/LLaDA-8B-Instruct", "GSAI-ML/LLaDA-1.5"),
            key_mapping=LLADA_KEYS,
            lead_bos=True,
        ),
        NativeFamily("open-dcoder", "qwen2", shift=True, hub=("fredzzp/open-dcoder-0.5B",)),
    )
}


def _mentions(config: dict[str, Any], *names: str) -> bool:
    """The model type, an architecture or an ``auto_map`` entry names one of ``names``."""
    auto_map = config.get("auto_map") or {}
    values = [v for v in auto_map.values() for v in (v if isinstance(v, list) else [v]) if v]
    words = [str(config.get("model_type", "")), *(config.get("architectures") or []), *values]
    return any(name in word.lower() for word in words for name in names)


def family_from_config(config: dict[str, Any], override: str = "auto") -> NativeFamily | None:
    """The native family the config (or ``override``) names, before the tokenizer is read.

    Dream and DreamOn share a config (DreamOn is told apart by its tokenizer, ``refine_family``).
    """
    if override != "auto":
        return NATIVE.get(override)
    if _mentions(config, "dream"):
        return NATIVE["dream"]
    if _mentions(config, "llada"):
        return NATIVE["llada"]
    return None


def refine_family(
    family: NativeFamily | None, config: dict[str, Any], tokenizer: Any, override: str = "auto"
) -> NativeFamily | None:
    """What the tokenizer adds: DreamOn's expand token, Open-dCoder's ``<M>`` mask on a Qwen2."""
    if override != "auto":
        return family
    vocab = _vocab(tokenizer)
    if family is not None and family.name == "dream" and EXPAND_TOKEN in vocab:
        return NATIVE["dreamon"]
    mask = getattr(tokenizer, "mask_token", None)
    if family is None and config.get("model_type") == "qwen2" and mask == "<M>":
        return NATIVE["open-dcoder"]
    return family


def _vocab(tokenizer: Any) -> dict[str, int]:
    try:
        return dict(tokenizer.get_vocab())
    except Exception:  # noqa: BLE001 - a tokenizer without a vocabulary names no token
        return {}


# Keys of the published configs that are no Qwen2/Llama setting (or that a native class must not see).
DROPPED = ("auto_map", "model_type", "architectures", "transformers_version", "_name_or_path")


# The keys a published config of each architecture has (the sizes of the model).
REQUIRED = {
    "qwen2": ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size"),
    "llama": ("d_model", "n_layers", "n_heads", "mlp_hidden_size", "vocab_size"),
}


def native_config(family: NativeFamily, config: dict[str, Any]) -> Any:
    """The transformers config of ``family`` built from the published ``config`` (a dict)."""
    from transformers import LlamaConfig, Qwen2Config

    missing = [k for k in REQUIRED[family.base] if k not in config]
    if missing:
        raise ModelLoadError(
            f"the config is not one of the {family.name} family: it lacks {', '.join(missing)}.",
            "set `family` (`--family`) to auto, or to the checkpoint's family.",
        )
    keep = {k: v for k, v in config.items() if k not in DROPPED}
    if keep.get("rope_scaling", 0) is None:
        del keep["rope_scaling"]  # transformers 5 reads rope_parameters; null is its default
    keep["is_causal"] = False  # every family here attends bidirectionally
    keep["diffusion_shift_logits"] = family.shift
    keep["diffusion_family"] = family.name
    if family.base == "qwen2":
        return Qwen2Config(**keep, architectures=["Qwen2ForCausalLM"])
    vocab = config.get("embedding_size") or config["vocab_size"]
    bias = bool(config.get("include_bias") or config.get("include_qkv_bias"))
    return LlamaConfig(
        vocab_size=vocab,
        hidden_size=config["d_model"],
        intermediate_size=config["mlp_hidden_size"],
        num_hidden_layers=config["n_layers"],
        num_attention_heads=config["n_heads"],
        num_key_value_heads=config.get("n_kv_heads") or config["n_heads"],
        hidden_act=config.get("activation_type", "silu"),
        max_position_embeddings=config.get("max_sequence_length", 4096),
        rms_norm_eps=config.get("rms_norm_eps", 1e-5),
        rope_theta=config.get("rope_theta", 10000.0),
        attention_bias=bias,
        mlp_bias=bool(config.get("include_bias")),
        tie_word_embeddings=bool(config.get("weight_tying")),
        bos_token_id=config.get("bos_token_id"),
        eos_token_id=config.get("eos_token_id"),
        pad_token_id=config.get("pad_token_id"),
        mask_token_id=config.get("mask_token_id"),
        is_causal=False,
        diffusion_shift_logits=family.shift,
        diffusion_family=family.name,
        architectures=["LlamaForCausalLM"],
    )


def native_model_class(family: NativeFamily) -> Any:
    from transformers import LlamaForCausalLM, Qwen2ForCausalLM

    return Qwen2ForCausalLM if family.base == "qwen2" else LlamaForCausalLM


def native_tokenizer(name: str, family: NativeFamily | None, common: dict[str, Any]) -> Any:
    """The tokenizer with transformers' own classes (Dream's ``DreamTokenizer`` is a Qwen2
    tokenizer; LLaDA's is a plain fast tokenizer)."""
    from transformers import AutoTokenizer

    kwargs = dict(common, trust_remote_code=False)
    if family is not None and family.base == "qwen2":
        from transformers import Qwen2Tokenizer

        return Qwen2Tokenizer.from_pretrained(name, **kwargs)
    if family is not None:  # LLaDA: its tokenizer.json
        from transformers import PreTrainedTokenizerFast

        return PreTrainedTokenizerFast.from_pretrained(name, **kwargs)
    return AutoTokenizer.from_pretrained(name, **kwargs)


@dataclass
class Plan:
    """How one checkpoint loads: its engine family, its native family if any, and the class.

    ``pending``: a plain Qwen2 save that is no diffusion model unless its tokenizer says it is
    Open-dCoder (``settle`` raises it otherwise).
    """

    family: Family
    native: NativeFamily | None = None
    model_cls: Any = None
    remote: bool = False
    pending: ModelLoadError | None = None

    def tokenizer(self, name: str, common: dict[str, Any], generic: Callable[..., Any]) -> Any:
        if self.native is not None or self.pending is not None:
            return native_tokenizer(name, self.native, common)
        return generic(name, common)

    def settle(self, config: dict[str, Any], tokenizer: Any, spec: ModelSpec) -> None:
        """Decide the family with the tokenizer read, and the class to load the weights with."""
        self.native = refine_family(self.native, config, tokenizer, spec.family)
        if self.native is None and self.pending is not None:
            raise self.pending
        if self.native is not None:
            self.model_cls, self.remote = native_model_class(self.native), False

    def weight_kwargs(self, config: dict[str, Any]) -> dict[str, Any]:
        """``from_pretrained`` arguments of a native family: its config, its name mapping."""
        if self.native is None:
            return {}
        kwargs: dict[str, Any] = {
            "trust_remote_code": False,
            "config": native_config(self.native, config),
        }
        if self.native.key_mapping:
            kwargs["key_mapping"] = self.native.key_mapping
        return kwargs

    def guard(self, fn: Callable[[], Any], name: str, config: dict[str, Any]) -> Callable[[], Any]:
        """``fn``, with an exception from the checkpoint's own code made one clear message."""
        if not self.remote:
            return fn

        def run() -> Any:
            import torch

            try:
                return fn()
            except (ModelLoadError, torch.OutOfMemoryError, MemoryError, OSError):
                raise
            except Exception as exc:  # noqa: BLE001 - the checkpoint's code, not ours
                raise remote_code_error(name, config, exc) from exc

        return run


def plan(config: dict[str, Any], name: str, spec: ModelSpec) -> Plan:
    """The loading plan from the config and ``spec.family`` (the tokenizer may still settle it)."""
    override = spec.family
    if override in ("masked", "block"):
        family: Family = override  # type: ignore[assignment]
    else:
        family = family_of(config) if override == "auto" else "masked"
    if family == "block":
        return Plan("block", model_cls=block_model_class())
    native = family_from_config(config, override)
    if native is not None:
        return Plan("masked", native, native_model_class(native))
    try:
        model_cls, remote = model_class(config, name, spec)
    except ModelLoadError as exc:
        if config.get("model_type") != "qwen2":
            raise
        return Plan("masked", pending=exc)
    return Plan("masked", model_cls=model_cls, remote=remote)


# -- the other families: native masked LMs, bidirectional decoders, DiffusionGemma, remote code --


def model_class(config: dict[str, Any], name: str, spec: ModelSpec) -> tuple[Any, bool]:
    """(the Auto class to load with, whether the checkpoint needs its own code) for a checkpoint
    no native family claims."""
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    model_type = config.get("model_type", "")
    auto_map = config.get("auto_map") or {}
    native = model_type in CONFIG_MAPPING
    if auto_map and not native:
        if not spec.trust_remote_code:
            raise ModelLoadError(
                f"{name} (model type {model_type!r}) runs code shipped with the checkpoint, "
                "which is off by default.",
                "if you trust its authors, set `trust_remote_code` (the "
                "`diffusionLsp.trustRemoteCode` setting, or `--trust-remote-code`); if it is one "
                f"of the families {', '.join(NATIVE)}, set `family` (`--family`) instead.",
            )
        for cls_name, cls in (
            ("AutoModelForMaskedLM", AutoModelForMaskedLM),
            ("AutoModel", AutoModel),
            ("AutoModelForCausalLM", AutoModelForCausalLM),
        ):
            if cls_name in auto_map:
                return cls, True
        raise unsupported(name, model_type, config)
    if not native:
        raise unsupported(name, model_type, config)
    if is_masked_lm(config):
        return AutoModelForMaskedLM, False
    archs = config.get("architectures") or []
    bidirectional = config.get("is_causal") is False
    if any(a.endswith("ForCausalLM") for a in archs) and bidirectional:
        return AutoModelForCausalLM, False
    raise unsupported(name, model_type, config)


def block_model_class() -> Any:
    """DiffusionGemma's class (AutoModel would give the bare model without its head)."""
    import transformers

    cls = getattr(transformers, "DiffusionGemmaForBlockDiffusion", None)
    if cls is None:
        raise ModelLoadError(
            f"DiffusionGemma needs transformers >= 5.13; this is {transformers.__version__}.",
            "pip install -U 'transformers>=5.13'.",
        )
    return cls


def unsupported(name: str, model_type: str, config: dict[str, Any]) -> ModelLoadError:
    archs = ", ".join(config.get("architectures") or []) or "none named"
    return ModelLoadError(
        f"{name} is not a diffusion model this engine can run (model type {model_type!r}, "
        f"architectures: {archs}). Autoregressive (causal) LMs cannot fill holes by denoising.",
        "use DiffusionGemma, a masked LM (*ForMaskedLM), or a masked-diffusion model: "
        f"{', '.join(NATIVE)} (set `family` where the checkpoint does not say which).",
    )


def remote_code_error(name: str, config: dict[str, Any], exc: BaseException) -> ModelLoadError:
    """One message for an exception raised inside a checkpoint's own code."""
    import transformers

    written = config.get("transformers_version") or "an unknown version"
    detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return ModelLoadError(
        f"the code shipped with {name} failed ({type(exc).__name__}: {detail}); it was written "
        f"for transformers {written} and this is transformers {transformers.__version__}.",
        f"if it is one of the families {', '.join(NATIVE)}, set `family` (`--family`) to load it "
        f"without its code; otherwise run it with transformers {written} in its own environment.",
    )

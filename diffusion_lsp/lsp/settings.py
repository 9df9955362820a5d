"""The settings of section ``diffusionLsp``: one typed schema, parsed leniently, exported as JSON.

Each field carries its own description and constraints; the same classes parse what the client sends
(``initializationOptions``, ``workspace/didChangeConfiguration``, ``workspace/configuration``), and
``schema`` generates ``docs/configuration.md`` and the JSON Schema the VS Code extension's
``contributes.configuration`` is built from (the sections are in ``settings_sections.py``). Keys
are camelCase on the wire. Parsing is a cattrs ``Converter``: strict hooks for the JSON types, and per-field overrides that rename, enforce the constraints and, on a bad value, warn
and keep that field's default; the rest of the settings still apply.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import typing
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from diffusion_lsp.engine import api
from diffusion_lsp.lsp.settings_sections import (
    SECTION,
    DiagnosticsSettings,
    InlineSettings,
    NextEditSettings,
    RemoteSettings,
    TraceSettings,
    setting,
)


@dataclass(frozen=True)
class Settings:
    """Everything the server can be told (section ``diffusionLsp``)."""

    model: str = setting(
        "",
        "Hugging Face model id or local directory. Empty: the project's embedded default model.",
    )
    revision: str = setting("", "Model revision (branch, tag or commit). Empty: the default.")
    dtype: str = setting(
        "auto",
        "Weight dtype. auto: bfloat16 on CUDA and on CPUs with native bf16 (AVX512_BF16, AMX), "
        "float32 elsewhere.",
        enum=list(api.DTYPES),
    )
    device: str = setting(
        "auto",
        "Device for the model: auto, cpu, cuda, cuda:N or mps.",
        pattern=r"^(auto|cpu|cuda(:[0-9]+)?|mps)$",
    )
    device_map: str = setting(
        "", "accelerate device_map (for example 'auto') for models larger than one device."
    )
    trust_remote_code: bool = setting(
        False,
        "Allow models whose code ships with the checkpoint, for architectures with no native "
        "family here (Dream, DiffuCoder, LLaDA and Open-dCoder never need it). "
        "That code runs on your machine: enable it only for models you trust.",
    )
    family: str = setting(
        "auto",
        "Model family where the checkpoint does not say which (auto: read it from the checkpoint). "
        "dream, dreamon, llada and open-dcoder load natively, without the checkpoint's code.",
        enum=list(api.FAMILY_CHOICES),
    )
    infill_mode: str = setting(
        "auto",
        "How holes are put to the model: inpaint (mask the hole between prefix and suffix), "
        "instruct (an instruction prompt, for instruction-tuned models), or auto.",
        enum=list(typing.get_args(api.InfillMode)),
    )
    quantization: str = setting(
        "none",
        "Weight quantization: 8bit and 4bit need bitsandbytes; fp8 (half the bytes of bf16, for "
        "the linear layers) needs a GPU of compute capability 8.9 or higher.",
        enum=list(typing.get_args(api.Quantization)),
    )
    steps: int = setting(
        0,
        "Denoising steps for code actions and commands. 0: the checkpoint's default.",
        minimum=0,
        maximum=1024,
    )
    max_tokens: int = setting(
        256, "Largest region (in tokens) code actions fill or rewrite.", minimum=1, maximum=4096
    )
    context_tokens: int = setting(
        2048,
        "Token budget for the code around the region (nearest lines first).",
        minimum=16,
        maximum=131072,
    )
    alternatives: int = setting(
        3,
        "Inline completion alternatives returned per request, at most (one per hole length tried, "
        "or per sample above temperature 0; an automatic request on the embedded model tries one "
        "length: inline.automatic.searchLength).",
        minimum=1,
        maximum=16,
    )
    refine_fraction: float = setting(
        0.3,
        "Share of a selection's tokens that 'Refine selection' renoises.",
        minimum=0.05,
        maximum=1.0,
    )
    load_wait_ms: int = setting(
        15000,
        "How long a request that arrives while the model loads waits for it before it gets an "
        "empty answer.",
        minimum=0,
        maximum=600000,
    )
    max_file_bytes: int = setting(
        2_000_000,
        "Files larger than this (UTF-8 bytes) are tracked but get no completions or diagnostics.",
        minimum=1000,
    )
    inline: InlineSettings = setting(InlineSettings(), "Inline completion.")
    next_edit: NextEditSettings = setting(NextEditSettings(), "Next edit suggestions.")
    diagnostics: DiagnosticsSettings = setting(DiagnosticsSettings(), "Syntax diagnostics.")
    trace: TraceSettings = setting(TraceSettings(), "Protocol tracing (client side).")
    remote: RemoteSettings = setting(
        RemoteSettings(), "A remote OpenAI-compatible server instead of the local model."
    )

    def model_spec(self) -> api.ModelSpec:
        """The model these settings ask for."""
        return api.ModelSpec(
            model=self.model or None,
            revision=self.revision or None,
            dtype=typing.cast(api.Dtype, self.dtype),
            device=self.device,
            device_map=self.device_map or None,
            trust_remote_code=self.trust_remote_code,
            infill_mode=typing.cast(api.InfillMode, self.infill_mode),
            quantization=typing.cast(api.Quantization, self.quantization),
            family=typing.cast(api.FamilyChoice, self.family),
            remote=self.remote.spec(),
        )


# -- names ----------------------------------------------------------------------------------------


def camel(name: str) -> str:
    """``max_tokens`` -> ``maxTokens``."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def typed_fields(cls: type) -> list[tuple[dataclasses.Field, type]]:
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls)]


# -- the converter --------------------------------------------------------------------------------
#
# Strict hooks for the leaf types (JSON has no ints that are bools, no strings that are numbers); the
# field overrides of each settings object add the camelCase name, the field's constraints and the
# lenient part: a bad value is reported and replaced by the field's default.


class _Invalid(ValueError):
    """A value of the wrong JSON type; the message says what was expected."""


def _strict(expected: str, ok: typing.Callable[[Any], bool], convert: Any = None) -> Any:
    def hook(value: Any, _type: Any) -> Any:
        if not ok(value):
            raise _Invalid(f"expected {expected}, got {json.dumps(value)}")
        return convert(value) if convert else value

    return hook


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


STRINGS = tuple[str, ...]
_converter = cattrs.Converter(unstruct_collection_overrides={tuple: list})
_converter.register_structure_hook(bool, _strict("true or false", lambda v: isinstance(v, bool)))
_converter.register_structure_hook(
    int, _strict("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool))
)
_converter.register_structure_hook(float, _strict("a number", _is_number, float))
_converter.register_structure_hook(str, _strict("a string", lambda v: isinstance(v, str)))
_converter.register_structure_hook_func(
    lambda t: t == STRINGS,
    _strict(
        "a list of non-empty strings",
        lambda v: isinstance(v, list) and all(isinstance(x, str) and x for x in v),
        tuple,
    ),
)
_converter.register_unstructure_hook_factory(
    dataclasses.is_dataclass,
    lambda cls: make_dict_unstructure_fn(
        cls, _converter, **{f.name: override(rename=camel(f.name)) for f in dataclasses.fields(cls)}
    ),
)

# The warnings of the parse in progress.
_warnings: ContextVar[list[str]] = ContextVar("settings_warnings")


def _constraint_problem(value: Any, meta: Any) -> str:
    """Why ``value`` (of the right type) breaks ``meta``'s constraints ('' if it does not)."""
    if "enum" in meta and value not in meta["enum"]:
        return f"{json.dumps(value)} is not one of {', '.join(meta['enum'])}"
    if "pattern" in meta and not re.match(meta["pattern"], value):
        return f"{json.dumps(value)} is not valid"
    if "minimum" in meta and value < meta["minimum"]:
        return f"{value} is below the minimum {meta['minimum']}"
    if "maximum" in meta and value > meta["maximum"]:
        return f"{value} is above the maximum {meta['maximum']}"
    return ""


def _value_hook(typ: Any, meta: Any, default: Any, where: str) -> typing.Callable[[Any, Any], Any]:
    """Structures one leaf setting; a bad value warns and gives ``default``."""

    def hook(value: Any, _type: Any) -> Any:
        if value is None:
            return default
        try:
            out = _converter.structure(value, typ)
            problem = _constraint_problem(value, meta)
        except _Invalid as error:
            problem = str(error)
        if problem:
            _warnings.get().append(f"{where}: {problem}; using the default {json.dumps(default)}")
            return default
        return out

    return hook


def _object_hook(cls: type, default: Any, where: str) -> typing.Callable[[Any, Any], Any]:
    """Structures a settings object at ``where``: absent keys keep ``default``'s values (which, for a
    nested object, may differ from its class's), unknown keys are reported and ignored."""
    overrides = {}
    for f, typ in typed_fields(cls):
        value, key = getattr(default, f.name), camel(f.name)
        if dataclasses.is_dataclass(typ):
            hook = _object_hook(typ, value, f"{where}.{key}")
        else:
            hook = _value_hook(typ, f.metadata, value, f"{where}.{key}")
        overrides[f.name] = override(rename=key, struct_hook=hook)
    structure = make_dict_structure_fn(
        cls, _converter, _cattrs_forbid_extra_keys=False, **overrides
    )
    defaults = to_wire(default)

    def hook(value: Any, _type: Any) -> Any:
        if value is None:
            return default
        if not isinstance(value, dict):
            _warnings.get().append(f"{where}: expected an object; using the defaults")
            return default
        out = structure({**defaults, **value}, cls)
        for key in value:
            if key not in defaults:
                _warnings.get().append(f"{where}.{key}: unknown setting, ignored")
        return out

    return hook


# -- parsing --------------------------------------------------------------------------------------


def parse(raw: Any, base: Settings | None = None) -> tuple[Settings, list[str]]:
    """Settings from the client's object for section ``diffusionLsp`` (camelCase keys).

    Returns the settings and one warning per bad or unknown value; a bad value keeps its default.
    Keys that are absent take their defaults (``base`` is not merged: each message carries the whole
    section). ``{"diffusionLsp": {...}}`` is unwrapped.
    """
    warnings: list[str] = []
    if isinstance(raw, dict) and set(raw) == {SECTION}:
        raw = raw[SECTION]
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        warnings.append(f"{SECTION}: expected an object, got {type(raw).__name__}; using defaults")
        raw = {}
    token = _warnings.set(warnings)
    try:
        return _structure_settings()(raw, Settings), warnings
    finally:
        _warnings.reset(token)


@functools.cache
def _structure_settings() -> typing.Callable[[Any, Any], Settings]:
    return _object_hook(Settings, Settings(), SECTION)


# -- export ---------------------------------------------------------------------------------------


def to_wire(settings: Any) -> dict[str, Any]:
    """The camelCase object a client would send for ``settings``."""
    return _converter.unstructure(settings)

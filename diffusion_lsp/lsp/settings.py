"""The settings of section ``diffusionLsp``: one typed schema, parsed leniently, exported as JSON.

Each field carries its own description and constraints; the same classes parse what the client sends
(``initializationOptions``, ``workspace/didChangeConfiguration``, ``workspace/configuration``), generate
``docs/configuration.md`` and the JSON Schema the VS Code extension's ``contributes.configuration`` is
built from. Keys are camelCase on the wire. A bad value gets a warning and its default; the rest of
the settings still apply.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from diffusion_lsp.engine import api

SECTION = "diffusionLsp"


def setting(default: Any, doc: str, **constraints: Any) -> Any:
    """A settings field: its default, a description, and JSON-Schema constraints
    (``enum``, ``minimum``, ``maximum``, ``pattern``), which parsing enforces too."""
    meta = {"doc": doc, **constraints}
    if isinstance(default, (dict, list)) or dataclasses.is_dataclass(default):
        return field(default_factory=lambda: default, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class TriggerBudget:
    """How much work one inline completion may take."""

    steps: int = setting(8, "Denoising steps per completion.", minimum=1, maximum=512)
    max_tokens: int = setting(
        32, "Largest hole (in tokens) tried at the cursor.", minimum=1, maximum=1024
    )


@dataclass(frozen=True)
class DebounceSettings:
    """How long an automatic inline request waits for typing to pause."""

    min_ms: int = setting(
        0,
        "Shortest pause after the last change before an automatic suggestion is computed.",
        minimum=0,
        maximum=5000,
    )
    max_ms: int = setting(
        500,
        "Longest pause an automatic suggestion waits for. Between the two, the wait adapts to "
        "your typing: 1.5 times your usual interval between changes to the document (the median "
        "of the last 8, pauses over 2 s left out), counted from the last change. A newer request "
        "for the document supersedes a waiting one, so while you type at your pace no new "
        "suggestion appears; one comes once you pause. 0: no wait.",
        minimum=0,
        maximum=5000,
    )


@dataclass(frozen=True)
class InlineSettings:
    """Inline (ghost-text) completion."""

    automatic: TriggerBudget = setting(
        TriggerBudget(steps=8, max_tokens=24),
        "Budget of completions the editor asks for while you type: small, so they come fast.",
    )
    invoked: TriggerBudget = setting(
        TriggerBudget(steps=24, max_tokens=128),
        "Budget of completions you ask for explicitly (a key binding): more steps, longer holes.",
    )
    max_lines: int = setting(
        12, "Most lines an inline completion may span.", minimum=1, maximum=200
    )
    min_confidence: float = setting(
        0.5,
        "Automatic suggestions whose confidence (the mean probability the model gave their "
        "tokens) is below this are not shown. The default comes from the embedded model on "
        "held-out Python lines (docs/benchmarks.md, 'Inline confidence floor'): 0.5 is the "
        "highest floor that kept every exactly right suggestion, in two samples of about 250 "
        "requests; it hid 62% of the suggestions, two thirds of those that do not parse, and 43% "
        "of the wrong first ghosts. Raise it for fewer, better ghosts; 0: show everything. "
        "Explicit requests (the trigger key) are not filtered.",
        minimum=0.0,
        maximum=1.0,
    )
    languages: tuple[str, ...] = setting(
        (),
        "Language ids (as the editor names them: python, javascript, ...) that get automatic "
        "suggestions. Empty: the languages the model was trained on (the embedded model: python "
        "only; a model that does not say: all). '*': every language. Explicit requests (the "
        "trigger key) work in any language.",
    )
    debounce: DebounceSettings = setting(DebounceSettings(), "Waiting for a pause in typing.")


@dataclass(frozen=True)
class DiagnosticsSettings:
    """Syntax-error diagnostics from tree-sitter."""

    enabled: bool = setting(
        True, "Publish syntax errors as diagnostics, each with a 'Fix syntax error' quick fix."
    )
    debounce_ms: int = setting(
        150, "Wait this long after the last change before publishing.", minimum=0, maximum=10000
    )


@dataclass(frozen=True)
class TraceSettings:
    """Client-side protocol tracing (the server ignores it)."""

    server: str = setting(
        "off",
        "Log the messages between the editor and the server (read by the client only).",
        enum=["off", "messages", "verbose"],
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
        "Weight dtype. auto: bfloat16 on CUDA, float32 on CPU.",
        enum=["auto", "float32", "bfloat16", "float16"],
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
        "Allow models whose code ships with the checkpoint (Dream, DiffuCoder, LLaDA). "
        "That code runs on your machine: enable it only for models you trust.",
    )
    infill_mode: str = setting(
        "auto",
        "How holes are put to the model: inpaint (mask the hole between prefix and suffix), "
        "instruct (an instruction prompt, for instruction-tuned models), or auto.",
        enum=["auto", "inpaint", "instruct"],
    )
    quantization: str = setting(
        "none",
        "Weight quantization: 8bit and 4bit need bitsandbytes; fp8 (half the bytes of bf16, for "
        "the linear layers) needs a GPU of compute capability 8.9 or higher.",
        enum=["none", "8bit", "4bit", "fp8"],
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
        3, "Inline completion alternatives returned per request.", minimum=1, maximum=16
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
    diagnostics: DiagnosticsSettings = setting(DiagnosticsSettings(), "Syntax diagnostics.")
    trace: TraceSettings = setting(TraceSettings(), "Protocol tracing (client side).")

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
            quantization=typing.cast(Literal["none", "8bit", "4bit", "fp8"], self.quantization),
        )


# -- names ----------------------------------------------------------------------------------------


def camel(name: str) -> str:
    """``max_tokens`` -> ``maxTokens``."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _fields(cls: type) -> list[tuple[dataclasses.Field, type]]:
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls)]


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
    return _parse_object(Settings(), raw, SECTION, warnings), warnings


def _parse_object(defaults: Any, raw: dict, path: str, warnings: list[str]) -> Any:
    """``defaults`` with the valid values of ``raw`` put in."""
    values: dict[str, Any] = {}
    known = set()
    for f, typ in _fields(type(defaults)):
        key = camel(f.name)
        known.add(key)
        if key not in raw or raw[key] is None:
            continue
        value = raw[key]
        where = f"{path}.{key}"
        if dataclasses.is_dataclass(typ):
            if isinstance(value, dict):
                values[f.name] = _parse_object(getattr(defaults, f.name), value, where, warnings)
            else:
                warnings.append(f"{where}: expected an object; using the defaults")
            continue
        problem = _check(value, typ, f.metadata)
        if problem:
            default = getattr(defaults, f.name)
            warnings.append(f"{where}: {problem}; using the default {json.dumps(default)}")
        elif _is_list(typ):
            values[f.name] = tuple(value)
        else:
            values[f.name] = float(value) if typ is float else value
    for key in raw:
        if key not in known:
            warnings.append(f"{path}.{key}: unknown setting, ignored")
    return dataclasses.replace(defaults, **values)


def _is_list(typ: Any) -> bool:
    """Whether ``typ`` is a list setting (``tuple[str, ...]``: a JSON array of strings)."""
    return typing.get_origin(typ) is tuple


def _check(value: Any, typ: Any, meta: Any) -> str:
    """Why ``value`` is not a valid ``typ`` under ``meta``'s constraints ('' if it is)."""
    if _is_list(typ):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            return f"expected a list of non-empty strings, got {json.dumps(value)}"
        return ""
    if typ is bool:
        if not isinstance(value, bool):
            return f"expected true or false, got {json.dumps(value)}"
        return ""
    if typ is int and (not isinstance(value, int) or isinstance(value, bool)):
        return f"expected an integer, got {json.dumps(value)}"
    if typ is float and (not isinstance(value, (int, float)) or isinstance(value, bool)):
        return f"expected a number, got {json.dumps(value)}"
    if typ is str and not isinstance(value, str):
        return f"expected a string, got {json.dumps(value)}"
    if "enum" in meta and value not in meta["enum"]:
        return f"{json.dumps(value)} is not one of {', '.join(meta['enum'])}"
    if "pattern" in meta and not re.match(meta["pattern"], value):
        return f"{json.dumps(value)} is not valid"
    if "minimum" in meta and value < meta["minimum"]:
        return f"{value} is below the minimum {meta['minimum']}"
    if "maximum" in meta and value > meta["maximum"]:
        return f"{value} is above the maximum {meta['maximum']}"
    return ""


# -- export ---------------------------------------------------------------------------------------

_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def to_wire(settings: Any) -> dict[str, Any]:
    """The camelCase object a client would send for ``settings``."""
    out: dict[str, Any] = {}
    for f, _ in _fields(type(settings)):
        value = getattr(settings, f.name)
        if dataclasses.is_dataclass(value):
            value = to_wire(value)
        out[camel(f.name)] = list(value) if isinstance(value, tuple) else value
    return out


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of section ``diffusionLsp``, nested as the client sends it."""
    schema = _object_schema(Settings(), Settings.__doc__ or "")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": SECTION,
        **schema,
    }


def _object_schema(defaults: Any, doc: str) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for f, typ in _fields(type(defaults)):
        value = getattr(defaults, f.name)
        if dataclasses.is_dataclass(typ):
            props[camel(f.name)] = _object_schema(value, f.metadata["doc"])
            continue
        if _is_list(typ):
            prop: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
            value = list(value)
        else:
            prop = {"type": _JSON_TYPES[typ]}
        prop.update({"default": value, "description": f.metadata["doc"]})
        prop.update({k: v for k, v in f.metadata.items() if k != "doc"})
        props[camel(f.name)] = prop
    return {
        "type": "object",
        "description": doc,
        "properties": props,
        "additionalProperties": False,
    }


def flat_properties() -> dict[str, dict[str, Any]]:
    """Every leaf setting by its dotted name (``diffusionLsp.inline.automatic.steps``), in the
    shape of VS Code's ``contributes.configuration.properties``."""
    out: dict[str, dict[str, Any]] = {}

    def walk(obj: dict[str, Any], prefix: str) -> None:
        for key, prop in obj["properties"].items():
            if prop["type"] == "object":
                walk(prop, f"{prefix}.{key}")
            else:
                out[f"{prefix}.{key}"] = prop

    walk(json_schema(), SECTION)
    return out


def vscode_configuration() -> dict[str, Any]:
    """``contributes.configuration`` for the VS Code extension's package.json."""
    return {"title": "Diffusion LSP", "properties": flat_properties()}


def markdown() -> str:
    """docs/configuration.md."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated by `diffusion-lsp schema --format markdown`; edit "
        "`diffusion_lsp/lsp/settings.py` instead. -->",
        "",
        f"All settings live in the section `{SECTION}`. The server reads them from",
        "`initializationOptions` (the object under the section), from",
        '`workspace/didChangeConfiguration` (`{"settings": {"diffusionLsp": {...}}}`) and, where',
        "the client supports it, by pulling `workspace/configuration`. A bad value is reported with",
        "a warning (`window/showMessage`) and replaced by its default. A change to any of `model`,",
        "`revision`, `dtype`, `device`, `deviceMap`, `trustRemoteCode`, `infillMode` or",
        "`quantization` reloads the model.",
        "",
        "`diffusion-lsp schema --format json` prints the JSON Schema; `--format vscode` prints",
        "VS Code's `contributes.configuration`.",
        "",
        "Suggestions the editor asks for while you type (automatic inline completions) pass three",
        "gates that a suggestion you ask for with the trigger key skips: the file's language is one",
        "the model was trained on (`inline.languages`; **the embedded model is Python-first: by",
        "default it makes automatic suggestions in Python files only**), typing has paused",
        "(`inline.debounce`), and the suggestion's confidence reaches `inline.minConfidence`.",
        "",
        "| Setting | Type | Default | Description |",
        "|---|---|---|---|",
    ]
    for name, prop in flat_properties().items():
        typ = prop["type"]
        if typ == "array":
            typ = f"array of {prop['items']['type']}"
        if "enum" in prop:
            typ = " \\| ".join(f"`{v}`" for v in prop["enum"])
        limits = []
        if "minimum" in prop:
            limits.append(f"min {prop['minimum']}")
        if "maximum" in prop:
            limits.append(f"max {prop['maximum']}")
        if limits:
            typ += f" ({', '.join(limits)})"
        default = json.dumps(prop["default"])
        lines.append(f"| `{name}` | {typ} | `{default}` | {prop['description']} |")
    lines += [
        "",
        "Example (`initializationOptions`, or the `diffusionLsp` object of a client's settings):",
        "",
        "```json",
        json.dumps(
            {
                "model": "/path/to/model",
                "device": "cuda",
                "alternatives": 2,
                "inline": {"automatic": {"steps": 6, "maxTokens": 16}},
                "diagnostics": {"enabled": False},
            },
            indent=2,
        ),
        "```",
        "",
    ]
    return "\n".join(lines)

"""Model loading: resolve a ``ModelSpec`` to a checkpoint, load it, and pick the family's engine.

A Hugging Face id or a local directory; revision; dtype and device resolved from the machine;
``device_map`` through accelerate; remote code only when the user allows it; the hub's offline mode
respected. Every failure the user can fix ends in one ``ModelLoadError`` that names the fix.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from diffusion_lsp.engine import families
from diffusion_lsp.engine.api import (
    Engine,
    EngineInfo,
    ModelLoadError,
    ModelSpec,
)
from diffusion_lsp.engine.devices import resolve_device, resolve_dtype

Progress = Callable[[str, "float | None"], None]

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "code-small"
HUB_ID = re.compile(r"[A-Za-z0-9_][\w.-]*(/[\w.-]+)?")  # "name" or "org/name"
SET_MODEL = (
    "set the model (the `diffusionLsp.model` setting, or `--model` on the command line) to a "
    "Hugging Face id or a local directory."
)
REPAIR_TAIL = (
    "save the model again with save_pretrained, or download it again (delete the directory, then "
    "`huggingface-cli download ID --local-dir DIR`), or point the model setting at a complete copy."
)
REPAIR = "the directory is damaged or was not written by save_pretrained: " + REPAIR_TAIL
MOVE_FIX = "set device to auto or cpu, or check the GPU with `diffusion-lsp doctor`."


def offline() -> bool:
    """The hub's offline mode (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``), read at call time."""
    return any(
        os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on")
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def resolve_model(spec: ModelSpec) -> tuple[str, bool]:
    """(what to pass to ``from_pretrained``, whether it is a local directory)."""
    if spec.model is None:
        if not (DEFAULT_MODEL_DIR / "config.json").is_file():
            raise ModelLoadError(
                "no model is set and the embedded default model is not installed in this build "
                f"({DEFAULT_MODEL_DIR}).",
                SET_MODEL,
            )
        return str(DEFAULT_MODEL_DIR), True
    name = os.path.expanduser(spec.model)
    if not os.path.exists(name) and looks_like_path(name):
        where = os.path.abspath(name)
        raise ModelLoadError(
            f"no model directory at {spec.model} (looked for {where}; relative paths are taken "
            f"from the server's working directory, {os.getcwd()}).",
            "point the model setting at the directory save_pretrained wrote (an absolute path: "
            "an editor may start the server in any directory), or at a Hugging Face id.",
        )
    if os.path.isdir(name):
        if not os.path.isfile(os.path.join(name, "config.json")):
            raise ModelLoadError(
                f"{name} is a directory but holds no config.json, so it is not a saved model.",
                "point the model setting at the directory save_pretrained wrote, or at a "
                "Hugging Face id.",
            )
        return name, True
    if os.path.exists(name):
        raise ModelLoadError(f"{name} is a file, not a model directory.", SET_MODEL)
    if not HUB_ID.fullmatch(name):
        raise ModelLoadError(f"no model directory at {name}.", SET_MODEL)
    return name, False


# The hub's own pages (huggingface.co/models, /datasets, ...): no user or organisation has these
# names, so ``models/foo`` is never a hub id.
HUB_ROUTES = frozenset({"models", "datasets", "spaces", "docs", "api", "collections", "papers"})


def looks_like_path(name: str) -> bool:
    """A local path, never a hub id: absolute, ``.``/``..``/``~``-relative or with a backslash,
    or ``a/b`` where ``a`` is a directory here or one of ``HUB_ROUTES`` (a hub id is ``org/name``
    or a bare ``name``)."""
    if os.path.isabs(name) or name in (".", "..") or "\\" in name:
        return True
    if name.startswith(("./", "../", "~")):
        return True
    first, slash, _ = name.partition("/")
    return bool(slash) and (first in HUB_ROUTES or os.path.isdir(first))


def read_config(name: str, spec: ModelSpec, local: bool) -> dict[str, Any]:
    """The checkpoint's config.json as a dict, without running any remote code."""
    from transformers import PretrainedConfig

    if local:
        _check_local_config(name)
    try:
        config, _ = PretrainedConfig.get_config_dict(
            name, revision=spec.revision, local_files_only=local or offline()
        )
    except Exception as exc:  # noqa: BLE001 - hub and file errors are classified for the user
        if local:
            raise _local_error(name, "config.json", exc) from exc
        raise _hub_error(name, spec, exc) from exc
    if not isinstance(config, dict):
        raise _not_an_object(name, config)
    return config


def _check_local_config(name: str) -> None:
    """config.json must parse as JSON and be an object (transformers fails on a list or a string
    with an AttributeError that names neither the file nor the model)."""
    path = os.path.join(name, "config.json")
    try:
        with open(path, "rb") as f:
            config = json.loads(f.read())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"the config.json of {name} is not readable JSON ({type(exc).__name__}: {exc}).",
            REPAIR,
        ) from exc
    if not isinstance(config, dict):
        raise _not_an_object(name, config)


def _not_an_object(name: str, config: Any) -> ModelLoadError:
    return ModelLoadError(
        f"the config.json of {name} holds a JSON {type(config).__name__} ({str(config)[:40]!r}), "
        "not the object a saved model has.",
        REPAIR,
    )


# What each loading step reads, and what to do when it cannot (for a local directory).
LOCAL_FIXES = {
    "config.json": REPAIR,
    "the tokenizer": "the directory needs the tokenizer files save_pretrained writes "
    "(tokenizer.json and tokenizer_config.json, or the model's vocabulary files): save the "
    "tokenizer beside the model (`tokenizer.save_pretrained(dir)`), or " + REPAIR_TAIL,
    "the weights": "the weights (model.safetensors, or pytorch_model.bin) are missing, truncated "
    "or not a checkpoint: " + REPAIR_TAIL,
}


def _local_error(name: str, what: str, exc: BaseException) -> ModelLoadError:
    """A local directory that does not load: what failed, the library's words, and a fix."""
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return ModelLoadError(
        f"could not load {what} of {name} ({type(exc).__name__}: {detail}).",
        LOCAL_FIXES.get(what, MOVE_FIX if what.startswith("the model onto") else REPAIR),
    )


def _hub_error(name: str, spec: ModelSpec, exc: Exception) -> ModelLoadError:
    error = _classify_hub_error(name, spec, exc)
    if "/" in name and not os.path.isabs(name):  # org/name may have been meant as a path
        error = ModelLoadError(
            f"{error.message} (Read as a Hugging Face id: there is no local directory "
            f"{os.path.abspath(name)}.)",
            error.fix,
        )
    return error


def _classify_hub_error(name: str, spec: ModelSpec, exc: Exception) -> ModelLoadError:
    text = f"{type(exc).__name__}: {exc}"
    if offline():
        return ModelLoadError(
            f"{name} is not in the local Hugging Face cache and the hub's offline mode is on "
            "(HF_HUB_OFFLINE).",
            f"download it once with network access (`huggingface-cli download {name}`), or unset "
            "HF_HUB_OFFLINE, or point the model setting at a local directory.",
        )
    if spec.revision and ("RevisionNotFound" in text or "revision" in text.lower()):
        return ModelLoadError(
            f"revision {spec.revision!r} of {name} was not found.",
            "set revision to an existing branch, tag or commit, or leave it unset.",
        )
    if any(s in text for s in ("couldn't connect", "Connect", "Name or service", "Max retries")):
        return ModelLoadError(
            f"could not reach the Hugging Face hub to fetch {name}, and it is not in the local cache.",
            f"connect to the network once (`huggingface-cli download {name}`), or point the model "
            "setting at a local directory; set HF_HUB_OFFLINE=1 to stop trying the network.",
        )
    if "RepositoryNotFound" in text or "not a valid model identifier" in text or "404" in text:
        return ModelLoadError(
            f"there is no model {name!r} on the Hugging Face hub (or it is private or gated).",
            "check the id, log in with `huggingface-cli login` for a gated model, or " + SET_MODEL,
        )
    return ModelLoadError(f"could not read the config of {name}: {text}", SET_MODEL)


def load_engine(spec: ModelSpec, progress: Progress | None = None) -> Engine:
    """Load the model ``spec`` names and wrap it in its family's engine.

    Every failure is one ``ModelLoadError`` whose message names the model and whose fix says what
    to do; an error this module does not know becomes one too, with the library's words in it.
    """
    label = spec.model or "the default model"
    try:
        return _load_engine(spec, progress)
    except ModelLoadError as exc:
        if label in exc.message or (spec.model is None and str(DEFAULT_MODEL_DIR) in exc.message):
            raise
        raise ModelLoadError(f"{label}: {exc.message}", exc.fix) from exc
    except Exception as exc:  # noqa: BLE001 - turned into one message the user can act on
        detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise ModelLoadError(
            f"loading {label} failed ({type(exc).__name__}: {detail}).",
            "check that the directory or hub id holds a complete diffusion checkpoint "
            "(`diffusion-lsp doctor --load --model ...` reports each step); if it loads with "
            "transformers directly, this is a bug in diffusion-lsp worth reporting.",
        ) from exc


def _load_engine(spec: ModelSpec, progress: Progress | None) -> Engine:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # progress goes through `progress`, not to stderr
    report = progress or (lambda _message, _fraction: None)
    start = time.perf_counter()
    name, local = resolve_model(spec)
    report(f"reading the config of {name}", 0.0)
    config = read_config(name, spec, local)
    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype, device)
    plan = families.plan(config, name, spec)
    family = plan.family
    common = {
        "revision": spec.revision,
        "local_files_only": local or offline(),
        "trust_remote_code": bool(spec.trust_remote_code and plan.remote),
    }
    report("loading the tokenizer", 0.1)
    tokenizer = _load(
        lambda: plan.tokenizer(name, common, _tokenizer), name, spec, local, "the tokenizer"
    )
    plan.settle(config, tokenizer, spec)
    report("loading the weights", 0.2)
    kwargs = dict(common, dtype=dtype, **plan.weight_kwargs(config))
    if spec.device_map:
        kwargs["device_map"] = spec.device_map
    bnb = spec.quantization in ("8bit", "4bit")  # bitsandbytes places the weights itself
    if bnb:
        kwargs["quantization_config"] = _quantization(spec.quantization)
    elif spec.quantization == "fp8":
        _check_fp8(device)
    load_weights = plan.guard(lambda: plan.model_cls.from_pretrained(name, **kwargs), name, config)
    model = _load(load_weights, name, spec, local, "the weights")
    if not spec.device_map and not bnb:
        report(f"moving the model to {device}", 0.8)
        model = _load(lambda: model.to(device), name, spec, local, f"the model onto {device}")
    if spec.quantization == "fp8":
        from diffusion_lsp.engine.fp8 import quantize_linears

        report("quantizing the linear layers to fp8", 0.9)
        quantize_linears(model)
    if family == "masked" and str(getattr(model, "device", device)) == "cpu" and not plan.remote:
        # transformers' own classes only: a remote-code model may read a layer's weight itself,
        # and a packed weight is not a plain tensor
        from diffusion_lsp.engine.cpu_pack import fuse_geglu, pack_linears

        report("packing the linear layers for the CPU", 0.9)
        fuse_geglu(model)
        pack_linears(model)
    model.eval()
    info = EngineInfo(
        model=name,
        family=family,
        device=str(getattr(model, "device", device)),
        dtype=str(dtype).removeprefix("torch."),
        parameters=sum(p.numel() for p in model.parameters()),
        load_ms=(time.perf_counter() - start) * 1000,
    )
    report("building the engine", 0.95)
    if family == "block":
        from diffusion_lsp.engine.block.engine import BlockDiffusionEngine

        engine: Engine = BlockDiffusionEngine(model, tokenizer, info=info, spec=spec)
    else:
        from diffusion_lsp.engine.masked.engine import MaskedDiffusionEngine

        special = None
        if plan.native is not None:
            from diffusion_lsp.engine.checkpoint import special_ids

            gen = getattr(model, "generation_config", None)
            lead_bos = plan.native.lead_bos
            special = special_ids(tokenizer, model.config, gen, name, lead_bos=lead_bos)
        engine = MaskedDiffusionEngine(model, tokenizer, info, spec, special=special)
    engine.warmup(lambda message, done: report(message, 0.95 + 0.05 * done))
    report("ready", 1.0)
    return engine


def _tokenizer(name: str, common: dict[str, Any]) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name, **common)


def _check_fp8(device: Any) -> None:
    from diffusion_lsp.engine.fp8 import supported

    if not supported(device):
        raise ModelLoadError(
            f"fp8 weights need a CUDA GPU with FP8 matrix units (compute capability 8.9 or "
            f"higher: Ada, Hopper, Blackwell); the device is {device}.",
            "set quantization to none (or 8bit/4bit with bitsandbytes).",
        )


def _quantization(kind: str) -> Any:
    try:
        from transformers import BitsAndBytesConfig
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ModelLoadError(
            f"quantization {kind!r} needs bitsandbytes.",
            "pip install 'diffusion-lsp[quantization]'.",
        ) from exc
    if kind == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    if kind == "4bit":
        return BitsAndBytesConfig(load_in_4bit=True)
    raise ModelLoadError(f"unknown quantization {kind!r}.", "use none, 8bit, 4bit or fp8.")


def _load(fn: Callable[[], Any], name: str, spec: ModelSpec, local: bool, what: str) -> Any:
    """Run one loading step (reading ``what``), turning its failures into errors that name the
    model and the fix: memory, remote code, the hub, and damaged local files."""
    import torch

    try:
        return fn()
    except ModelLoadError:
        raise
    except (torch.OutOfMemoryError, MemoryError) as exc:
        raise _out_of_memory(name) from exc
    except Exception as exc:  # noqa: BLE001 - classified below
        if "out of memory" in str(exc).lower():
            raise _out_of_memory(name) from exc
        if "trust_remote_code" in str(exc):
            raise ModelLoadError(
                f"{name} needs code shipped with the checkpoint, which is off by default.",
                "if you trust its authors, set `trust_remote_code`.",
            ) from exc
        if local:
            raise _local_error(name, what, exc) from exc
        if isinstance(exc, (OSError, ValueError)):
            raise _hub_error(name, spec, exc) from exc
        raise _local_error(name, what, exc) from exc


def _out_of_memory(name: str) -> ModelLoadError:
    return ModelLoadError(
        f"not enough memory to load {name}.",
        "use a smaller dtype (bfloat16 or float16), spread the model over devices with "
        "device_map=auto, use quantization (8bit/4bit), or pick a smaller model.",
    )

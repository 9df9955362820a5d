"""``diffusion-lsp doctor``: report torch, devices, dtype, the resolved model and its cache, grammars;
with ``--remote-url``, check an OpenAI-compatible endpoint (and its key) and list its models.

Reads and checks; loads the model only with ``--load``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

from diffusion_lsp.cli.common import add_model_arguments, spec_from_args
from diffusion_lsp.engine.api import ModelLoadError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--load", action="store_true", help="also load the model and report it")
    remote = parser.add_argument_group("remote server (diffusionLsp.remote.*)")
    remote.add_argument(
        "--remote-url", help="check this OpenAI-compatible server and list its models"
    )
    remote.add_argument("--remote-model", default="", help="the model the server should serve")
    remote.add_argument(
        "--remote-api-key-env", default="", help="name of the environment variable holding the key"
    )
    remote.add_argument("--remote-timeout", type=float, default=10.0, help="seconds")


def check_remote(args: argparse.Namespace, line) -> int:
    """Reach the endpoint, list its models (``GET /v1/models``), and check the one asked for."""
    from diffusion_lsp.engine.api import EngineError, RemoteSpec
    from diffusion_lsp.engine.remote import list_models
    from diffusion_lsp.engine.remote.http import RemoteClient, is_loopback

    spec = RemoteSpec(
        url=args.remote_url,
        model=args.remote_model,
        api_key_env=args.remote_api_key_env,
        timeout_s=args.remote_timeout,
    )
    try:
        client = RemoteClient(spec)
        line("remote", f"{client.url} ({'loopback' if is_loopback(client.url) else 'network'})")
        line("remote key", f"from ${spec.api_key_env}" if spec.api_key_env else "none sent")
        models = list_models(client)
        client.close()
    except EngineError as exc:
        line("remote", f"PROBLEM: {exc}")
        return 1
    line("remote models", ", ".join(models) if models else "none listed")
    if spec.model and spec.model not in models:
        line("remote model", f"PROBLEM: {spec.model!r} is not among the models the server lists")
        return 1
    line("remote model", spec.model or (models[0] if models else "none"))
    return 0 if models else 1


def run(args: argparse.Namespace) -> int:
    problems = 0
    line = _printer()
    line("python", f"{platform.python_version()} ({sys.executable})")
    if args.remote_url:
        return check_remote(args, line)
    try:
        import torch
    except ImportError:
        line("torch", "NOT INSTALLED: pip install torch")
        return 1
    line("torch", torch.__version__)
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            fp8 = (props.major, props.minor) >= (8, 9)
            line(
                f"cuda:{i}",
                f"{props.name}, {props.total_memory / 2**30:.1f} GiB, compute capability "
                f"{props.major}.{props.minor} ({'fp8 weights supported' if fp8 else 'no fp8'})",
            )
    else:
        line("cuda", "not available (the CPU runs the model)")
    import transformers

    line("transformers", transformers.__version__)
    from diffusion_lsp.engine import devices, loading

    spec = spec_from_args(args)
    try:
        device = devices.resolve_device(spec.device)
        line("device", device)
        dtype = str(devices.resolve_dtype(spec.dtype, device)).removeprefix("torch.")
        bf16 = (
            "native bf16 (AVX512_BF16 or AMX)"
            if devices.cpu_has_native_bf16()
            else "no native bf16"
        )
        line("dtype", f"{dtype} ({spec.dtype}; the CPU has {bf16})")
        if device == "cpu":
            from diffusion_lsp.engine.cpu_pack import can_pack

            packed = "packed for oneDNN" if can_pack(dtype) else "plain (no oneDNN packing here)"
            line("cpu linear layers", packed)
    except ModelLoadError as exc:
        line("device", f"PROBLEM: {exc}")
        problems += 1
    line("hub offline mode", "on" if loading.offline() else "off")
    try:
        name, local = loading.resolve_model(spec)
        line("model", name)
        line("model files", _cache_state(name, local, spec.revision))
    except ModelLoadError as exc:
        line("model", f"PROBLEM: {exc}")
        problems += 1
        name = None
    line("grammars", _grammars())
    if args.load and name is not None:
        try:
            engine = loading.load_engine(spec)
        except ModelLoadError as exc:
            line("load", f"PROBLEM: {exc}")
            problems += 1
        else:
            info = engine.info
            line(
                "load",
                f"ok: {info.family} family, {info.parameters:,} parameters, "
                f"{info.device}, {info.dtype}, {info.load_ms:.0f} ms",
            )
            line("fast path", _fast_path(engine))
    return 1 if problems else 0


def _fast_path(engine: object) -> str:
    """How the loaded engine runs a denoising step, in words."""
    decoder = getattr(engine, "decoder", None)  # DiffusionGemma
    if hasattr(engine, "decoder"):
        if decoder is None:
            return "DiffusionGemma decoder step, eager (CUDA graphs need a CUDA device)"
        stats = decoder.stats
        if decoder.use_graphs:
            return f"DiffusionGemma decoder step as CUDA graphs ({stats.captures} captured at load)"
        return f"DiffusionGemma decoder step on static shapes, eager ({stats.error or 'no CUDA'})"
    denoiser = getattr(engine, "denoiser", None)  # masked family
    name = type(denoiser).__name__
    if name == "DualCacheDenoiser":
        graphs = "CUDA graphs" if denoiser.use_graphs else "no graphs"
        return f"dual KV cache ({graphs}, {denoiser.stats.captures} captured at load)"
    return f"{name}: the whole canvas every step"


def _printer():
    def line(key: str, value: str) -> None:
        print(f"{key + ':':<18} {value}")

    return line


def _cache_state(name: str, local: bool, revision: str | None) -> str:
    if local:
        weights = [f for f in os.listdir(name) if f.endswith((".safetensors", ".bin"))]
        return f"local directory, {len(weights)} weight file(s)"
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on huggingface_hub
        return "unknown (huggingface_hub missing)"
    found = try_to_load_from_cache(name, "config.json", revision=revision)
    if isinstance(found, str):
        return f"in the Hugging Face cache ({os.path.dirname(found)})"
    return (
        "not downloaded yet: the first load fetches it (or `huggingface-cli download " + name + "`)"
    )


def _grammars() -> str:
    try:
        from diffusion_lsp.region import available_languages
    except (ImportError, AttributeError):
        return "not available (region support is not installed in this build)"
    try:
        languages = list(available_languages())
    except Exception as exc:  # noqa: BLE001 - a report, not a crash
        return f"PROBLEM: {exc}"
    return ", ".join(languages) if languages else "none found"

"""What the engine's commands share: model and sampling flags, file positions, errors, JSON output.

Lines and columns on the command line are 1-based, as compilers print them; columns count characters.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from diffusion_lsp.engine.api import DTYPES, FAMILY_CHOICES, EngineError, ModelSpec, Result
from diffusion_lsp.textops import LineIndex


class UsageError(EngineError):
    """Bad command-line input (a position outside the file, an unreadable file)."""


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", help="Hugging Face id or local directory (default: embedded)")
    group.add_argument("--revision", help="branch, tag or commit of a hub model")
    group.add_argument("--dtype", default="auto", choices=DTYPES)
    group.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    group.add_argument("--device-map", help="accelerate device map, e.g. auto, for big models")
    group.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="run code shipped with a checkpoint of an unknown architecture; off by default",
    )
    group.add_argument(
        "--family",
        default="auto",
        choices=FAMILY_CHOICES,
        help="the model family where the checkpoint does not say (default: read it)",
    )


def add_request_arguments(parser: argparse.ArgumentParser, max_tokens: int) -> None:
    """The file, its context budget, the model and the sampling flags of ``infill`` and ``refine``."""
    parser.add_argument("file")
    parser.add_argument("--context-tokens", type=int, default=2048, help="prefix + suffix budget")
    add_model_arguments(parser)
    group = parser.add_argument_group("sampling")
    group.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    group.add_argument("--max-tokens", type=int, default=max_tokens)
    group.add_argument("--temperature", type=float, help="0 is greedy (default: the model's)")
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--alternatives", type=int, default=1, help="how many candidates to report")
    parser.add_argument("--json", action="store_true", help="print a JSON object")


def request_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The request fields ``add_request_arguments`` set, for ``InfillRequest`` / ``RefineRequest``."""
    return {
        "max_tokens": args.max_tokens,
        "steps": args.steps,
        "temperature": args.temperature,
        "seed": args.seed,
        "alternatives": args.alternatives,
        "context_tokens": args.context_tokens,
    }


def spec_from_args(args: argparse.Namespace) -> ModelSpec:
    return ModelSpec(
        model=args.model,
        revision=args.revision,
        dtype=args.dtype,
        device=args.device,
        device_map=args.device_map,
        trust_remote_code=args.trust_remote_code,
        family=getattr(args, "family", "auto"),
    )


def read_text(path: str) -> str:
    try:
        # newline="" keeps '\r\n' as it is in the file, so offsets match what an editor shows.
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file.") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text.") from None
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}.") from None


def parse_position(text: str, value: str, what: str) -> int:
    """str index of a 1-based ``LINE:COL`` in ``text``; column len(line) + 1 is the line's end."""
    try:
        line_s, col_s = value.split(":")
        line, col = int(line_s), int(col_s)
    except ValueError:
        raise UsageError(f"{what} {value!r} is not LINE:COL (1-based, e.g. 12:5).") from None
    index = LineIndex(text)
    offset = index.from_human(line, col)
    if offset is not None:
        return offset
    if not 1 <= line <= index.line_count:
        raise UsageError(f"{what} {value}: line {line} is outside the file (1-{index.line_count}).")
    width = len(index.line_text(line - 1)) + 1
    raise UsageError(f"{what} {value}: column {col} is outside line {line} (1-{width}).")


def line_col(text: str, offset: int) -> dict[str, int]:
    """1-based line and column of a str index."""
    line, column = LineIndex(text).human(offset)
    return {"line": line, "column": column}


def print_result(args: argparse.Namespace, text: str, start: int, end: int, result: Result) -> None:
    """The inserted text, or with ``--json`` the text, its span, confidence, nfe and timings."""
    if not args.json:
        sys.stdout.write(result.text if result.text.endswith("\n") else result.text + "\n")
        return
    conf = result.confidence
    payload: dict[str, Any] = {
        "text": result.text,
        "range": {"start": line_col(text, start), "end": line_col(text, end)},
        "confidence": sum(conf) / len(conf) if conf else 0.0,
        "token_confidence": list(conf),
        "nfe": result.nfe,
        "timings": asdict(result.timings),
        "alternatives": [
            {"text": c.text, "confidence": c.score, "length": c.length} for c in result.alternatives
        ],
    }
    print(json.dumps(payload, indent=2))


def run_reporting_errors(fn: Callable[[], int]) -> int:
    """Run a command; errors the user can act on become one line on stderr and exit status 1."""
    try:
        return fn()
    except EngineError as exc:
        print(f"diffusion-lsp: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130

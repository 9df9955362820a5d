"""``diffusion-lsp infill FILE --at LINE:COL``: fill the hole at a position and print the text."""

from __future__ import annotations

import argparse

from diffusion_lsp.cli.common import (
    add_request_arguments,
    parse_position,
    print_result,
    read_text,
    request_fields,
    run_reporting_errors,
    spec_from_args,
)
from diffusion_lsp.engine.api import InfillRequest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_request_arguments(parser, max_tokens=64)
    parser.add_argument("--at", required=True, metavar="LINE:COL", help="1-based cursor position")
    parser.add_argument(
        "--single-line", action="store_true", help="stop the text at the first line break"
    )


def run(args: argparse.Namespace) -> int:
    return run_reporting_errors(lambda: _infill(args))


def _infill(args: argparse.Namespace) -> int:
    from diffusion_lsp.engine import load_engine

    text = read_text(args.file)
    at = parse_position(text, args.at, "--at")
    engine = load_engine(spec_from_args(args))
    request = InfillRequest(
        prefix=text[:at],
        suffix=text[at:],
        single_line=args.single_line,
        **request_fields(args),
    )
    print_result(args, text, at, at, engine.infill(request))
    return 0

"""``diffusion-lsp refine FILE --range L1:C1-L2:C2``: rewrite a span and print its new text."""

from __future__ import annotations

import argparse

from diffusion_lsp.cli.common import (
    UsageError,
    add_request_arguments,
    parse_position,
    print_result,
    read_text,
    request_fields,
    run_reporting_errors,
    spec_from_args,
)
from diffusion_lsp.engine.api import RefineRequest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_request_arguments(parser, max_tokens=256)
    parser.add_argument(
        "--range", required=True, metavar="L1:C1-L2:C2", help="1-based span, end exclusive"
    )
    parser.add_argument(
        "--fraction", type=float, default=0.3, help="share of the span's tokens to renoise"
    )


def run(args: argparse.Namespace) -> int:
    return run_reporting_errors(lambda: _refine(args))


def _refine(args: argparse.Namespace) -> int:
    from diffusion_lsp.engine import load_engine

    text = read_text(args.file)
    first, sep, last = args.range.partition("-")
    if not sep:
        raise UsageError(f"--range {args.range!r} is not L1:C1-L2:C2 (1-based, e.g. 3:1-5:10).")
    start = parse_position(text, first, "--range start")
    end = parse_position(text, last, "--range end")
    if end < start:
        raise UsageError(f"--range {args.range}: the end comes before the start.")
    if not 0.0 < args.fraction <= 1.0:
        raise UsageError(f"--fraction {args.fraction}: give a share in (0, 1].")
    engine = load_engine(spec_from_args(args))
    request = RefineRequest(
        prefix=text[:start],
        text=text[start:end],
        suffix=text[end:],
        fraction=args.fraction,
        **request_fields(args),
    )
    print_result(args, text, start, end, engine.refine(request))
    return 0

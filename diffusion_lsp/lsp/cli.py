"""``diffusion-lsp serve``: LSP on stdio (the default) or on TCP (127.0.0.1 unless a host is given)."""

from __future__ import annotations

import argparse
import logging
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tcp",
        metavar="[HOST:]PORT",
        help="listen on TCP instead of stdio (host 127.0.0.1 unless given)",
    )
    parser.add_argument(
        "--fake-engine",
        action="store_true",
        help="use the deterministic fake engine (protocol tests only; no model is loaded)",
    )
    parser.add_argument("--log-file", metavar="FILE", help="write the log here instead of stderr")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="-v: info, -vv: debug")


def parse_tcp(value: str) -> tuple[str, int]:
    """``[HOST:]PORT`` -> (host, port); the host defaults to 127.0.0.1."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not a port: {port!r}")
    return host, int(port)


def run(args: argparse.Namespace) -> int:
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    handler = (
        logging.FileHandler(args.log_file) if args.log_file else logging.StreamHandler(sys.stderr)
    )
    logging.basicConfig(
        level=level, handlers=[handler], format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # pygls logs every message at INFO; keep that for -vv only.
    logging.getLogger("pygls").setLevel(logging.DEBUG if args.verbose >= 2 else logging.WARNING)

    tcp = None
    if args.tcp:
        try:
            tcp = parse_tcp(args.tcp)
        except ValueError as exc:
            print(f"diffusion-lsp serve: --tcp {args.tcp}: {exc}", file=sys.stderr)
            return 2

    from diffusion_lsp.lsp.server import build_server

    server = build_server(fake_engine=args.fake_engine)
    if tcp is not None:
        server.start_tcp(*tcp)
    else:
        server.start_io()
    return 0

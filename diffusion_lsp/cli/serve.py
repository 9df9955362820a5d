"""``diffusion-lsp serve``: LSP on stdio (the default) or on TCP (127.0.0.1 unless a host is given;
a host that is not loopback only with ``--allow-remote``)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys

EPILOG = """\
Limits: a message body over 64 MiB, or a header that is not a byte count, is logged and skipped;
the server stays up and answers the next message.

TCP: one client per session (a second connection while one is connected is closed at once); the
server exits when that client disconnects. Anyone who can reach the port can drive the model and
read the code the editor sends, so a host other than loopback (127.0.0.0/8, ::1, localhost) needs
--allow-remote.

Exit codes: 0 after shutdown + exit (or when the client closes the stream), 1 after an exit without
shutdown, 2 for bad arguments."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tcp",
        metavar="[HOST:]PORT",
        help="listen on TCP instead of stdio, for one client (host 127.0.0.1 unless given)",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="let --tcp bind an address other than loopback (anyone who reaches it drives the server)",
    )
    parser.add_argument(
        "--fake-engine",
        action="store_true",
        help="use the deterministic fake engine (protocol tests only; no model is loaded)",
    )
    parser.add_argument("--log-file", metavar="FILE", help="write the log here instead of stderr")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="-v: info, -vv: debug")
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def parse_tcp(value: str) -> tuple[str, int]:
    """``[HOST:]PORT`` -> (host, port); the host defaults to 127.0.0.1."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not a port: {port!r}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


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
        if not is_loopback(tcp[0]):
            if not args.allow_remote:
                print(
                    f"diffusion-lsp serve: --tcp {args.tcp}: {tcp[0]} is not a loopback address; "
                    "anyone who can reach it could drive the server and read the code it is sent. "
                    "Pass --allow-remote to listen there anyway.",
                    file=sys.stderr,
                )
                return 2
            print(
                f"diffusion-lsp serve: warning: listening on {tcp[0]}:{tcp[1]}, which is not "
                "loopback (--allow-remote): anyone who can reach it can drive this server.",
                file=sys.stderr,
            )

    from diffusion_lsp.lsp.server import build_server

    server = build_server(fake_engine=args.fake_engine)
    if tcp is not None:
        return server.start_tcp(*tcp)
    return server.start_io()

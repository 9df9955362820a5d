"""Command-line entry point: ``diffusion-lsp [COMMAND] ...``; with no command it serves LSP on stdio.

One module per command in this package (``diffusion_lsp.cli.<command>``), imported only when that
command runs, so that ``diffusion-lsp regions`` never loads torch and ``diffusion-lsp serve`` starts
fast. A command module provides ``add_arguments(parser)`` and ``run(args) -> int``; it may import any
layer (region, engine, lsp, train, eval), which the layers themselves may not import of each other.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("diffusion_lsp.cli.serve", "speak LSP on stdio (default) or TCP"),
    "schema": ("diffusion_lsp.cli.schema", "print the settings schema (JSON or markdown)"),
    "infill": ("diffusion_lsp.cli.infill", "fill the hole at a cursor and print the text"),
    "refine": ("diffusion_lsp.cli.refine", "rewrite a span and print its new text"),
    "doctor": ("diffusion_lsp.cli.doctor", "report torch, devices, the model and grammars"),
    "regions": ("diffusion_lsp.cli.regions", "print the region(s) tree-sitter picks"),
    "train": ("diffusion_lsp.cli.train", "train the embedded code model"),
    "eval": ("diffusion_lsp.cli.eval", "measure infill quality and latency"),
}


def _usage() -> str:
    lines = ["usage: diffusion-lsp [COMMAND] [ARGS...]", "", "commands:"]
    lines += [f"  {name:<9} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += [
        "",
        "With no command, serves LSP on stdio. 'diffusion-lsp COMMAND --help' for details.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv and argv[0] in ("-V", "--version"):
        from diffusion_lsp import __version__

        print(__version__)
        return 0
    command = argv.pop(0) if argv and argv[0] in COMMANDS else "serve"
    if argv and argv[0].startswith("-") is False and command == "serve" and argv[0] not in COMMANDS:
        print(f"diffusion-lsp: unknown command {argv[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, help_ = COMMANDS[command]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"diffusion-lsp {command}", description=help_)
    module.add_arguments(parser)
    args = parser.parse_args(argv)
    return int(module.run(args) or 0)

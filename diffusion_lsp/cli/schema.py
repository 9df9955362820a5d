"""``diffusion-lsp schema``: print the settings schema as JSON Schema, VS Code configuration or markdown."""

from __future__ import annotations

import argparse
import json

from diffusion_lsp.lsp import schema


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=["json", "vscode", "markdown"],
        default="json",
        help="json: JSON Schema of section diffusionLsp; vscode: contributes.configuration; "
        "markdown: docs/configuration.md",
    )


def run(args: argparse.Namespace) -> int:
    if args.format == "markdown":
        print(schema.markdown(), end="")
    elif args.format == "vscode":
        print(json.dumps(schema.vscode_configuration(), indent=2))
    else:
        print(json.dumps(schema.json_schema(), indent=2))
    return 0

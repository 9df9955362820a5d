"""The settings exported: JSON Schema, VS Code configuration and docs/configuration.md, kept fresh."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from diffusion_lsp.lsp import schema, settings

ROOT = Path(__file__).resolve().parents[2]


def test_json_schema_covers_every_setting_and_round_trips_the_defaults():
    generated = schema.json_schema()
    wire = settings.to_wire(settings.Settings())

    def defaults(obj):
        return {
            k: defaults(p) if p["type"] == "object" else p["default"]
            for k, p in obj["properties"].items()
        }

    assert defaults(generated) == wire
    assert settings.parse(wire) == (settings.Settings(), [])
    flat = schema.flat_properties()
    for key in (
        "model",
        "trustRemoteCode",
        "inline.automatic.steps",
        "inline.invoked.maxTokens",
        "diagnostics.enabled",
        "trace.server",
    ):
        assert f"diffusionLsp.{key}" in flat


def test_schema_command_prints_json_and_markdown():
    def run(fmt: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "diffusion_lsp", "schema", "--format", fmt],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout

    assert json.loads(run("json")) == schema.json_schema()
    assert json.loads(run("vscode"))["properties"]["diffusionLsp.alternatives"]["default"] == 3
    assert run("markdown") == schema.markdown()


def test_docs_configuration_md_is_up_to_date():
    current = (ROOT / "docs" / "configuration.md").read_text()
    assert current == schema.markdown(), (
        "docs/configuration.md is stale: run `diffusion-lsp schema --format markdown > docs/configuration.md`"
    )


def test_list_settings_are_json_arrays_in_every_export():
    flat = schema.flat_properties()
    languages = flat["diffusionLsp.inline.languages"]
    assert languages["type"] == "array" and languages["items"] == {"type": "string"}
    assert languages["default"] == []
    assert settings.to_wire(settings.Settings())["inline"]["languages"] == []
    assert "| `diffusionLsp.inline.languages` | array of string | `[]` |" in schema.markdown()
    assert flat["diffusionLsp.inline.minConfidence"]["default"] == 0.5

"""lsprotocol <-> plain conversions: ranges from command arguments and code-action data."""

from __future__ import annotations

from diffusion_lsp import textops
from diffusion_lsp.lsp.convert import parse_range


def test_parse_range_rejects_malformed_json():
    assert parse_range(
        {"start": {"line": 1, "character": 2}, "end": {"line": 3, "character": 4}}
    ) == textops.Range(textops.Position(1, 2), textops.Position(3, 4))
    for bad in (None, 5, {"start": 1}, {"start": {"line": "x", "character": 0}, "end": {}}):
        assert parse_range(bad) is None

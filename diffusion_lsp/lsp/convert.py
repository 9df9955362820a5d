"""Conversions between lsprotocol's types and the plain ``textops`` ones (UTF-16 positions both), and
the plain-JSON ranges that command arguments and code-action ``data`` carry."""

from __future__ import annotations

from lsprotocol import types

from diffusion_lsp import textops


def text_range(rng: types.Range) -> textops.Range:
    return textops.Range(
        textops.Position(rng.start.line, rng.start.character),
        textops.Position(rng.end.line, rng.end.character),
    )


def lsp_position(pos: textops.Position) -> types.Position:
    return types.Position(line=pos.line, character=pos.character)


def lsp_range(rng: textops.Range) -> types.Range:
    return types.Range(start=lsp_position(rng.start), end=lsp_position(rng.end))


def lsp_edit(edit: textops.TextEdit) -> types.TextEdit:
    return types.TextEdit(range=lsp_range(edit.range), new_text=edit.new_text)


def parse_range(obj: object) -> textops.Range | None:
    """A range from a command argument or code-action ``data`` (plain JSON); None if malformed."""
    if isinstance(obj, types.Range):
        return text_range(obj)
    try:
        start, end = obj["start"], obj["end"]  # type: ignore[index]
        rng = textops.Range(
            textops.Position(int(start["line"]), int(start["character"])),
            textops.Position(int(end["line"]), int(end["character"])),
        )
    except (KeyError, TypeError, ValueError):
        return None
    return rng


def range_json(rng: textops.Range) -> dict:
    """A range as plain JSON (for command arguments and code-action ``data``)."""
    return {
        "start": {"line": rng.start.line, "character": rng.start.character},
        "end": {"line": rng.end.line, "character": rng.end.character},
    }

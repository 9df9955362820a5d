"""Astral characters: UTF-16 columns, code points and UTF-8 bytes must all name the same span."""

from __future__ import annotations

import json

from diffusion_lsp.cli import main as cli_main
from diffusion_lsp.region import Document, fix_regions, hole_regions, inline_region, refine_region
from diffusion_lsp.textops import Position, Range

TEXT = (
    "def greet(name):\n"
    '    face = "😀🙂"; msg = compose(name, face)  # 🎉\n'
    "    return msg\n"
    "\n"
    "def later():\n"
    '    """Fill 😀 in."""\n'
    "    pass\n"
    "\n"
    "def broken(x):\n"
    '    s = "🙂" + \n'
)


def _check(doc: Document, region) -> None:
    start = doc.text.index(region.text) if region.text else doc.index.offset(region.range.start)
    end = start + len(region.text)
    assert doc.index.range(start, end) == region.range
    assert region.start_byte == len(doc.text[:start].encode("utf-8"))
    assert region.end_byte == len(doc.text[:end].encode("utf-8"))
    line_start = doc.index.line_starts[region.range.start.line]
    utf16 = len(doc.text[line_start:start].encode("utf-16-le")) // 2
    assert region.range.start.character == utf16


def test_units_agree_after_emoji():
    doc = Document(TEXT, language_id="python")
    # Cursor before `compose`: 23 code points into line 1, but 25 UTF-16 units (two emoji).
    line = TEXT.splitlines()[1]
    assert line.index("compose") == 23
    region = inline_region(doc, Position(1, 25))
    assert region is not None
    assert region.text == "compose(name, face)"  # the trailing comment is kept out
    assert region.range.start == Position(1, 25)
    assert region.start_byte == len(TEXT[: TEXT.index("compose")].encode("utf-8"))
    assert region.start_byte - len(TEXT[: TEXT.index("    face")].encode("utf-8")) == 23 + 6
    _check(doc, region)
    (hole,) = hole_regions(doc)
    assert hole.text == "pass"
    _check(doc, hole)
    (fix,) = fix_regions(doc)
    assert "🙂" in fix.text
    _check(doc, fix)
    refined = refine_region(doc, Range(Position(1, 12), Position(1, 16)))  # the emoji in the string
    assert refined is not None and refined.text == "😀🙂"
    _check(doc, refined)


def test_cli_columns_count_code_points(tmp_path, capsys):
    path = tmp_path / "greet.py"
    path.write_text(TEXT, encoding="utf-8")
    assert cli_main(["regions", str(path), "--intent", "inline", "--at", "2:24", "--json"]) == 0
    (region,) = json.loads(capsys.readouterr().out)
    assert (region["start"], region["end"]) == ("2:24", "2:43")
    assert region["text"] == "compose(name, face)"


def test_edits_with_emoji_keep_units_in_step():
    doc = Document(TEXT, language_id="python")
    # Replace the two emoji (4 UTF-16 units, 2 code points, 8 bytes) with one.
    doc.apply_change(Range(Position(1, 12), Position(1, 16)), "🎉")
    assert '"🎉"' in doc.text
    region = inline_region(doc, Position(1, 23))  # `compose` moved left by 2 UTF-16 units
    assert region is not None and region.text == "compose(name, face)"
    _check(doc, region)

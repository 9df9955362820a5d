"""Region fixtures: source files with markers, the expected regions marked in place.

Markers (stripped before parsing): ``‸`` the cursor, ``⟦ ⟧`` the selection (refine), ``« »`` each
expected region, in document order; no ``« »`` means no region. A ``NAME.json`` beside a fixture
may list ``node_types``, ``max_lines`` and ``groups`` per expected region. Each fixture runs through
the API and through ``diffusion-lsp regions --json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from diffusion_lsp.cli import main as cli_main
from diffusion_lsp.region import (
    Document,
    Intent,
    fix_regions,
    hole_regions,
    inline_region,
    refine_region,
)
from diffusion_lsp.textops import LineIndex, Range

FIXTURES = Path(__file__).parent / "fixtures"
CURSOR, SEL_START, SEL_END, EXP_START, EXP_END = "‸", "⟦", "⟧", "«", "»"


@dataclass
class Fixture:
    path: Path
    intent: Intent
    text: str
    cursor: int | None
    selection: tuple[int, int] | None
    expected: list[tuple[int, int]]
    extra: dict


def load(path: Path) -> Fixture:
    raw = path.read_text(encoding="utf-8")
    out: list[str] = []
    marks: dict[str, list[int]] = {m: [] for m in (CURSOR, SEL_START, SEL_END, EXP_START, EXP_END)}
    n = 0
    for ch in raw:
        if ch in marks:
            marks[ch].append(n)
        else:
            out.append(ch)
            n += 1
    sidecar = path.with_name(path.name + ".json")
    selection = (marks[SEL_START][0], marks[SEL_END][0]) if marks[SEL_START] else None
    return Fixture(
        path=path,
        intent=Intent(path.parent.name),
        text="".join(out),
        cursor=marks[CURSOR][0] if marks[CURSOR] else None,
        selection=selection,
        expected=list(zip(marks[EXP_START], marks[EXP_END], strict=True)),
        extra=json.loads(sidecar.read_text()) if sidecar.exists() else {},
    )


ALL = sorted(p for p in FIXTURES.glob("*/*") if p.suffix != ".json")


def select(fx: Fixture, doc: Document):
    index = doc.index
    pos = index.position(fx.cursor) if fx.cursor is not None else None
    if fx.intent is Intent.INLINE:
        region = inline_region(doc, pos)
        return [region] if region else []
    if fx.intent is Intent.REFINE:
        assert fx.selection is not None
        region = refine_region(
            doc, Range(index.position(fx.selection[0]), index.position(fx.selection[1]))
        )
        return [region] if region else []
    return (hole_regions if fx.intent is Intent.HOLE else fix_regions)(doc, pos)


def human(index: LineIndex, offset: int) -> str:
    line = index.position(offset).line
    return f"{line + 1}:{offset - index.line_starts[line] + 1}"


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_through_the_api(path):
    fx = load(path)
    doc = Document(fx.text, path=str(path))
    regions = select(fx, doc)
    index = doc.index
    got = [(index.str_offset(r.start_byte), index.str_offset(r.end_byte)) for r in regions]
    shown = [fx.text[a:b] for a, b in got]
    assert got == fx.expected, f"got {shown}, expected {[fx.text[a:b] for a, b in fx.expected]}"
    for region, (a, b) in zip(regions, got, strict=True):
        assert region.intent is fx.intent
        assert region.text == fx.text[a:b]
        assert region.range == index.range(a, b)
        assert region.start_byte == len(fx.text[:a].encode("utf-8"))
        if fx.intent is Intent.INLINE:
            assert region.range.start.line == region.range.end.line
        assert region.validate(region.text) or fx.intent is Intent.FIX
    for key, attr in (("node_types", "node_type"), ("groups", "group")):
        if key in fx.extra:
            assert [getattr(r, attr) for r in regions] == fx.extra[key]
    if "max_lines" in fx.extra:
        assert [r.length_hint.max_lines for r in regions] == fx.extra["max_lines"]


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_through_the_cli(path, tmp_path, capsys):
    fx = load(path)
    source = tmp_path / path.name
    source.write_text(fx.text, encoding="utf-8", newline="")
    index = LineIndex(fx.text)
    argv = ["regions", str(source), "--intent", fx.intent.value, "--json"]
    if fx.cursor is not None:
        argv += ["--at", human(index, fx.cursor)]
    if fx.selection is not None:
        argv += ["--range", f"{human(index, fx.selection[0])}-{human(index, fx.selection[1])}"]
    assert cli_main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [(r["start"], r["end"]) for r in printed] == [
        (human(index, a), human(index, b)) for a, b in fx.expected
    ]
    assert [r["text"] for r in printed] == [fx.text[a:b] for a, b in fx.expected]
    assert all(r["intent"] == fx.intent.value for r in printed)


def test_every_listed_language_has_fixtures():
    from diffusion_lsp.region import language_for
    from diffusion_lsp.region.languages import SPECS

    seen = {(p.parent.name, language_for(None, str(p))) for p in ALL}
    for language in SPECS:
        assert ("inline", language) in seen, language
        assert ("hole", language) in seen, language

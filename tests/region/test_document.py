"""Documents: language lookup, the line-based fallback, and incremental trees equal to fresh parses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diffusion_lsp.region import Document, available_languages, language_for
from diffusion_lsp.region.languages import SPECS, grammar, new_parser
from diffusion_lsp.textops import Position, Range

LISTED = tuple(SPECS)  # the one list of languages (region.languages)


def test_every_listed_grammar_loads_offline():
    assert set(LISTED) <= set(available_languages())


@pytest.mark.parametrize(
    "language_id, path, expected",
    [
        ("python", None, "python"),
        ("typescriptreact", None, "tsx"),
        ("javascriptreact", None, "javascript"),
        ("cpp", None, "cpp"),
        (None, "src/main.rs", "rust"),
        (None, "a/b/App.TSX", "tsx"),
        (None, "x.h", "c"),
        ("plaintext", "notes.lua", "lua"),
        ("cobol", "x.cbl", None),
        (None, None, None),
    ],
)
def test_language_for(language_id, path, expected):
    assert language_for(language_id, path) == expected


@pytest.mark.parametrize("name", LISTED)
def test_spec_node_types_exist_in_the_grammar(name):
    # A misspelt node type would silently never match; the query would fail to compile.
    spec, lang = SPECS[name], grammar(name)
    for kind in (
        spec.functions | spec.containers | spec.comments | spec.strings | spec.interpolations
    ):
        assert lang.id_for_node_kind(kind, True), f"{name}: no node type {kind!r}"


def test_unknown_language_has_no_tree_and_still_answers():
    from diffusion_lsp.region import fix_regions, hole_regions, inline_region, refine_region

    doc = Document("x := 1 // TODO tidy\ny := fo", language_id="zig-ish", path="a.unknown")
    assert doc.language is None and doc.tree is None
    region = inline_region(doc, Position(1, 7))
    assert region is not None and region.node_type == "line"
    assert inline_region(doc, Position(1, 6)) is None  # mid-identifier
    assert [r.text for r in hole_regions(doc)] == ["x := 1 // TODO tidy"]
    assert fix_regions(doc) == []
    refined = refine_region(doc, Range(Position(1, 0), Position(1, 6)))
    assert refined is not None and refined.text == "y := fo"
    doc.apply_change(Range(Position(1, 7), Position(1, 7)), "o()")
    assert doc.text.endswith("foo()")


def _tree_shape(tree) -> list[tuple[str, int, int, tuple[int, int], tuple[int, int]]]:
    out, stack = [], [tree.root_node]
    while stack:
        node = stack.pop()
        out.append(
            (
                node.type,
                node.start_byte,
                node.end_byte,
                tuple(node.start_point),
                tuple(node.end_point),
            )
        )
        stack.extend(reversed(node.children))
    return out


SOURCES = {
    "python": 'def f(x):\n    """Doc 😀."""\n    if x:\n        return [x, 2]\n    return None\n',
    "javascript": "function g(a) {\n  const s = `v=${a}`; // é\n  return s;\n}\n",
    "rust": 'fn main() {\n    let s = "😀";\n    println!("{}", s);\n}\n',
}
EDIT_TEXT = st.text(alphabet=list("abxy_ (){}[]:;,\"'\n\t=+😀é#/"), max_size=8)


@pytest.mark.parametrize("language", sorted(SOURCES))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_incremental_tree_equals_a_fresh_parse(language, data):
    doc = Document(SOURCES[language], language_id=language)
    for _ in range(data.draw(st.integers(1, 6), label="edits")):
        n = len(doc.text)
        a = data.draw(st.integers(0, n), label="start")
        b = data.draw(st.integers(a, min(n, a + 10)), label="end")
        new_text = data.draw(EDIT_TEXT, label="text")
        rng = doc.index.range(a, b)
        expected_text = doc.text[:a] + new_text + doc.text[b:]
        doc.apply_change(rng, new_text)
        assert doc.text == expected_text
        fresh = new_parser(language).parse(expected_text.encode("utf-8"))
        if fresh.root_node.has_error:
            # Error recovery may place ERROR nodes differently when it reuses subtrees (seen with
            # ':;=' typed into a Python slice); what must agree is that the text does not parse.
            assert doc.tree.root_node.has_error
        else:
            assert _tree_shape(doc.tree) == _tree_shape(fresh)


def test_apply_change_with_no_range_replaces_the_text():
    doc = Document("x = 1\n", language_id="python")
    doc.apply_change(None, "def f(:\n")
    assert doc.text == "def f(:\n" and doc.tree.root_node.has_error
    doc.set_text("y = 2\n")
    assert not doc.tree.root_node.has_error and doc.index.line_count == 2

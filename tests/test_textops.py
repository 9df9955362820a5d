"""Position conversions agree across UTF-16, code points and UTF-8, and minimal edits reproduce the target."""

import random

from hypothesis import given
from hypothesis import strategies as st

from diffusion_lsp.textops import LineIndex, Position, Range, TextEdit, apply_edits, minimal_edits

TEXT = "def f():\n    s = '😀é'  # x\r\n    return s\n"


def test_utf16_columns_count_astral_characters_twice():
    index = LineIndex(TEXT)
    line = 1
    col_after_emoji = len("    s = '") + 2  # the emoji is two UTF-16 units
    off = index.offset(Position(line, col_after_emoji))
    assert TEXT[off] == "é"
    assert index.position(off) == Position(line, col_after_emoji)


def test_bytes_round_trip_on_every_character():
    index = LineIndex(TEXT)
    data = TEXT.encode()
    for i in range(len(TEXT) + 1):
        b = index.byte_offset(i)
        assert data[:b].decode() == TEXT[:i]
        assert index.str_offset(b) == i
        assert index.byte_to_position(b) == index.position(i)


def test_positions_past_the_end_are_clamped():
    index = LineIndex("ab\ncd")
    assert index.offset(Position(0, 99)) == 2
    assert index.offset(Position(99, 0)) == 5
    assert index.offset(Position(-1, 0)) == 0
    assert index.line_text(1) == "cd"


def test_crlf_and_lone_cr_are_line_breaks():
    index = LineIndex("ab\r\ncd\ref")
    assert index.line_count == 3
    assert index.line_text(0) == "ab"
    assert index.offset(Position(0, 5)) == 2
    assert index.offset(Position(2, 1)) == len("ab\r\ncd\re")


def test_apply_edits_rejects_overlap():
    edits = [
        TextEdit(Range(Position(0, 0), Position(0, 2)), "x"),
        TextEdit(Range(Position(0, 1), Position(0, 3)), "y"),
    ]
    try:
        apply_edits("abcd", edits)
    except ValueError:
        return
    raise AssertionError("overlapping edits were accepted")


def test_minimal_edit_of_one_word_is_one_small_hunk():
    old = "def f(x):\n    return x + 1\n\nprint(f(2))\n"
    new = "def f(x):\n    return x * 1\n\nprint(f(2))\n"
    edits = minimal_edits(old, new)
    assert len(edits) == 1
    assert edits[0].new_text == "*"
    assert apply_edits(old, edits) == new


def test_minimal_edits_in_document_coordinates():
    doc = "head\nold body 😀\ntail\n"
    start = doc.index("old")
    end = doc.index("\ntail")
    index = LineIndex(doc)
    edits = minimal_edits(doc[start:end], "new body 😀!", base=start, index=index)
    assert apply_edits(doc, edits) == "head\nnew body 😀!\ntail\n"


alphabet = st.sampled_from(list("ab \n\té😀\r"))


@given(st.text(alphabet, max_size=40), st.text(alphabet, max_size=40))
def test_minimal_edits_always_reproduce_the_target(old, new):
    assert apply_edits(old, minimal_edits(old, new)) == new


@given(st.text(alphabet, max_size=60), st.data())
def test_position_offset_round_trip(text, data):
    index = LineIndex(text)
    i = data.draw(st.integers(0, len(text)))
    # every str index round-trips, except one between the two characters of a CRLF
    assert index.offset(index.position(i)) == i or text[i - 1 : i + 1] == "\r\n"


def test_random_documents_bytes_agree():
    rng = random.Random(0)
    for _ in range(50):
        text = "".join(rng.choice("ab\n😀é") for _ in range(30))
        index = LineIndex(text)
        for i in range(len(text) + 1):
            row, col = index.point(i)
            line_start = index.line_starts[row]
            assert col == len(text[line_start:i].encode())


def test_human_line_columns_follow_lsp_line_breaks_only():
    # a form feed is not a line break for LSP (str.splitlines would split there)
    index = LineIndex("a\fb\r\nc\rd😀e\n")
    assert index.from_human(2, 1) == len("a\fb\r\n")
    assert index.from_human(3, 3) == len("a\fb\r\nc\rd😀")  # columns count code points
    assert index.from_human(1, 4) == 3 and index.from_human(1, 5) is None
    assert index.from_human(5, 1) is None and index.from_human(4, 1) == len(index.text)
    for i in range(len(index.text) + 1):
        if index.text[i - 1 : i + 1] != "\r\n":
            assert index.from_human(*index.human(i)) == i

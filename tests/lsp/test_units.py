"""Plain functions of the server, without a client: the document store, candidate ranking, the
inline cache, and the choice of a fix."""

from __future__ import annotations

from lsprotocol import types

from diffusion_lsp import textops
from diffusion_lsp.engine import api
from diffusion_lsp.lsp import edits
from diffusion_lsp.lsp.convert import parse_range
from diffusion_lsp.lsp.documents import DocumentStore
from diffusion_lsp.lsp.features import inline_completion as inline
from diffusion_lsp.lsp.features.inline_completion import Shown
from diffusion_lsp.region import Intent, LengthHint, Region


def change(
    start: tuple[int, int], end: tuple[int, int], text: str
) -> types.TextDocumentContentChangePartial:
    return types.TextDocumentContentChangePartial(
        range=types.Range(start=types.Position(*start), end=types.Position(*end)), text=text
    )


def test_store_switches_between_served_and_plain_and_keeps_the_text_exact():
    store = DocumentStore(lambda: 1000)
    store.open("u", "python", 1, "x = 1\n")
    assert store.usable("u") is not None
    store.change("u", 2, [change((0, 5), (0, 5), "\x00")])
    entry = store.get("u")
    assert entry.text == "x = 1\x00\n" and entry.doc is None and "binary" in entry.problem
    assert store.usable("u") is None
    store.change("u", 3, [change((0, 5), (0, 6), ""), change((1, 0), (1, 0), "y = 2\n")])
    assert entry.text == "x = 1\ny = 2\n" and entry.problem == "" and entry.doc is not None
    assert entry.doc.tree is not None and entry.version == 3
    store.change("u", 4, [change((0, 0), (0, 0), "#" * 2000)])
    assert "too large" in entry.problem and entry.text.startswith("#" * 2000)
    store.change("u", 5, [types.TextDocumentContentChangeWholeDocument(text="z = '\ud800'\n")])
    assert "UTF-8" in entry.problem and entry.text == "z = '\ud800'\n"
    assert store.change("missing", 1, [change((0, 0), (0, 0), "x")]) is None
    store.close("u")
    assert store.get("u") is None


def test_store_positions_are_utf16():
    store = DocumentStore(lambda: 1000)
    store.open("u", "python", 1, "s = '😀'\n")
    store.change("u", 2, [change((0, 7), (0, 7), "!")])  # after the emoji: 5 + 2 UTF-16 units
    assert store.get("u").text == "s = '😀!'\n"


def region(text: str = "", max_lines: int = 1, valid=lambda t: True) -> Region:
    r = textops.Range(textops.Position(0, 0), textops.Position(0, len(text)))
    return Region(
        Intent.INLINE, 0, len(text), r, text, "x", LengthHint(1, 100, max_lines), None, valid
    )


def result(*texts: str) -> api.Result:
    cands = tuple(api.Candidate(t, (0.5,), 1) for t in texts)
    return api.Result(texts[0], (0.5,), 1, api.Timings(), cands)


def test_candidates_are_cut_deduplicated_filtered_and_ranked_by_parsing():
    res = result("a\nb", "", "a", "foo()", "  ", "bad", "c")
    got = inline.candidate_texts(res, region(valid=lambda t: t != "bad"), suffix="\n  foo()\n")
    assert got == ["a", "c", "bad"]
    multi = inline.candidate_texts(result("a\nb\nc\n\n"), region(max_lines=2), suffix="")
    assert multi == ["a\nb"]


def test_cache_answers_only_for_a_typed_prefix_at_the_anchor():
    shown = Shown(text="ab\ncd", anchor=2, replaced="", texts=("xyz", "xq", "z"))
    assert inline.from_cache(shown, "abx\ncd", 3) == ["yz", "q"]
    assert inline.from_cache(shown, "abxy\ncd", 4) == ["z"]
    assert inline.from_cache(shown, "abxyz\ncd", 5) is None  # all typed: ask again
    assert inline.from_cache(shown, "abx\ncd", 2) is None  # cursor not after the typed text
    assert inline.from_cache(shown, "Xbx\ncd", 3) is None  # text before the anchor changed
    assert inline.from_cache(shown, "ab\ncd", 2) is None
    assert inline.from_cache(None, "abx\ncd", 3) is None


def test_fill_and_refine_take_the_first_candidate_that_passes_the_gate():
    from diffusion_lsp.region import Document

    doc = Document("def f():\n    pass\n\ndef g():\n    return 1\n", "python")
    start = doc.text.index("pass")
    end = start + len("pass")
    chosen, _ = edits._first_safe(doc, start, end, ["return (", "return 1", "x = 2"])
    assert chosen == "return 1"  # the first one does not parse
    none, why = edits._first_safe(doc, start, end, ["return (", "(("])
    assert none is None and why == "it does not parse"


def test_parse_range_rejects_malformed_json():
    assert parse_range(
        {"start": {"line": 1, "character": 2}, "end": {"line": 3, "character": 4}}
    ) == textops.Range(textops.Position(1, 2), textops.Position(3, 4))
    for bad in (None, 5, {"start": 1}, {"start": {"line": "x", "character": 0}, "end": {}}):
        assert parse_range(bad) is None


def test_a_range_follows_the_changes_made_since_its_version():
    from lsprotocol import types as t

    from diffusion_lsp.lsp.documents import DocumentStore

    store = DocumentStore(lambda: 1 << 20)
    store.open("file:///a.py", "python", 1, "a = 1\nb = 2\nc = 3\n")
    P, R = textops.Position, textops.Range

    def change(version: int, l1: int, c1: int, l2: int, c2: int, text: str) -> None:
        rng = t.Range(
            start=t.Position(line=l1, character=c1), end=t.Position(line=l2, character=c2)
        )
        store.change(
            "file:///a.py", version, [t.TextDocumentContentChangePartial(range=rng, text=text)]
        )

    entry = store.get("file:///a.py")
    assert entry is not None
    target = R(P(2, 4), P(2, 5))  # the "3"
    change(2, 0, 0, 0, 0, "# one\n# two\n")  # two lines above
    change(3, 2, 0, 2, 0, "xx")  # at the start of "a = 1", still above
    change(4, 4, 0, 4, 1, "cc")  # "c" -> "cc" on the target's line, before it
    moved = entry.map_range(1, target)
    assert moved == R(P(4, 5), P(4, 6))
    assert entry.text.splitlines()[4][5:6] == "3"
    change(5, 4, 5, 4, 6, "4")  # the target itself
    assert entry.map_range(1, target) is None
    assert entry.map_range(5, R(P(0, 0), P(0, 1))) == R(P(0, 0), P(0, 1))
    assert entry.map_range(9, target) is None  # a version the document never had

"""The document store, without a client: served and plain documents, UTF-16 positions, and ranges
that follow the changes made since."""

from __future__ import annotations

from lsprotocol import types

from diffusion_lsp import textops
from diffusion_lsp.lsp.documents import DocumentStore


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

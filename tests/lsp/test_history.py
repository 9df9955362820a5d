"""The edit history: changes grouped into edits, in the offsets of the current text."""

from __future__ import annotations

import random

from diffusion_lsp.lsp.history import GROUP_GAP_S, KEEP, EditHistory
from diffusion_lsp.region.next_edit import LastEdit
from diffusion_lsp.textops import changed_span

URI = "file:///work/f.py"
TEXT = "def f(x):\n    y = x + 1\n    return y * x\n"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def history(text: str = TEXT) -> tuple[EditHistory, Clock]:
    clock = Clock()
    h = EditHistory(clock)
    h.opened(URI, text)
    return h, clock


def type_in(h: EditHistory, clock: Clock, text: str, at: int, typed: str, delete: int = 0) -> str:
    """Delete ``delete`` characters at ``at``, then type ``typed`` there one character at a time,
    0.1 s apart, as an editor sends it; returns the text."""
    if delete:
        clock.now += 0.1
        text = text[:at] + text[at + delete :]
        h.changed(URI, text)
    for i, ch in enumerate(typed):
        clock.now += 0.1
        text = text[: at + i] + ch + text[at + i :]
        h.changed(URI, text)
    return text


def test_changed_span_finds_the_change_against_random_edits():
    rnd = random.Random(0)
    for _ in range(300):
        old = "".join(rnd.choice("ab\n") for _ in range(rnd.randrange(0, 30)))
        a = rnd.randrange(0, len(old) + 1)
        b = rnd.randrange(a, len(old) + 1)
        new = old[:a] + "".join(rnd.choice("ab\n") for _ in range(rnd.randrange(0, 5))) + old[b:]
        start, old_end, new_end = changed_span(old, new)
        assert old[:start] == new[:start]
        assert old[old_end:] == new[new_end:]
        assert old[:start] + new[start:new_end] + old[old_end:] == new
        assert start >= min(a, len(new)) and old_end - start <= len(old)


def test_typing_a_word_char_by_char_is_one_edit():
    h, clock = history()
    text = type_in(h, clock, TEXT, 6, "count", delete=1)
    assert text.startswith("def f(count):")
    assert h.edits(URI) == []  # still open: typing has not paused for GROUP_GAP_S
    assert h.has_edits(URI)
    clock.now += GROUP_GAP_S
    assert h.edits(URI) == [LastEdit(6, "x", "count")]
    assert h.edits(URI, quiet_s=0.5) == [LastEdit(6, "x", "count")]


def test_two_edits_far_apart_are_two_and_a_pause_closes_a_group():
    h, clock = history()
    text = type_in(h, clock, TEXT, 6, "count", delete=1)
    clock.now += 0.2
    # At once, but two lines further down: a new group.
    at = text.index("return y") + len("return ")
    text = type_in(h, clock, text, at, "z", delete=1)
    clock.now += 5
    assert h.edits(URI) == [LastEdit(6, "x", "count"), LastEdit(at, "y", "z")]
    # Next to the last one but after a pause: a third.
    text = type_in(h, clock, text, at + 1, "z")
    clock.now += 5
    assert h.edits(URI)[-2:] == [LastEdit(at, "y", "z"), LastEdit(at + 1, "", "z")]


def test_a_change_on_the_same_line_joins_the_group():
    h, clock = history()
    text = type_in(h, clock, TEXT, 6, "count", delete=1)  # def f(count):
    text = type_in(h, clock, text, text.index(")"), ", n")  # def f(count, n):
    clock.now += 5
    assert h.edits(URI) == [LastEdit(6, "x", "count, n")]
    assert text[6:14] == "count, n"


def test_offsets_follow_later_changes_and_an_overlapping_change_drops_a_group():
    h, clock = history()
    at = TEXT.index("return y") + len("return ")
    text = type_in(h, clock, TEXT, at, "z", delete=1)
    clock.now += 5
    text = type_in(h, clock, text, 0, "import os\n")  # before it: it moves
    clock.now += 5
    moved = at + len("import os\n")
    assert text[moved] == "z"
    assert h.edits(URI) == [LastEdit(moved, "y", "z"), LastEdit(0, "", "import os\n")]
    text = type_in(h, clock, text, moved - 1, "q", delete=2)  # over the z: that edit goes
    clock.now += 5
    first, last = h.edits(URI)  # the z edit is gone; the new one covers where it was
    assert first == LastEdit(0, "", "import os\n")
    assert last.start <= moved < last.end + 1 and "q" in last.after and "z" in last.before
    assert all(text[e.start : e.end] == e.after for e in (first, last))


def test_undo_to_the_original_text_vanishes():
    h, clock = history()
    text = type_in(h, clock, TEXT, 6, "ab")
    for _ in range(2):
        clock.now += 0.1
        text = text[:6] + text[7:]
        h.changed(URI, text)
    assert text == TEXT
    clock.now += 5
    assert h.edits(URI) == [] and not h.has_edits(URI)


def test_a_whole_document_change_is_the_span_that_changed():
    h, clock = history()
    new = TEXT.replace("y = x + 1", "y = x + 2")
    h.changed(URI, new)  # what a client sends as one whole-document change
    clock.now += 5
    (edit,) = h.edits(URI)
    assert edit == LastEdit(new.index("2"), "1", "2")
    assert new[edit.start : edit.end] == "2"


def test_only_the_last_groups_are_kept_and_closing_forgets():
    h, clock = history()
    text = TEXT
    for i in range(KEEP + 3):
        text = type_in(h, clock, text, len(text), f"# {i}\n")
        clock.now += 5
    # KEEP closed groups, and the open one (quiet long enough).
    assert [e.after for e in h.edits(URI)] == [f"# {i}\n" for i in range(2, KEEP + 3)]
    assert h.last_change(URI) == clock.now - 5
    h.closed(URI)
    assert h.edits(URI) == [] and h.last_change(URI) is None

"""The edit history of each open document, kept from ``didChange``: what next edit starts from.

Each change is found by comparing the document's text before and after it (common prefix and
suffix, by slice comparison, so the cost is C-speed string compares, not a Python loop); a
``didChange`` with several content changes is one change here. Changes are grouped into edits: a
change within ``GROUP_GAP_S`` of the group's last change, and touching the group's span or near it
(on the same line, or within ``NEAR_CHARS`` characters), joins the group; otherwise the group closes
and a new one starts. Each group is a ``region.next_edit.LastEdit`` in the offsets of the text as it
is now: a later change before a closed group moves it, one that overlaps it drops it. A group whose
text is back to what it was (typed and deleted) is no edit and vanishes. The last ``KEEP`` closed
groups are kept.

Runs on the event loop (``server.events``); the clock is injected so that tests can drive time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from diffusion_lsp.region.next_edit import LastEdit
from diffusion_lsp.textops import changed_span

GROUP_GAP_S = 1.0  # a change this long after the group's last one starts a new group
NEAR_CHARS = 3  # characters between a change and a group's span that still count as adjacent
KEEP = 5  # closed groups kept per document


@dataclass
class Group:
    """One edit group: ``before`` became ``after`` at ``start`` of the current text; ``last``: when
    its latest change came (the clock's seconds)."""

    start: int
    before: str
    after: str
    last: float

    @property
    def end(self) -> int:
        return self.start + len(self.after)

    def edit(self) -> LastEdit:
        return LastEdit(self.start, self.before, self.after)


@dataclass
class _Document:
    text: str
    closed: list[Group] = field(default_factory=list)
    open: Group | None = None
    last: float | None = None  # when the latest change came


def _near(text: str, a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    """Spans ``[a_start, a_end]`` and ``[b_start, b_end]`` of ``text`` touch, or what lies between
    them is on one line or only a few characters."""
    lo, hi = min(a_end, b_end), max(a_start, b_start)
    if hi <= lo:
        return True  # they overlap or touch
    return hi - lo <= NEAR_CHARS or "\n" not in text[lo:hi]


class EditHistory:
    """The edit groups of each open document."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._docs: dict[str, _Document] = {}

    def opened(self, uri: str, text: str) -> None:
        self._docs[uri] = _Document(text)

    def closed(self, uri: str) -> None:
        self._docs.pop(uri, None)

    def changed(self, uri: str, text: str) -> None:
        """The document's text is now ``text`` (one ``didChange``, however many changes it held)."""
        state = self._docs.get(uri)
        if state is None:
            self._docs[uri] = _Document(text)
            return
        old = state.text
        state.text = text
        if old == text:
            return
        start, old_end, new_end = changed_span(old, text)
        now = state.last = self.clock()
        delta = (new_end - start) - (old_end - start)
        group = state.open
        joins = (
            group is not None
            and now - group.last <= GROUP_GAP_S
            and _near(old, start, old_end, group.start, group.end)
        )
        if group is not None and not joins:
            state.closed.append(group)
            group = state.open = None
        state.closed = [g for g in (_moved(g, start, old_end, delta) for g in state.closed) if g]
        if group is None:
            state.open = Group(start, old[start:old_end], text[start:new_end], now)
        else:
            lo, hi = min(group.start, start), max(group.end, old_end)
            before = old[lo : group.start] + group.before + old[group.end : hi]
            state.open = Group(lo, before, text[lo : hi + delta], now)
        state.closed = [g for g in state.closed if g.before != g.after][-KEEP:]

    def edits(
        self, uri: str, now: float | None = None, quiet_s: float = GROUP_GAP_S
    ) -> list[LastEdit]:
        """The document's edits, oldest first: the closed groups, and the open one if no change has
        come for ``quiet_s`` (a caller that has waited for its own pause passes that pause)."""
        state = self._docs.get(uri)
        if state is None:
            return []
        now = self.clock() if now is None else now
        out = [g.edit() for g in state.closed]
        group = state.open
        if group is not None and group.before != group.after and now - group.last >= quiet_s:
            out.append(group.edit())
        return out

    def has_edits(self, uri: str) -> bool:
        """Whether the document has any edit, closed or still open (cheap)."""
        state = self._docs.get(uri)
        if state is None:
            return False
        group = state.open
        return bool(state.closed) or (group is not None and group.before != group.after)

    def last_change(self, uri: str) -> float | None:
        """When the document's text last changed (the clock's seconds); None if it never did."""
        state = self._docs.get(uri)
        return state.last if state is not None else None


def _moved(group: Group, start: int, end: int, delta: int) -> Group | None:
    """``group`` after the change of ``[start, end)`` (``delta``: its change in length): moved when
    the change is before it (an insertion at its start included), kept when after, None when the
    change overlaps it."""
    if end <= group.start:
        return Group(group.start + delta, group.before, group.after, group.last)
    if start >= group.end:
        return group
    return None

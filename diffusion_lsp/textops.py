"""Positions and edits: LSP (UTF-16) positions <-> str indices <-> UTF-8 byte offsets, and minimal edits.

Every other layer speaks in one of three units, and this module is the only place that converts:

- ``Position(line, character)``: 0-based, ``character`` counted in UTF-16 code units (LSP's default).
- str index: an index into the Python ``str`` (code points).
- byte offset: an index into ``text.encode("utf-8")`` (tree-sitter).

It imports nothing from the project and nothing outside the standard library.
"""

from __future__ import annotations

import bisect
import difflib
import re
from dataclasses import dataclass

# LSP line breaks: '\r\n', '\n' and a lone '\r'.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, order=True)
class Position:
    """A 0-based line and a UTF-16 code-unit column, as LSP sends them."""

    line: int
    character: int


@dataclass(frozen=True)
class Range:
    """A half-open span between two positions."""

    start: Position
    end: Position


@dataclass(frozen=True)
class TextEdit:
    """Replace ``range`` (in the old text) with ``new_text``."""

    range: Range
    new_text: str


def _utf16_len(s: str) -> int:
    """Length of ``s`` in UTF-16 code units (astral characters count twice)."""
    return len(s) + sum(1 for ch in s if ord(ch) > 0xFFFF)


class LineIndex:
    """Converts between the three position units for one immutable text.

    Build it once per document version; every conversion is O(log lines + line length).
    Out-of-range positions are clamped, never raised on: an editor can send a position past the
    end of a line or of the file (a stale request), and the server must answer it sensibly.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        # str index where each line starts, after '\n', '\r\n' or a lone '\r' (LSP's line breaks).
        self.line_starts = [0] + [m.end() for m in _LINE_BREAK.finditer(text)]
        self._ascii = text.isascii()
        self._byte_starts: list[int] | None = None

    @property
    def line_count(self) -> int:
        return len(self.line_starts)

    def line_text(self, line: int) -> str:
        """The text of ``line`` without its line break."""
        line = min(max(line, 0), self.line_count - 1)
        start = self.line_starts[line]
        end = self.line_starts[line + 1] if line + 1 < self.line_count else len(self.text)
        return self.text[start:end].rstrip("\r\n")

    # -- LSP position <-> str index ------------------------------------------------------------

    def offset(self, pos: Position) -> int:
        """str index of an LSP position, clamped to the line and the document."""
        if pos.line < 0:
            return 0
        if pos.line >= self.line_count:
            return len(self.text)
        start = self.line_starts[pos.line]
        line = self.line_text(pos.line)
        if self._ascii:
            return start + min(max(pos.character, 0), len(line))
        units = 0
        for i, ch in enumerate(line):
            if units >= pos.character:
                return start + i
            units += 2 if ord(ch) > 0xFFFF else 1
        return start + len(line)

    def position(self, offset: int) -> Position:
        """LSP position of a str index (clamped to the document)."""
        offset = min(max(offset, 0), len(self.text))
        line = bisect.bisect_right(self.line_starts, offset) - 1
        start = self.line_starts[line]
        col = offset - start if self._ascii else _utf16_len(self.text[start:offset])
        return Position(line, col)

    # -- 1-based line:column, code points, as compilers print them (the CLI) ------------------

    def human(self, offset: int) -> tuple[int, int]:
        """1-based line and 1-based code-point column of a str index."""
        offset = min(max(offset, 0), len(self.text))
        line = bisect.bisect_right(self.line_starts, offset) - 1
        return line + 1, offset - self.line_starts[line] + 1

    def from_human(self, line: int, column: int) -> int | None:
        """str index of a 1-based line and code-point column (``len(line) + 1`` is the line's end);
        None when either lies outside the text."""
        if not 1 <= line <= self.line_count:
            return None
        if not 1 <= column <= len(self.line_text(line - 1)) + 1:
            return None
        return self.line_starts[line - 1] + column - 1

    def range_offsets(self, rng: Range) -> tuple[int, int]:
        """(start, end) str indices of a range, ordered."""
        a, b = self.offset(rng.start), self.offset(rng.end)
        return (a, b) if a <= b else (b, a)

    def range(self, start: int, end: int) -> Range:
        return Range(self.position(start), self.position(end))

    # -- str index <-> UTF-8 byte offset (tree-sitter) -----------------------------------------

    def _bytes_per_line(self) -> list[int]:
        if self._byte_starts is None:
            starts, total = [], 0
            for i, s in enumerate(self.line_starts):
                starts.append(total)
                nxt = self.line_starts[i + 1] if i + 1 < len(self.line_starts) else len(self.text)
                total += len(self.text[s:nxt].encode("utf-8"))
            self._byte_starts = starts
        return self._byte_starts

    def byte_offset(self, offset: int) -> int:
        """UTF-8 byte offset of a str index."""
        offset = min(max(offset, 0), len(self.text))
        if self._ascii:
            return offset
        line = bisect.bisect_right(self.line_starts, offset) - 1
        start = self.line_starts[line]
        return self._bytes_per_line()[line] + len(self.text[start:offset].encode("utf-8"))

    def str_offset(self, byte_offset: int) -> int:
        """str index of a UTF-8 byte offset (a byte inside a character maps to that character)."""
        if self._ascii:
            return min(max(byte_offset, 0), len(self.text))
        starts = self._bytes_per_line()
        line = bisect.bisect_right(starts, max(byte_offset, 0)) - 1
        rest = byte_offset - starts[line]
        start = self.line_starts[line]
        end = self.line_starts[line + 1] if line + 1 < self.line_count else len(self.text)
        prefix = self.text[start:end].encode("utf-8")[:rest]
        return start + len(prefix.decode("utf-8", errors="ignore"))

    def point(self, offset: int) -> tuple[int, int]:
        """tree-sitter point (row, byte column) of a str index."""
        offset = min(max(offset, 0), len(self.text))
        line = bisect.bisect_right(self.line_starts, offset) - 1
        start = self.line_starts[line]
        return line, len(self.text[start:offset].encode("utf-8"))

    def byte_to_position(self, byte_offset: int) -> Position:
        return self.position(self.str_offset(byte_offset))

    def position_to_byte(self, pos: Position) -> int:
        return self.byte_offset(self.offset(pos))


def apply_edits(text: str, edits: list[TextEdit]) -> str:
    """Apply LSP edits, all expressed against ``text``, the way an editor does.

    Edits must not overlap; they are applied from the end so earlier offsets stay valid.
    """
    index = LineIndex(text)
    spans = sorted(
        ((*index.range_offsets(e.range), e.new_text) for e in edits), key=lambda t: (t[0], t[1])
    )
    for (_, end_a, _), (start_b, _, _) in zip(spans, spans[1:]):
        if start_b < end_a:
            raise ValueError("overlapping edits")
    out = text
    for start, end, new in reversed(spans):
        out = out[:start] + new + out[end:]
    return out


# A character diff of two blocks costs up to their product (difflib); past this product the block's
# common prefix and suffix are trimmed instead, which is linear.
CHAR_DIFF_CAP = 400_000
# A line diff is cheap per line, but difflib is quadratic in the worst case; past this many lines the
# common prefix and suffix lines are trimmed first and only the middle is diffed.
LINE_DIFF_CAP = 4_000


@dataclass(frozen=True)
class Hunk:
    """Replace ``old[start:end]`` with ``new_text`` (str offsets into the old text)."""

    start: int
    end: int
    new_text: str


def minimal_hunks(old: str, new: str) -> list[Hunk]:
    """The smallest set of hunks that turn ``old`` into ``new``, in order, not overlapping.

    The diff runs on lines first, then on characters within each changed block, so a one-word fix in
    a long region arrives as a one-word hunk rather than a replacement of the region. Both passes
    are bounded (``LINE_DIFF_CAP``, ``CHAR_DIFF_CAP``): past the caps the changed middle is found by
    trimming the common prefix and suffix, so the cost stays linear on pathological input.
    """
    head = common_prefix(old, new)
    tail = _common_suffix(old, new, head)
    if head == len(old) and head == len(new):
        return []
    # Keep the trimmed middle on line boundaries so the line diff sees whole lines.
    head = old.rfind("\n", 0, head) + 1 if head else 0
    if tail:  # the tail starts where a line does (or is dropped)
        at = old.find("\n", len(old) - tail - 1)
        tail = len(old) - (at + 1) if at >= 0 else 0
    if _inside_crlf(old, len(old) - tail) or _inside_crlf(new, len(new) - tail):
        tail = max(tail - 1, 0)
    a_mid, b_mid = old[head : len(old) - tail], new[head : len(new) - tail]
    hunks: list[Hunk] = []

    def emit(a0: int, a1: int, text: str) -> None:
        hunks.append(Hunk(head + a0, head + a1, text))

    old_lines, new_lines = split_lines(a_mid), split_lines(b_mid)
    if len(old_lines) + len(new_lines) > LINE_DIFF_CAP:
        _char_block(a_mid, b_mid, 0, emit)
        return hunks
    old_starts = _starts(old_lines)
    new_starts = _starts(new_lines)
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        a0, a1 = old_starts[i1], old_starts[i2]
        b0, b1 = new_starts[j1], new_starts[j2]
        if tag == "replace":
            _char_block(a_mid[a0:a1], b_mid[b0:b1], a0, emit)
        else:
            emit(a0, a1, b_mid[b0:b1])
    return hunks


def _char_block(a_text: str, b_text: str, a0: int, emit) -> None:
    """Hunks for one changed block: a character diff when it is small enough and similar."""
    if len(a_text) * len(b_text) > CHAR_DIFF_CAP:
        head = common_prefix(a_text, b_text)
        tail = _common_suffix(a_text, b_text, head)
        while _inside_crlf(a_text, head) or _inside_crlf(b_text, head):
            head -= 1
        while _inside_crlf(a_text, len(a_text) - tail) or _inside_crlf(b_text, len(b_text) - tail):
            tail -= 1
        emit(a0 + head, a0 + len(a_text) - tail, b_text[head : len(b_text) - tail])
        return
    inner = difflib.SequenceMatcher(a=a_text, b=b_text, autojunk=False)
    hunks = [op for op in inner.get_opcodes() if op[0] != "equal"]
    # An LSP position cannot fall between '\r' and '\n': such a hunk falls back to the block.
    splits_crlf = any(_inside_crlf(a_text, x) for _, x1, x2, _, _ in hunks for x in (x1, x2))
    if inner.ratio() > 0.5 and not splits_crlf:
        for _, x1, x2, y1, y2 in hunks:
            emit(a0 + x1, a0 + x2, b_text[y1:y2])
    else:
        emit(a0, a0 + len(a_text), b_text)


def _starts(lines: list[str]) -> list[int]:
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    return starts


def changed_span(old: str, new: str) -> tuple[int, int, int]:
    """``(start, old_end, new_end)``: ``old[start:old_end]`` became ``new[start:new_end]``, the
    common prefix and suffix left out (the prefix as long as possible), by slice comparisons."""
    head = common_prefix(old, new)
    tail = _common_suffix(old, new, head)
    return head, len(old) - tail, len(new) - tail


def common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix of ``a`` and ``b``."""
    n = min(len(a), len(b))
    lo, hi = 0, n  # binary search on slices: C-speed comparisons, O(n log n) at worst
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, b: str, head: int) -> int:
    n = min(len(a), len(b)) - head
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[len(a) - mid : len(a) - lo] == b[len(b) - mid : len(b) - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def minimal_edits(
    old: str, new: str, base: int = 0, index: LineIndex | None = None
) -> list[TextEdit]:
    """``minimal_hunks`` as LSP edits.

    ``old`` is ``index.text[base:base + len(old)]`` when ``index`` is given, so the edits come back
    in the whole document's coordinates; otherwise they are relative to ``old`` itself.
    """
    if index is None:
        index, base = LineIndex(old), 0
    return [
        TextEdit(index.range(base + h.start, base + h.end), h.new_text)
        for h in minimal_hunks(old, new)
    ]


def split_lines(text: str) -> list[str]:
    """Lines with their breaks kept, splitting on LSP's line breaks only."""
    ends = [m.end() for m in _LINE_BREAK.finditer(text)]
    starts = [0] + ends
    if not ends or ends[-1] != len(text):
        ends.append(len(text))
    return [text[a:b] for a, b in zip(starts, ends) if b > a]


def _inside_crlf(text: str, i: int) -> bool:
    return 0 < i < len(text) and text[i - 1] == "\r" and text[i] == "\n"

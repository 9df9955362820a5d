"""One open document: its text, line index, language and syntax tree, updated incrementally."""

from __future__ import annotations

import tree_sitter

from diffusion_lsp.region.languages import SPECS, LanguageSpec, language_for, new_parser
from diffusion_lsp.textops import LineIndex, Range


def ts_point(data: bytes, byte_offset: int) -> tuple[int, int]:
    """tree-sitter's point (row, byte column) of a byte offset: rows are counted by '\\n' only."""
    row = data.count(b"\n", 0, byte_offset)
    return row, byte_offset - (data.rfind(b"\n", 0, byte_offset) + 1)


def _end_point(start: tuple[int, int], inserted: bytes) -> tuple[int, int]:
    newlines = inserted.count(b"\n")
    if not newlines:
        return start[0], start[1] + len(inserted)
    return start[0] + newlines, len(inserted) - inserted.rfind(b"\n") - 1


class Document:
    """One open document: text, LineIndex, language, tree; incremental updates.

    ``language`` is None when no grammar fits: the document has no tree and every intent falls back
    to line-based regions.
    """

    def __init__(self, text: str, language_id: str | None = None, path: str | None = None) -> None:
        self.path = path
        self.language: str | None = language_for(language_id, path)
        self.spec: LanguageSpec | None = SPECS[self.language] if self.language else None
        self._parser = new_parser(self.language) if self.language else None
        self.tree: tree_sitter.Tree | None = None
        self.set_text(text)

    def copy(self) -> Document:
        """An independent copy that shares nothing mutable (the tree is copied, not reparsed), so
        work off the event loop can read it while the original keeps changing."""
        other = object.__new__(Document)
        other.path, other.language, other.spec = self.path, self.language, self.spec
        other._parser = new_parser(self.language) if self.language else None
        other.tree = self.tree.copy() if self.tree is not None else None
        other._set(self.text)
        return other

    def edited(self, start: int, end: int, new_text: str) -> Document:
        """A copy with ``text[start:end]`` (str offsets) replaced, reparsed incrementally."""
        other = self.copy()
        other.apply_change(self.index.range(start, end), new_text)
        return other

    def set_text(self, text: str) -> None:
        """Replace the whole text and parse it afresh."""
        self._set(text)
        if self._parser is not None:
            self.tree = self._parser.parse(self.data)

    def apply_change(self, range: Range | None, new_text: str) -> None:
        """Apply one LSP content change; ``range`` None replaces the whole text.

        The old tree is edited (``tree.edit``) and the new text reparsed with it, so tree-sitter
        reuses every subtree the change did not touch.
        """
        if range is None:
            self.set_text(new_text)
            return
        start, end = self.index.range_offsets(range)
        old_data = self.data
        start_byte, old_end_byte = self.index.byte_offset(start), self.index.byte_offset(end)
        inserted = new_text.encode("utf-8")
        self._set(self.text[:start] + new_text + self.text[end:])
        if self.tree is None or self._parser is None:
            return
        start_point = ts_point(old_data, start_byte)
        self.tree.edit(
            start_byte=start_byte,
            old_end_byte=old_end_byte,
            new_end_byte=start_byte + len(inserted),
            start_point=start_point,
            old_end_point=ts_point(old_data, old_end_byte),
            new_end_point=_end_point(start_point, inserted),
        )
        self.tree = self._parser.parse(self.data, self.tree)

    def _set(self, text: str) -> None:
        self.text = text
        self.data = text.encode("utf-8")
        self._index: LineIndex | None = None

    @property
    def index(self) -> LineIndex:
        """The text's LineIndex, built on first use after a change (a burst of typing builds one)."""
        if self._index is None:
            self._index = LineIndex(self.text)
        return self._index

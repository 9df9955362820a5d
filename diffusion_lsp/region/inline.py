"""INLINE: the region to complete at a cursor.

The span starts at the cursor and never crosses a line break: it is the rest of the line up to the
first closing bracket that belongs to text before the cursor, a trailing comment, or the line's end,
less trailing ``;``/``,``/``{``/``:`` and spaces; empty (a pure insertion) when nothing is left. The
length hint is one line, or several when the cursor ends a block header or sits in an empty body.
"""

from __future__ import annotations

import re

from diffusion_lsp.region.base import CHARS_PER_LINE, Intent, LengthHint, Region
from diffusion_lsp.region.document import Document
from diffusion_lsp.region.spans import byte_at, in_string_or_comment, inside_word, make_region
from diffusion_lsp.textops import Position

_OPEN, _CLOSE = "([{", ")]}"
_QUOTES = "\"'`"
_COMMENT_STARTS = ("#", "//", "/*", "--")
# What a block header may leave after the cursor: spaces and the closers an editor auto-inserts.
_CLOSERS_ONLY = re.compile(r"[\s)\]}]*(end)?[\s)\]}]*")
# Structure at the end of the span that the model should see rather than rewrite.
_TRAILING = re.compile(r"(\s|[;,{:])+$")
_COLON_OWNER = re.compile(r"_(definition|statement|clause)$")
# With the header still unparsed (an ERROR), its first keyword says whether a block follows.
_PY_HEADER = re.compile(
    r"\s*(@|(async\s+)?(def|class|if|elif|else|for|while|with|try|except|finally|match|case)\b)"
)


def inline_region(doc: Document, pos: Position, max_lines: int = 12) -> Region | None:
    """The region to complete at ``pos``, or None mid-identifier and inside strings/comments."""
    index = doc.index
    offset = index.offset(pos)
    line_no = index.position(offset).line
    line_start = index.line_starts[line_no]
    line = index.line_text(line_no)
    col = offset - line_start
    before, after = line[:col], line[col:]
    if inside_word(doc, offset):
        return None
    start_byte = byte_at(doc, pos)
    if in_string_or_comment(doc, start_byte):
        return None
    end_col = col + _rewrite_length(doc, line_start + col, after)
    end_byte = index.byte_offset(line_start + end_col)
    multi = (
        _CLOSERS_ONLY.fullmatch(after) is not None and _ends_header(doc, line_start, before)
    ) or (not line.strip() and _after_header(doc, line_no))
    lines = max(1, max_lines) if multi else 1
    hint = LengthHint(min_chars=1, max_chars=lines * CHARS_PER_LINE, max_lines=lines)
    return make_region(doc, Intent.INLINE, start_byte, end_byte, _node_type(doc, start_byte), hint)


def _rewrite_length(doc: Document, offset: int, after: str) -> int:
    """How many characters after the cursor the completion may rewrite."""
    depth, i, end = 0, 0, len(after)
    while i < len(after):
        ch = after[i]
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            if depth == 0:
                end = i
                break
            depth -= 1
        elif ch in _QUOTES:
            skip = _string_end(doc, offset + i, after, i)
            if skip is None:
                break
            i = skip
            continue
        elif after.startswith(_COMMENT_STARTS, i) and _is_comment_at(doc, offset + i):
            end = i
            break
        i += 1
    kept = _TRAILING.sub("", after[:end])
    return len(kept) if kept.strip() else 0


def _string_end(doc: Document, offset: int, after: str, i: int) -> int | None:
    """Index in ``after`` just past the string that opens at ``after[i]``; None if it runs on."""
    if doc.tree is not None and doc.spec is not None:
        byte = doc.index.byte_offset(offset)
        node = doc.tree.root_node.descendant_for_byte_range(byte, byte + 1)
        while node is not None and node.type not in doc.spec.strings:
            node = node.parent
        if node is not None and node.start_byte <= byte:
            end = doc.index.str_offset(node.end_byte) - offset + i
            return end if end <= len(after) else None
    close = after.find(after[i], i + 1)
    return close + 1 if close >= 0 else None


def _is_comment_at(doc: Document, offset: int) -> bool:
    if doc.tree is None or doc.spec is None:
        return False
    byte = doc.index.byte_offset(offset)
    node = doc.tree.root_node.descendant_for_byte_range(byte, byte + 1)
    return node is not None and node.type in doc.spec.comments and node.start_byte == byte


def _ends_header(doc: Document, line_start: int, before: str) -> bool:
    """Whether ``before`` (a line up to the cursor) ends a block header: ``def f():``, ``if x {``."""
    text = before.rstrip()
    if not text:
        return False
    spec, last = doc.spec, text[-1]
    if spec is None or doc.tree is None:
        return last == "{" or last == ":"
    byte = doc.index.byte_offset(line_start + len(text) - 1)
    token = doc.tree.root_node.descendant_for_byte_range(byte, byte + 1)
    if token is None:
        return False
    if last == "{":
        return token.type == "{"
    if last == ":" and spec.colon_headers:
        owner = token.parent
        if token.type != ":" or owner is None:
            return False
        if owner.is_error:
            return _PY_HEADER.match(text) is not None
        return _COLON_OWNER.search(owner.type) is not None
    for keyword in spec.keyword_headers:
        if text.endswith(keyword) and token.type == keyword:
            return True
    if last == ")" and spec.keyword_headers and token.type == ")":
        params = token.parent
        return (
            params is not None
            and params.parent is not None
            and params.parent.type in spec.functions
        )
    return False


def _after_header(doc: Document, line_no: int) -> bool:
    """Whether the nearest non-blank line above ``line_no`` ends a block header."""
    index = doc.index
    for above in range(line_no - 1, -1, -1):
        text = index.line_text(above)
        if text.strip():
            return _ends_header(doc, index.line_starts[above], text)
    return False


def _node_type(doc: Document, byte: int) -> str:
    if doc.tree is None:
        return "line"
    node = doc.tree.root_node.named_descendant_for_byte_range(byte, byte)
    return node.type if node is not None else doc.tree.root_node.type

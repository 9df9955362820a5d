"""REFINE: a selection snapped outward to whole tokens, and to whole lines when it nearly covers them.

Inside comments and strings the unit is a word rather than the whole token.
"""

from __future__ import annotations

import tree_sitter

from diffusion_lsp.region.base import Intent, Region, hint_like
from diffusion_lsp.region.document import Document
from diffusion_lsp.region.spans import inside_word, make_region
from diffusion_lsp.textops import Range

# A selection covering at least this share of its lines' non-blank characters takes whole lines.
NEARLY_WHOLE = 0.8


def refine_region(doc: Document, rng: Range) -> Region | None:
    """The region to rewrite for a selection; None when it is empty and not on a word."""
    index = doc.index
    start, end = index.range_offsets(rng)
    end_pos = index.position(end)
    if end > start and end_pos.character == 0 and end_pos.line > index.position(start).line:
        end = index.line_starts[end_pos.line - 1] + len(index.line_text(end_pos.line - 1))
    start, end = _snap_start(doc, start), _snap_end(doc, end)
    if start == end:
        return None
    start, end = _whole_lines(doc, start, end)
    start_byte, end_byte = index.byte_offset(start), index.byte_offset(end)
    node_type = "selection"
    if doc.tree is not None:
        node = doc.tree.root_node.named_descendant_for_byte_range(start_byte, end_byte)
        node_type = node.type if node is not None else doc.tree.root_node.type
    return make_region(
        doc, Intent.REFINE, start_byte, end_byte, node_type, hint_like(doc.text[start:end])
    )


def _token_at(doc: Document, byte: int) -> tree_sitter.Node | None:
    """The leaf token that holds the byte at ``byte``, or None (no grammar, or not in a leaf)."""
    if doc.tree is None or byte >= len(doc.data):
        return None
    node = doc.tree.root_node.descendant_for_byte_range(byte, byte + 1)
    return node if node is not None and node.child_count == 0 else None


def _is_prose(doc: Document, token: tree_sitter.Node) -> bool:
    """A comment or the content of a string: snap to words there, not to the whole token."""
    assert doc.spec is not None
    kinds = doc.spec.comments | doc.spec.strings
    return token.type in kinds or (
        token.is_named and token.parent is not None and token.parent.type in kinds
    )


def _snap_start(doc: Document, start: int) -> int:
    token = _token_at(doc, doc.index.byte_offset(start))
    if token is not None and not _is_prose(doc, token):
        return min(start, doc.index.str_offset(token.start_byte))
    while inside_word(doc, start):
        start -= 1
    return start


def _snap_end(doc: Document, end: int) -> int:
    token = _token_at(doc, doc.index.byte_offset(end) - 1) if end > 0 else None
    if token is not None and not _is_prose(doc, token):
        return max(end, doc.index.str_offset(token.end_byte))
    while inside_word(doc, end):
        end += 1
    return end


def _whole_lines(doc: Document, start: int, end: int) -> tuple[int, int]:
    """Widen to whole lines (without the last line break) when the selection nearly covers them."""
    index = doc.index
    first, last = index.position(start).line, index.position(end).line
    line_start = index.line_starts[first]
    line_end = index.line_starts[last] + len(index.line_text(last))
    if end > line_end:  # the selection ends inside a line break
        return start, end
    uncovered = len("".join(doc.text[line_start:start].split())) + len(
        "".join(doc.text[end:line_end].split())
    )
    covered = len("".join(doc.text[start:end].split()))
    if covered and covered >= NEARLY_WHOLE * (covered + uncovered):
        return line_start, line_end
    return start, end

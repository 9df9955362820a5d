"""FIX: one region per syntax error, the smallest statement or declaration around it.

Errors are tree-sitter's ERROR and MISSING nodes. An ERROR that stands where a statement should be
is widened to the statements that share its first and last lines, so the region starts and ends
with whole statements. Regions that overlap are merged.
"""

from __future__ import annotations

import tree_sitter

from diffusion_lsp.region.base import Intent, Region, hint_like
from diffusion_lsp.region.document import Document
from diffusion_lsp.region.spans import byte_at, make_region, statement_of
from diffusion_lsp.textops import Position


def fix_regions(doc: Document, pos: Position | None = None) -> list[Region]:
    """Every syntax error's region in document order; with ``pos``, those that contain it."""
    if doc.tree is None or doc.spec is None or not doc.tree.root_node.has_error:
        return []
    spans: list[tuple[int, int, str]] = []
    for error in _errors(doc.tree.root_node):
        statement = statement_of(doc.spec, error)
        start, end = statement.start_byte, statement.end_byte
        if statement.is_error or statement.parent is None:
            start, end = _widen_to_line_neighbours(statement, start, end)
        spans.append((start, end, statement.type))
    merged: list[tuple[int, int, str]] = []
    for start, end, kind in sorted(spans):
        if merged and (start < merged[-1][1] or start == end == merged[-1][1]):
            last = merged[-1]
            merged[-1] = (
                last[0],
                max(last[1], end),
                last[2] if last[1] - last[0] >= end - start else kind,
            )
        else:
            merged.append((start, end, kind))
    regions = [
        make_region(
            doc,
            Intent.FIX,
            start,
            end,
            kind,
            hint_like(doc.data[start:end].decode("utf-8", "replace")),
        )
        for start, end, kind in merged
    ]
    if pos is None:
        return regions
    byte = byte_at(doc, pos)
    return [r for r in regions if r.start_byte <= byte <= r.end_byte]


def _errors(root: tree_sitter.Node) -> list[tree_sitter.Node]:
    """The outermost ERROR nodes and every MISSING node, visiting only subtrees with errors."""
    out, stack = [], [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            out.append(node)
        elif node.has_error:
            stack.extend(node.children)
    return out


def _widen_to_line_neighbours(node: tree_sitter.Node, start: int, end: int) -> tuple[int, int]:
    """Grow ``[start, end)`` to the siblings that share the node's first or last line."""
    first_row, last_row = node.start_point[0], node.end_point[0]
    sibling = node.prev_sibling
    while sibling is not None and sibling.end_point[0] >= first_row:
        start = min(start, sibling.start_byte)
        first_row = min(first_row, sibling.start_point[0])
        sibling = sibling.prev_sibling
    sibling = node.next_sibling
    while sibling is not None and sibling.start_point[0] <= last_row:
        end = max(end, sibling.end_byte)
        last_row = max(last_row, sibling.end_point[0])
        sibling = sibling.next_sibling
    return start, end

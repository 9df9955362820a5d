"""Validators: does a candidate, put in place of a region, parse without new errors?

The check reparses the document with the candidate substituted, reusing the snapshot's tree through
``tree.edit``, and compares the ERROR/MISSING nodes with the snapshot's.
"""

from __future__ import annotations

from collections.abc import Callable

import tree_sitter

from diffusion_lsp.region.document import Document, _end_point, ts_point
from diffusion_lsp.region.languages import new_parser

Span = tuple[int, int]
_BRACKETS = {
    "(": ("(", 1),
    ")": ("(", -1),
    "[": ("[", 1),
    "]": ("[", -1),
    "{": ("{", 1),
    "}": ("{", -1),
}


def error_spans(root: tree_sitter.Node) -> list[Span]:
    """Byte spans of the outermost ERROR nodes and of every MISSING node under ``root``.

    Only subtrees that contain an error are visited, so a clean tree costs one check.
    """
    out: list[Span] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            out.append((node.start_byte, node.end_byte))
        elif node.has_error:
            stack.extend(node.children)
    out.sort()
    return out


def _touches(span: Span, start: int, end: int) -> bool:
    return span[0] <= end and span[1] >= start


def syntax_validator(
    doc: Document, start: int, end: int, must_clear: bool
) -> Callable[[str], bool]:
    """A validator for the byte span ``[start, end)`` of ``doc`` as it is now.

    A candidate passes when (1) every error away from the span was already there, (2) no error lies
    inside the inserted text, and (3) errors touching the span are no more than before, or none at
    all when ``must_clear`` (a FIX must remove the error it was offered for). Documents without a
    grammar get a bracket-balance check instead.
    """
    if doc.tree is None or doc.language is None:
        return _balance_validator(doc.data[start:end].decode("utf-8", errors="replace"))
    language, data, tree = doc.language, doc.data, doc.tree.copy()
    old: list[list[Span]] = []  # filled on first use: most regions are never validated
    points: list[tuple[int, int]] = []

    def validate(candidate: str) -> bool:
        if not old:
            old.append(error_spans(tree.root_node))
            points.extend((ts_point(data, start), ts_point(data, end)))
        start_point, old_end_point = points
        inserted = candidate.encode("utf-8")
        new_end = start + len(inserted)
        delta = new_end - end
        edited = tree.copy()
        edited.edit(
            start_byte=start,
            old_end_byte=end,
            new_end_byte=new_end,
            start_point=start_point,
            old_end_point=old_end_point,
            new_end_point=_end_point(start_point, inserted),
        )
        new_tree = new_parser(language).parse(data[:start] + inserted + data[end:], edited)
        old_touching = 0
        old_away: set[Span] = set()
        for s, e in old[0]:
            if _touches((s, e), start, end):
                old_touching += 1
            else:
                old_away.add((s, e) if e < start else (s + delta, e + delta))
        touching = 0
        for span in error_spans(new_tree.root_node):
            if not _touches(span, start, new_end):
                if span not in old_away:
                    return False
                continue
            if inserted and start <= span[0] and span[1] <= new_end:
                return False
            touching += 1
        return touching <= (0 if must_clear else old_touching)

    return validate


def _balance(text: str) -> dict[str, int]:
    depth = {"(": 0, "[": 0, "{": 0}
    for ch in text:
        if ch in _BRACKETS:
            kind, step = _BRACKETS[ch]
            depth[kind] += step
    return depth


def _balance_validator(original: str) -> Callable[[str], bool]:
    """Without a grammar: the candidate must open and close brackets as the original did."""
    expected = _balance(original)
    return lambda candidate: _balance(candidate) == expected

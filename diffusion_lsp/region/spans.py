"""Helpers the intents share: building a Region from a byte span, and small tree queries."""

from __future__ import annotations

import tree_sitter

from diffusion_lsp.region.base import Intent, LengthHint, Region
from diffusion_lsp.region.document import Document
from diffusion_lsp.region.languages import LanguageSpec
from diffusion_lsp.region.validate import syntax_validator
from diffusion_lsp.textops import Position


def make_region(
    doc: Document,
    intent: Intent,
    start_byte: int,
    end_byte: int,
    node_type: str,
    hint: LengthHint,
    group: str | None = None,
) -> Region:
    """A Region of ``doc``'s current text; its validator is bound to this snapshot."""
    index = doc.index
    start, end = index.str_offset(start_byte), index.str_offset(end_byte)
    return Region(
        intent=intent,
        start_byte=start_byte,
        end_byte=end_byte,
        range=index.range(start, end),
        text=doc.text[start:end],
        node_type=node_type,
        length_hint=hint,
        group=group,
        validator=syntax_validator(doc, start_byte, end_byte, must_clear=intent is Intent.FIX),
    )


def byte_at(doc: Document, pos: Position) -> int:
    """UTF-8 offset of an LSP position (clamped to the document)."""
    return doc.index.position_to_byte(pos)


def leaf_before(root: tree_sitter.Node, byte: int) -> tree_sitter.Node:
    """The smallest node that holds the byte just before ``byte``."""
    return root.descendant_for_byte_range(max(byte - 1, 0), byte)


def is_line_comment(node: tree_sitter.Node) -> bool:
    """A comment that runs to the end of its line (``#``, ``//``, ``--``), not ``/* */``."""
    text = node.text or b""
    return not (text.endswith(b"*/") or (text.startswith(b"--[") and text.rstrip().endswith(b"]")))


def in_string_or_comment(doc: Document, byte: int) -> bool:
    """Whether a cursor at ``byte`` sits inside a string or comment (not in code interpolated in one)."""
    if doc.tree is None or doc.spec is None or byte == 0:
        return False
    spec = doc.spec
    node: tree_sitter.Node | None = leaf_before(doc.tree.root_node, byte)
    while node is not None:
        kind, start, end = node.type, node.start_byte, node.end_byte
        if kind in spec.interpolations and start < byte < end:
            return False
        if kind in spec.comments and start < byte and (byte < end or is_line_comment(node)):
            return True
        if kind in spec.strings and start < byte < end:
            return True
        node = node.parent
    return False


def statement_of(spec: LanguageSpec, node: tree_sitter.Node) -> tree_sitter.Node:
    """The smallest statement or declaration that encloses ``node``.

    A statement is a child of a container (module, block, class body, ...). An ERROR node that sits
    among the parts of a compound statement (say, where a function's body should be) counts as a
    statement itself.
    """
    current = node
    while current.parent is not None:
        parent = current.parent
        if parent.type in spec.containers:
            return current
        if current.is_error and any(c.type in spec.containers for c in parent.children):
            return current
        current = parent
    return node


def function_of(spec: LanguageSpec, node: tree_sitter.Node) -> tree_sitter.Node | None:
    """The innermost function that contains ``node`` (or is it)."""
    current: tree_sitter.Node | None = node
    while current is not None:
        if current.type in spec.functions:
            return current
        current = current.parent
    return None


def group_id(doc: Document, function: tree_sitter.Node) -> str:
    """Group id of the holes of one function: ``func@LINE:CHARACTER`` of its start (0-based LSP)."""
    pos = doc.index.byte_to_position(function.start_byte)
    return f"func@{pos.line}:{pos.character}"


def is_word_char(spec: LanguageSpec | None, ch: str) -> bool:
    return ch.isalnum() or ch in (spec.word_chars if spec else "_")


def inside_word(doc: Document, offset: int) -> bool:
    """Whether the str index ``offset`` falls between two characters of one identifier."""
    text = doc.text
    return (
        0 < offset < len(text)
        and is_word_char(doc.spec, text[offset - 1])
        and is_word_char(doc.spec, text[offset])
    )

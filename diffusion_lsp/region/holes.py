"""HOLE: the placeholders a user left to be filled, one region each, grouped by function.

Placeholders: ``pass`` and ``...`` statements, ``raise NotImplementedError``, ``todo!()`` and
``unimplemented!()``, ``throw``/``panic``/``error`` calls that say "not implemented", TODO/FIXME
comments, and empty function bodies. Without a grammar, lines with TODO/FIXME.
"""

from __future__ import annotations

import logging
import re

import tree_sitter

from diffusion_lsp.region.base import Intent, LengthHint, Region, hint_for_lines
from diffusion_lsp.region.document import Document
from diffusion_lsp.region.languages import LanguageSpec, hole_query
from diffusion_lsp.region.spans import byte_at, function_of, group_id, make_region
from diffusion_lsp.textops import Position

log = logging.getLogger(__name__)
_PLACEHOLDER = re.compile(
    rb"(?i:not[\s_-]*(yet[\s_-]*)?implemented|unimplemented|\btodo\b)|UnsupportedOperationException"
)
_TODO = re.compile(r"\b(TODO|FIXME)\b")
# A decorator that makes `...` or `pass` the intended body.
_STUB_DECORATOR = re.compile(rb"@(\w+\.)*(overload|abstractmethod)\b")
_NOT_HOLE_PASS_OWNERS = frozenset({"except_clause", "except_group_clause", "class_definition"})
# tree-sitter's query engine is quadratic in nesting depth (100 KB of open brackets took 7 s) and it
# runs on the event loop, so text nested deeper than this gets no hole query (about 3 ms at 2,000).
MAX_QUERY_NESTING = 2_000
_DEPTH_STEP = bytes.maketrans(b"([{)]}", b"\x02\x02\x02\x00\x00\x00")
BODY_LINES = 30  # a hole that is a whole function body
STATEMENT_LINES = 10  # a hole among other statements


def hole_regions(doc: Document, pos: Position | None = None) -> list[Region]:
    """Every hole in the file, or with ``pos`` the holes of the function that encloses it.

    When ``pos`` is in no function, the hole under ``pos`` (if any). Holes come in document order;
    holes of one function share ``group``.
    """
    if doc.tree is None or doc.spec is None:
        return _line_holes(doc, pos)
    root = doc.tree.root_node
    lo, hi = 0, len(doc.data)
    scope: tree_sitter.Node | None = None
    if pos is not None:
        byte = byte_at(doc, pos)
        scope = function_of(doc.spec, root.descendant_for_byte_range(byte, byte))
        lo, hi = (scope.start_byte, scope.end_byte) if scope is not None else (byte, byte)
    holes = _tree_holes(doc, doc.spec, root, lo, hi)
    if pos is not None and scope is None:  # the hole under the cursor
        return [r for r in holes if r.start_byte <= lo <= r.end_byte]
    return [r for r in holes if lo <= r.start_byte and r.end_byte <= hi]


def _nesting(data: bytes) -> int:
    """The deepest bracket nesting in ``data`` (strings and comments included: an upper bound);
    counted only when there are enough brackets for it to matter."""
    if sum(data.count(b) for b in (b"(", b"[", b"{")) <= MAX_QUERY_NESTING:
        return 0
    steps = data.translate(_DEPTH_STEP, b"").translate(None, bytes(range(3, 256)))
    depth = deepest = 0
    for step in steps:  # only bracket bytes are left: 2 opens, 0 closes
        depth += step - 1
        deepest = max(deepest, depth)
    return deepest


def _tree_holes(
    doc: Document, spec: LanguageSpec, root: tree_sitter.Node, lo: int, hi: int
) -> list[Region]:
    cursor = tree_sitter.QueryCursor(hole_query(doc.language or spec.name))
    cursor.set_byte_range(lo, max(hi, lo + 1))
    spans: dict[tuple[int, int], tuple[str, tree_sitter.Node]] = {}
    if _nesting(doc.data) > MAX_QUERY_NESTING:
        log.info("no hole query: brackets nest deeper than %d", MAX_QUERY_NESTING)
        return []
    for name, nodes in cursor.captures(root).items():
        for node in nodes:
            found = _hole_span(spec, name, node)
            if found is not None:
                spans.setdefault(found[0], (found[1], node))
    regions = []
    for (start, end), (node_type, node) in sorted(spans.items()):
        function = node if node.type in spec.functions else function_of(spec, node)
        hint = _hint(spec, node, function, empty_body=node.type in spec.functions)
        group = group_id(doc, function) if function is not None else None
        regions.append(make_region(doc, Intent.HOLE, start, end, node_type, hint, group))
    return regions


def _hole_span(
    spec: LanguageSpec, capture: str, node: tree_sitter.Node
) -> tuple[tuple[int, int], str] | None:
    """The byte span and node type of a captured placeholder, or None if it is not one."""
    span = (node.start_byte, node.end_byte)
    if capture == "hole" or capture == "comment":
        return span, node.type
    if capture == "call":
        return (span, node.type) if _PLACEHOLDER.search(node.text or b"") else None
    if capture == "pass":
        return None if _intended_stub(node) else (span, node.type)
    if capture == "function" and node.type not in spec.empty_body_exempt:
        return _empty_body(node)
    return None


def _intended_stub(node: tree_sitter.Node) -> bool:
    """`pass` in an except clause or class body, `...` in an @overload or @abstractmethod."""
    block = node.parent
    owner = block.parent if block is not None else None
    if owner is None:
        return False
    if node.type == "pass_statement" and owner.type in _NOT_HOLE_PASS_OWNERS:
        return True
    decorated = owner.parent if owner.type == "function_definition" else None
    if decorated is not None and decorated.type == "decorated_definition":
        return any(
            _STUB_DECORATOR.search(c.text or b"")
            for c in decorated.children
            if c.type == "decorator"
        )
    return False


def _empty_body(function: tree_sitter.Node) -> tuple[tuple[int, int], str] | None:
    """The inside of an empty body: between the braces, or between the parameters and ``end``."""
    if function.has_error:  # an empty body in broken code is damage, not a placeholder
        return None
    body = function.child_by_field_name("body")
    if body is not None:
        if body.named_child_count:
            return None
        if body.end_byte == body.start_byte:  # Python's empty block after `def f():`
            return (body.start_byte, body.end_byte), body.type
        tokens = body.children
        if len(tokens) == 2 and tokens[0].type == "{" and tokens[1].type == "}":
            return (tokens[0].end_byte, tokens[1].start_byte), body.type
        return None
    last = function.children[-1] if function.child_count else None
    params = function.child_by_field_name("parameters")
    if last is not None and last.type == "end" and params is not None:
        return (params.end_byte, last.start_byte), "block"
    return None


def _hint(
    spec: LanguageSpec, node: tree_sitter.Node, function: tree_sitter.Node | None, empty_body: bool
) -> LengthHint:
    """Whole bodies get room for a function; a hole among other statements, for a few lines."""
    if empty_body or _alone_in_body(spec, node, function):
        return hint_for_lines(BODY_LINES)
    return hint_for_lines(STATEMENT_LINES)


def _alone_in_body(
    spec: LanguageSpec, node: tree_sitter.Node, function: tree_sitter.Node | None
) -> bool:
    """Whether ``node`` is the only statement (besides comments and a docstring) of ``function``."""
    if function is None:
        return False
    body = function.child_by_field_name("body")
    if body is None:
        return False
    statements = [
        c for c in body.named_children if c.type not in spec.comments and not _is_docstring(c)
    ]
    while len(statements) == 1 and statements[0].type in spec.containers:  # Go's statement_list
        statements = [c for c in statements[0].named_children if c.type not in spec.comments]
    return (
        len(statements) == 1
        and statements[0].start_byte <= node.start_byte < statements[0].end_byte
    )


def _is_docstring(node: tree_sitter.Node) -> bool:
    return (
        node.type == "expression_statement"
        and node.named_child_count == 1
        and (node.named_children[0].type == "string")
    )


def _line_holes(doc: Document, pos: Position | None) -> list[Region]:
    """Without a grammar: each line with TODO/FIXME is a hole (its text after the indentation)."""
    index = doc.index
    lines = (
        range(index.line_count) if pos is None else [min(max(pos.line, 0), index.line_count - 1)]
    )
    regions = []
    for line_no in lines:
        text = index.line_text(line_no)
        if not _TODO.search(text):
            continue
        start = index.line_starts[line_no] + len(text) - len(text.lstrip())
        end = index.line_starts[line_no] + len(text.rstrip())
        hint = hint_for_lines(STATEMENT_LINES)
        regions.append(
            make_region(
                doc, Intent.HOLE, index.byte_offset(start), index.byte_offset(end), "line", hint
            )
        )
    return regions

"""Where the next edit may go: spans of the text related to the user's last edit, from its tree.

``related_spans`` reads one edit (``LastEdit``) against the document it was made on and returns
candidate spans with their reason, in the order ``next_edit.windows`` ranks them by:

- ``use``: another occurrence, as an identifier node, of a name the edit renamed away (a word of
  ``before`` that ``after`` no longer has), in the enclosing function (the file for an edit at module
  level or on a def's name);
- ``call``: a call of the function whose parameters the edit changed;
- ``sibling``: a statement of the same block with the same type and shape as the edited one;
- ``after``: the non-blank lines among the three after the edit (the only reason without a tree,
  or on text nested too deep for tree queries, as for holes: ``holes.MAX_QUERY_NESTING``).

It knows nothing of the model; every span is a str offset pair of ``doc.text``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import tree_sitter

from diffusion_lsp.region.document import Document
from diffusion_lsp.region.holes import MAX_QUERY_NESTING, _nesting
from diffusion_lsp.region.languages import grammar
from diffusion_lsp.region.spans import function_of

if TYPE_CHECKING:
    from diffusion_lsp.region.next_edit import LastEdit

AFTER_LINES = 3  # lines after the edit that are candidates
MAX_SIBLINGS = 4
MAX_WINDOW_LINES = 4  # a statement or call longer than this is a candidate by its first line only
# Parameter lists of function definitions across the grammars (Python, JS/TS/Java, Go/C, Rust/Lua,
# Python lambdas, Rust closures).
PARAMETER_TYPES = frozenset(
    {"parameters", "formal_parameters", "parameter_list", "lambda_parameters", "closure_parameters"}
)
# Call nodes, and the field that holds the callee.
CALL_TYPES = {
    "call": "function",  # Python
    "call_expression": "function",  # JS/TS, Go, Rust, C/C++
    "method_invocation": "name",  # Java
    "function_call": "name",  # Lua
}
# Fields through which a callee expression reaches the called name: ``a.f``, ``a::f``, ``f::<T>``.
_CALLEE_NAME_FIELDS = ("attribute", "property", "field", "name", "function", "method")
# Fields that hold the member name of a member access: Python, JS/TS, Go/Rust/C/Java.
_MEMBER_FIELDS = ("attribute", "property", "field")
# Nodes that bind a name to an anonymous function (``const f = () => ...``), and the name's field.
_BINDER_FIELDS = {
    "variable_declarator": "name",
    "assignment": "left",
    "let_declaration": "pattern",
    "assignment_expression": "left",
}

Span = tuple[int, int, str]  # (start, end, reason)


def words(text: str, word_chars: str = "_") -> list[str]:
    """The identifier-like words of ``text`` in order of first appearance (no repeats)."""
    extra = re.escape(word_chars)
    found = re.findall(rf"(?<![\w{extra}])(?:[^\W\d]|[{extra}])[\w{extra}]*", text)
    return list(dict.fromkeys(found))


def renamed_away(edit: LastEdit, word_chars: str = "_") -> list[str]:
    """Words of ``edit.before`` that ``edit.after`` no longer has: the names the edit replaced."""
    after = set(words(edit.after, word_chars))
    return [w for w in words(edit.before, word_chars) if w not in after]


def related_spans(doc: Document, edit: LastEdit) -> list[Span]:
    """Candidate spans for the next edit after ``edit``, every reason, unranked and undeduplicated
    (``next_edit.windows`` ranks them and drops those that overlap the edit)."""
    start, end = _clamp(doc, edit.start), _clamp(doc, edit.end)
    spans: list[Span] = []
    if doc.tree is not None and doc.spec is not None and _nesting(doc.data) <= MAX_QUERY_NESTING:
        node = _node_at(doc, start, end)
        spans += _uses(doc, node, start, end, renamed_away(edit, doc.spec.word_chars))
        spans += _calls(doc, node, start, end)
        spans += _siblings(doc, node, start, end)
    spans += _after(doc, start, end)
    return spans


def overlaps(s: int, e: int, start: int, end: int) -> bool:
    """Whether ``[s, e)`` overlaps the edit ``[start, end)`` (an empty edit: lies strictly inside)."""
    if start == end:
        return s < start < e
    return s < end and start < e


def _clamp(doc: Document, offset: int) -> int:
    return max(0, min(offset, len(doc.text)))


def _span(doc: Document, node: tree_sitter.Node) -> tuple[int, int]:
    return doc.index.str_offset(node.start_byte), doc.index.str_offset(node.end_byte)


def _line_span(doc: Document, line: int) -> tuple[int, int]:
    """A line's text without its indentation, trailing blanks and line break."""
    start = doc.index.line_starts[line]
    text = doc.index.line_text(line)
    stripped = text.strip()
    if not stripped:
        return start, start
    head = start + len(text) - len(text.lstrip())
    return head, head + len(stripped)


def _node_at(doc: Document, start: int, end: int) -> tree_sitter.Node:
    assert doc.tree is not None and doc.spec is not None
    root = doc.tree.root_node
    node = root.named_descendant_for_byte_range(
        doc.index.byte_offset(start), doc.index.byte_offset(end)
    )
    return node if node is not None else root


def _ancestors(node: tree_sitter.Node | None):
    while node is not None:
        yield node
        node = node.parent


def _contains(node: tree_sitter.Node | None, doc: Document, start: int, end: int) -> bool:
    if node is None:
        return False
    s, e = _span(doc, node)
    return s <= start and end <= e


def _statement_of(doc: Document, node: tree_sitter.Node) -> tree_sitter.Node | None:
    """The statement holding ``node``: its ancestor (or itself) whose parent is a block."""
    assert doc.spec is not None
    containers = doc.spec.containers
    for n in _ancestors(node):
        if n.parent is not None and n.parent.type in containers and n.type not in containers:
            return n
    return None


def _parameters_of(function: tree_sitter.Node) -> tree_sitter.Node | None:
    """A function's parameter list: its ``parameters`` field, or inside its declarator (C)."""
    found = function.child_by_field_name("parameters")
    if found is None and function.type == "arrow_function":
        found = function.child_by_field_name("parameter")  # x => ... (one bare parameter)
    declarator = function.child_by_field_name("declarator")
    while found is None and declarator is not None:
        found = declarator.child_by_field_name("parameters")
        declarator = declarator.child_by_field_name("declarator")
    return found


def _function_name(function: tree_sitter.Node) -> tree_sitter.Node | None:
    """The identifier a function is defined (or bound) under, or None (an anonymous one)."""
    name = function.child_by_field_name("name")
    declarator = function.child_by_field_name("declarator")
    while name is None and declarator is not None:  # C/C++: int f(int x) {...}
        if declarator.type.endswith("identifier"):
            name = declarator
        declarator = declarator.child_by_field_name("declarator")
    parent = function.parent
    if name is None and parent is not None and parent.type in _BINDER_FIELDS:
        name = parent.child_by_field_name(_BINDER_FIELDS[parent.type])
    if name is None or not name.type.endswith("identifier"):
        return None
    return name


def _in_parameters(doc: Document, function: tree_sitter.Node, start: int, end: int) -> bool:
    """Whether the edit lies in the function's parameter list (and not in its body)."""
    params = _parameters_of(function)
    if params is None:
        return False
    p_start, p_end = _span(doc, params)
    body = function.child_by_field_name("body")
    if body is not None and end > _span(doc, body)[0]:
        return False
    return p_start <= start and end <= p_end


def _kinds(language: str) -> set[str]:
    lang = grammar(language)
    return {
        lang.node_kind_for_id(i)
        for i in range(lang.node_kind_count)
        if lang.node_kind_is_named(i) and lang.node_kind_is_visible(i)
    }


@functools.cache
def _identifier_query(language: str) -> tree_sitter.Query:
    """Every identifier node of a grammar: its named node types that end in ``identifier``."""
    kinds = sorted(k for k in _kinds(language) if k.endswith("identifier"))
    alternatives = " ".join(f"({kind})" for kind in kinds)
    return tree_sitter.Query(grammar(language), f"[{alternatives}] @id")


@functools.cache
def _call_query(language: str) -> tree_sitter.Query | None:
    """Every call node of a grammar (``CALL_TYPES``), or None where it has none."""
    kinds = sorted(k for k in _kinds(language) if k in CALL_TYPES)
    if not kinds:
        return None
    return tree_sitter.Query(grammar(language), "[" + " ".join(f"({k})" for k in kinds) + "] @call")


def _identifiers(
    doc: Document, node: tree_sitter.Node, names: set[bytes]
) -> list[tree_sitter.Node]:
    """Identifier leaves under ``node`` whose text is one of ``names``, in document order."""
    assert doc.language is not None
    cursor = tree_sitter.QueryCursor(_identifier_query(doc.language))
    found = cursor.captures(node).get("id", [])
    hits = [n for n in found if n.child_count == 0 and n.text in names]
    return sorted(hits, key=lambda n: n.start_byte)


def _statement_window(
    doc: Document, node: tree_sitter.Node, start: int, end: int
) -> tuple[int, int]:
    """The window for an occurrence at ``node``: its statement if that is on one line, else its
    line; narrowed to the node itself where that would overlap the edit."""
    statement = _statement_of(doc, node)
    line = node.start_point[0]
    s, e = _line_span(doc, line)
    if statement is not None and statement.start_point[0] == statement.end_point[0] == line:
        s, e = _span(doc, statement)
    if overlaps(s, e, start, end):
        s, e = _span(doc, node)
    return s, e


def _scope(
    doc: Document, node: tree_sitter.Node, start: int, end: int
) -> tuple[tree_sitter.Node, set[bool]]:
    """Where the uses of a name edited at ``node`` (the edit ``[start, end)``) are, and which
    occurrences count (``_is_member_name`` of each): a renamed member (``a.name``) has member uses
    only, a local plain ones only; a function's own name or a name in a class body (a method, an
    attribute) both. The enclosing function, or the file for an edit at module level or on a
    def's own name."""
    assert doc.tree is not None and doc.spec is not None
    function = function_of(doc.spec, node)
    scope = function if function is not None else doc.tree.root_node
    kinds = {_is_member_name(node)}
    if function is not None and _contains(_function_name(function), doc, start, end):
        scope = doc.tree.root_node  # the def's own name: its uses are anywhere
        kinds = {True, False}
    elif function is None and any("class" in n.type for n in _ancestors(node)):
        kinds = {True, False}
    return scope, kinds


def _occurrences(
    doc: Document, node: tree_sitter.Node, start: int, end: int, names: list[str]
) -> list[tree_sitter.Node]:
    """The identifiers of ``names`` that count as uses in the scope of the edit at ``node``
    (``_scope``), none overlapping the edit, in document order."""
    scope, kinds = _scope(doc, node, start, end)
    return [
        ident
        for ident in _identifiers(doc, scope, {n.encode("utf-8") for n in names})
        if not overlaps(*_span(doc, ident), start, end) and _is_member_name(ident) in kinds
    ]


def _uses(
    doc: Document, node: tree_sitter.Node, start: int, end: int, old_names: list[str]
) -> list[Span]:
    if not old_names:
        return []
    spans: list[Span] = []
    for ident in _occurrences(doc, node, start, end, old_names):
        spans.append((*_statement_window(doc, ident, start, end), "use"))
    return spans


@dataclass(frozen=True)
class Rename:
    """The user renamed ``old`` to ``new`` and ``sites`` (str offsets, document order) still say
    ``old``: the uses the rename leaves behind."""

    old: str
    new: str
    sites: tuple[tuple[int, int], ...]


def rename_of(doc: Document, edits: Sequence[LastEdit]) -> Rename | None:
    """The rename the last of ``edits`` (each widened to whole words) makes, or None.

    A rename replaces exactly one word with one other word, and the new name is new to the scope:
    each of its occurrences there lies in one of ``edits`` that made the same rename (the place
    renamed first, the uses renamed since). A name the scope already had is no rename: changing
    ``return a`` to ``return b`` leaves the other uses of ``a`` alone. None too when no use of
    the old name is left."""
    if not edits or doc.tree is None or doc.spec is None:
        return None
    if _nesting(doc.data) > MAX_QUERY_NESTING:
        return None
    pair = renamed_word(edits[-1], doc.spec.word_chars)
    if pair is None:
        return None
    last = edits[-1]
    start, end = _clamp(doc, last.start), _clamp(doc, last.end)
    node = _node_at(doc, start, end)
    sites = [_span(doc, n) for n in _occurrences(doc, node, start, end, [pair[0]])]
    if not sites:
        return None
    made = [
        (e.start, e.end)
        for e in edits
        if renamed_word(e, doc.spec.word_chars) == pair and doc.text[e.start : e.end] == e.after
    ]
    scope, _ = _scope(doc, node, start, end)
    for ident in _identifiers(doc, scope, {pair[1].encode("utf-8")}):
        s, e = _span(doc, ident)
        if not any(a <= s and e <= b for a, b in made):
            return None
    return Rename(pair[0], pair[1], tuple(sites))


def renamed_word(edit: LastEdit, word_chars: str) -> tuple[str, str] | None:
    """(old, new) when ``edit`` replaces one word with another and changes nothing else."""
    before = set(words(edit.before, word_chars))
    old = renamed_away(edit, word_chars)
    new = [w for w in words(edit.after, word_chars) if w not in before]
    if len(old) != 1 or len(new) != 1:
        return None
    pattern = rf"(?<![\w{re.escape(word_chars)}]){re.escape(old[0])}(?![\w{re.escape(word_chars)}])"
    if re.sub(pattern, new[0], edit.before) != edit.after:
        return None
    return old[0], new[0]


def _is_member_name(node: tree_sitter.Node) -> bool:
    """Whether ``node`` is the name after the dot of a member access (``a.name``)."""
    parent = node.parent
    if parent is None:
        return False
    for field in _MEMBER_FIELDS:
        child = parent.child_by_field_name(field)
        if child is not None and child.start_byte == node.start_byte and child.type == node.type:
            return True
    return False


def _callee_name(callee: tree_sitter.Node | None) -> bytes | None:
    """The called name of a callee expression: ``f``, ``a.f``, ``A::f``, ``f::<T>`` -> ``f``."""
    while callee is not None and not (
        callee.child_count == 0 and callee.type.endswith("identifier")
    ):
        inner = None
        for field in _CALLEE_NAME_FIELDS:
            inner = callee.child_by_field_name(field)
            if inner is not None:
                break
        callee = inner
    return callee.text if callee is not None else None


def _calls(doc: Document, node: tree_sitter.Node, start: int, end: int) -> list[Span]:
    assert doc.tree is not None and doc.spec is not None
    function = function_of(doc.spec, node)
    if function is None or not _in_parameters(doc, function, start, end):
        return []
    name = _function_name(function)
    if name is None or not name.text:
        return []
    query = _call_query(doc.language or doc.spec.name)
    if query is None:
        return []
    spans: list[Span] = []
    for call in tree_sitter.QueryCursor(query).captures(doc.tree.root_node).get("call", []):
        if _callee_name(call.child_by_field_name(CALL_TYPES[call.type])) == name.text:
            spans.append((*_bounded(doc, call), "call"))
    return spans


def _bounded(doc: Document, node: tree_sitter.Node) -> tuple[int, int]:
    """A node's span, or its first line when it runs over ``MAX_WINDOW_LINES`` lines."""
    s, e = _span(doc, node)
    if node.end_point[0] - node.start_point[0] < MAX_WINDOW_LINES:
        return s, e
    return s, _line_span(doc, node.start_point[0])[1]


def _shape(node: tree_sitter.Node) -> tuple:
    """A statement's type and the child types of what it wraps (``y = x + 1`` is an expression
    statement of an assignment of (identifier, =, binary_operator))."""
    inner = node
    while inner.named_child_count == 1 and inner.child_count <= 2:
        inner = inner.named_children[0]  # expression_statement -> assignment; `x;` -> x
    return node.type, inner.type, tuple(c.type for c in inner.children)


def _siblings(doc: Document, node: tree_sitter.Node, start: int, end: int) -> list[Span]:
    assert doc.spec is not None
    statement = _statement_of(doc, node)
    if statement is None or statement.parent is None:
        return []
    shape = _shape(statement)
    found = [
        (abs(other.start_point[0] - statement.start_point[0]), other.start_byte, other)
        for other in statement.parent.named_children
        if other.id != statement.id
        and other.type not in doc.spec.comments
        and _shape(other) == shape
    ]
    found.sort(key=lambda t: (t[0], t[1]))
    return [(*_bounded(doc, other), "sibling") for _, _, other in found[:MAX_SIBLINGS]]


def _after(doc: Document, start: int, end: int) -> list[Span]:
    index = doc.index
    last = index.position(end).line
    if end > start and index.position(end).character == 0:
        last -= 1  # the edit ends with its line break
    spans: list[Span] = []
    for line in range(last + 1, min(last + 1 + AFTER_LINES, index.line_count)):
        s, e = _line_span(doc, line)
        if e > s:
            spans.append((s, e, "after"))
    return spans

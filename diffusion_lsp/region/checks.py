"""The safety checks every edit passes, and the incremental reparse they (and repairs) run on.

``check_edit`` is the gate for every edit the server offers, fix, fill or refine: no new syntax
errors, every definition kept, and (for a fix) only a few lines touched. ``Trial`` reparses a document
with one edit incrementally (``tree.edit``), so a trial costs a fraction of a full parse; ``parse``
reads a large text in chunks so the event loop can take the GIL between them. It imports only
tree_sitter, the grammar registry and the document.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import tree_sitter

from diffusion_lsp.region.document import Document, _end_point, ts_point
from diffusion_lsp.region.languages import new_parser

MAX_FIX_LINES = 3  # a fix touches at most this many lines of the original
CHUNKED_PARSE_BYTES = 32_768  # texts larger than this are parsed through a read callback
PARSE_CHUNK_BYTES = 4_096  # bytes handed to the parser per callback
_DEFINITION_SUFFIXES = ("definition", "declaration", "_item", "_spec", "_signature")
# C0 controls and DEL, less tab, newline and carriage return: never typed in code, but a model that
# has not learned its vocabulary (a random or badly quantised one) can emit them.
_CONTROL = frozenset(chr(c) for c in [*range(0x20), 0x7F]) - {"\t", "\n", "\r"}


@dataclass(frozen=True)
class Edit:
    """Replace ``text[start:end]`` (str offsets of the document it was made on) with ``new_text``."""

    start: int
    end: int
    new_text: str

    def apply(self, text: str) -> str:
        return text[: self.start] + self.new_text + text[self.end :]


@dataclass(frozen=True)
class Score:
    """How broken a tree is: error nodes, then bytes they cover (lower is better)."""

    errors: int
    error_bytes: int

    @property
    def clean(self) -> bool:
        return self.errors == 0


def score(root: tree_sitter.Node) -> Score:
    count = size = 0
    for node in error_nodes(root):
        count += 1
        size += max(node.end_byte - node.start_byte, 1)
    return Score(count, size)


def error_nodes(root: tree_sitter.Node, limit: int | None = None) -> Iterator[tree_sitter.Node]:
    """The outermost ERROR nodes and every MISSING node, in document order."""
    if not root.has_error:
        return
    stack = [root]
    found = 0
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            yield node
            found += 1
            if limit is not None and found >= limit:
                return
        if node.has_error and not node.is_missing:
            stack.extend(reversed(node.children))


def definition_names(root: tree_sitter.Node) -> Counter[str]:
    """Names of the definitions in a tree (functions, classes, methods, types...), with counts."""
    names: Counter[str] = Counter()
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type.endswith(_DEFINITION_SUFFIXES) or node.type in ("assignment",):
            name = node.child_by_field_name("name")
            if name is not None and name.text and node.type != "assignment":
                names[name.text.decode("utf-8", "replace")] += 1
        if node.named_child_count:
            stack.extend(node.named_children)
    return names


def parse(
    parser: tree_sitter.Parser, data: bytes, old: tree_sitter.Tree | None = None
) -> tree_sitter.Tree:
    """``parser.parse``, but a large text is read in chunks through a callback: tree-sitter holds
    the GIL while it parses, and each callback lets a waiting thread (the event loop) take it."""
    if len(data) <= CHUNKED_PARSE_BYTES:
        return parser.parse(data, old) if old is not None else parser.parse(data)

    def read(byte: int, _point: tuple[int, int]) -> bytes:
        return data[byte : byte + PARSE_CHUNK_BYTES]

    if old is not None:
        return parser.parse(read, old, encoding="utf8")
    return parser.parse(read, encoding="utf8")


class Trial:
    """Reparse ``doc`` with one edit, incrementally (the document itself is not changed)."""

    def __init__(self, doc: Document) -> None:
        assert doc.tree is not None and doc.language is not None
        self.doc = doc
        self.parser = new_parser(doc.language)
        self.count = 0

    def tree(self, edit: Edit) -> tree_sitter.Tree:
        self.count += 1
        doc = self.doc
        start_b = doc.index.byte_offset(edit.start)
        end_b = doc.index.byte_offset(edit.end)
        inserted = edit.new_text.encode("utf-8")
        tree = doc.tree.copy()  # type: ignore[union-attr]
        start_point = ts_point(doc.data, start_b)
        tree.edit(
            start_byte=start_b,
            old_end_byte=end_b,
            new_end_byte=start_b + len(inserted),
            start_point=start_point,
            old_end_point=ts_point(doc.data, end_b),
            new_end_point=_end_point(start_point, inserted),
        )
        return parse(self.parser, doc.data[:start_b] + inserted + doc.data[end_b:], tree)


def error_near(root: tree_sitter.Node, doc: Document, edit: Edit) -> bool:
    """An error left on the edit's line or the lines next to it (the repair did not fix this one)."""
    first = doc.index.position(edit.start).line - 1
    last = doc.index.position(edit.end).line + edit.new_text.count("\n") + 1
    for node in error_nodes(root, limit=256):
        if first <= node.start_point[0] <= last or first <= node.end_point[0] <= last:
            return True  # (an error that merely spans these lines, from far away, does not count)
        if node.start_point[0] > last:
            break
    return False


def new_controls(old: str, new: str) -> bool:
    """``new`` holds a control character (not tab or a line break) that ``old`` does not."""
    return bool(_CONTROL.intersection(new) - _CONTROL.intersection(old))


def check_edit(doc: Document, edit: Edit, *, fix: bool = False) -> str:
    """Why ``edit`` on ``doc`` is unsafe to offer, or '' when it is safe.

    Safe means: it adds no control character and no syntax error (a fix must lower the error
    count), it keeps every definition name, and, for a fix, it touches at most ``MAX_FIX_LINES``
    lines.
    """
    if new_controls(doc.text[edit.start : edit.end], edit.new_text):
        return "it contains control characters"
    if fix:
        old = doc.text[edit.start : edit.end]
        touched = max(old.count("\n"), edit.new_text.count("\n")) + 1
        if touched > MAX_FIX_LINES:
            return f"it would change {touched} lines (a fix changes at most {MAX_FIX_LINES})"
    if doc.tree is None or doc.language is None:
        return ""
    tree = Trial(doc).tree(edit)
    before, after = score(doc.tree.root_node), score(tree.root_node)
    if fix and (after.errors >= before.errors or error_near(tree.root_node, doc, edit)):
        return "the code around the error still does not parse"
    if not fix and after.errors > before.errors:
        return "it does not parse"
    if not fix and _new_error_inside(tree.root_node, doc, edit):
        return "it does not parse"
    lost = names_lost(definition_names(doc.tree.root_node), definition_names(tree.root_node))
    if lost:
        return f"it would remove {', '.join(sorted(lost)[:3])}"
    return ""


def names_lost(before: Counter[str], after: Counter[str]) -> list[str]:
    return [name for name, n in before.items() if after[name] < n]


def _new_error_inside(root: tree_sitter.Node, doc: Document, edit: Edit) -> bool:
    """An error node that lies inside the inserted text (where there was none before)."""
    if not edit.new_text:
        return False
    start_b = doc.index.byte_offset(edit.start)
    end_b = start_b + len(edit.new_text.encode("utf-8"))
    old_inside = any(
        doc.index.str_offset(n.start_byte) >= edit.start
        and doc.index.str_offset(n.end_byte) <= edit.end
        for n in error_nodes(doc.tree.root_node, limit=64)  # type: ignore[union-attr]
    )
    if old_inside:
        return False
    return any(start_b <= n.start_byte and n.end_byte <= end_b for n in error_nodes(root, limit=64))

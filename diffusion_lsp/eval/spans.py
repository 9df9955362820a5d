"""Syntax-aware spans of a source file, the holes of training and evaluation.

Spans follow SAFIM (Gong et al. 2024, "Evaluation of LLMs on Syntax-Aware Code Fill-in-the-Middle
Tasks"): expressions, statements and blocks are tree-sitter nodes; line spans (one line's code, or a
few whole lines) mirror what an editor asks for. Pause spans (``pause_spans``) are where a person
writing the code stops and waits for a suggestion: the first body line of a function without a
docstring, the rest of a line after an identifier or an operator, the line after a block header. Offsets are str indices (code points) into the text.
Training (span masking) and evaluation (held-out holes) share them; ``train`` imports them from here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from diffusion_lsp.eval.languages import parser_for

EXPRESSION, STATEMENT, BLOCK, LINE, MULTILINE, PAUSE = range(6)
KIND_NAMES = ("expression", "statement", "block", "single-line", "multi-line", "pause")

_BLOCK_TYPES = {
    "block",
    "statement_block",
    "compound_statement",
    "declaration_list",
    "field_declaration_list",
    "class_body",
    "body",
}
_EXPRESSION_TYPES = {
    "call",
    "attribute",
    "subscript",
    "binary_operator",
    "boolean_operator",
    "comparison_operator",
    "unary_operator",
    "not_operator",
    "conditional_expression",
    "lambda",
    "list",
    "tuple",
    "dictionary",
    "set",
    "list_comprehension",
    "dictionary_comprehension",
    "generator_expression",
    "argument_list",
    "arguments",
    "keyword_argument",
    "string",
    "pair",
    "member_expression",
    "call_expression",
    "binary_expression",
    "index_expression",
    "selector_expression",
    "field_expression",
    "method_invocation",
    "object",
    "array",
    "template_string",
}


@dataclass(frozen=True)
class Span:
    """A hole candidate: ``text[start:end]``, of one of the kinds above."""

    start: int
    end: int
    kind: int


def _kind_of_node(node_type: str) -> int | None:
    if node_type in _BLOCK_TYPES:
        return BLOCK
    if node_type in _EXPRESSION_TYPES or node_type.endswith("_expression"):
        return EXPRESSION
    if node_type.endswith(("_statement", "_declaration", "_definition")) or node_type in (
        "assignment",
        "augmented_assignment",
        "expression_statement",
        "return_statement",
    ):
        return STATEMENT
    return None


def _char_index(text: str) -> list[int] | None:
    """Map from UTF-8 byte offset to str index, or None when the text is ASCII (they are equal)."""
    if text.isascii():
        return None
    index = [0] * (len(text.encode("utf-8")) + 1)
    pos = 0
    for i, ch in enumerate(text):
        n = len(ch.encode("utf-8", "surrogatepass"))
        for b in range(n):
            index[pos + b] = i
        pos += n
    index[pos] = len(text)
    return index


def syntax_spans(
    text: str, language: str, *, max_chars: int = 400, limit: int = 10_000
) -> list[Span]:
    """Expression, statement and block nodes of ``text`` up to ``max_chars`` long (no ERROR nodes)."""
    parser = parser_for(language)
    if parser is None:
        return []
    data = text.encode("utf-8", "surrogatepass")
    tree = parser.parse(data)
    index = _char_index(text)
    spans: list[Span] = []
    stack = [tree.root_node]
    while stack and len(spans) < limit:
        node = stack.pop()
        if node.has_error and node.type == "ERROR":
            continue
        size = node.end_byte - node.start_byte
        if size <= max_chars and node.is_named and not node.has_error:
            kind = _kind_of_node(node.type)
            if kind is not None and size > 0:
                s, e = node.start_byte, node.end_byte
                if index is not None:
                    s, e = index[s], index[e]
                spans.append(Span(s, e, kind))
        if size > 0:
            stack.extend(node.children)
    return spans


def line_spans(text: str, *, max_lines: int = 6, rng: random.Random | None = None) -> list[Span]:
    """One span per non-blank line (its code, without indentation or newline), and a multi-line
    span of 2..``max_lines`` whole lines starting at some of them."""
    rng = rng or random.Random(0)
    spans: list[Span] = []
    starts: list[tuple[int, int]] = []  # (code start, line end) of each non-blank line
    pos = 0
    for line in text.split("\n"):
        code = line.lstrip(" \t")
        stripped = code.rstrip()
        if stripped:
            s = pos + len(line) - len(code)
            starts.append((s, s + len(stripped)))
        pos += len(line) + 1
    for i, (s, e) in enumerate(starts):
        spans.append(Span(s, e, LINE))
        if i + 1 < len(starts) and rng.random() < 0.3:
            j = min(len(starts) - 1, i + rng.randint(1, max_lines - 1))
            spans.append(Span(s, starts[j][1], MULTILINE))
    return spans


_BODY_FIELDS = ("body", "consequence")
_FUNCTION_WORDS = ("function", "method", "lambda")
_OPERATOR_CHARS = set("=+-*/%<>!&|^~,.:([{")
_CUT_KEYWORDS = {"return", "in", "not", "and", "or", "if", "else", "yield", "await", "import", "as"}


def _is_docstring(node: Any) -> bool:
    return (
        node.type == "expression_statement"
        and bool(node.named_children)
        and (node.named_children[0].type == "string")
    )


def _first_statement(header: Any) -> Any | None:
    """The first statement of a block header's body (a node on a later line), or None."""
    for field in _BODY_FIELDS:
        body = header.child_by_field_name(field)
        if body is None:
            continue
        if body.type in _BLOCK_TYPES:
            inner = [c for c in body.named_children if c.type != "comment"]
            body = inner[0] if inner else None
        if body is not None and body.start_point[0] > header.start_point[0]:
            return body
    return None


def _line_from(data: bytes, start: int) -> int:
    """The byte offset where the code of the line holding ``start`` ends (no trailing spaces)."""
    end = data.find(b"\n", start)
    end = len(data) if end < 0 else end
    return start + len(data[start:end].rstrip())


def pause_spans(
    text: str, language: str, *, rng: random.Random | None = None, rest_share: float = 0.3
) -> list[Span]:
    """Where a person pauses for a suggestion, as ``PAUSE`` spans (the hole runs to the line's end):

    * the first body line of a function whose body does not open with a docstring;
    * the first line of any other block header's body (``if``/``for``/``class``/... line, then);
    * the rest of a line from just after an identifier or an operator (the next token's start), for
      a ``rest_share`` of the lines, one cut point each.
    """
    parser = parser_for(language)
    if parser is None:
        return []
    rng = rng or random.Random(0)
    data = text.encode("utf-8", "surrogatepass")
    tree = parser.parse(data)
    index = _char_index(text)
    found: set[tuple[int, int]] = set()
    leaves_by_line: dict[int, list[Any]] = {}
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR":
            continue
        if node.child_count == 0:
            if node.end_byte > node.start_byte and node.type != "comment":
                leaves_by_line.setdefault(node.start_point[0], []).append(node)
            continue
        if node.type in ("string", "template_string"):
            leaves_by_line.setdefault(node.start_point[0], []).append(node)
            continue
        first = _first_statement(node)
        if first is not None and not first.has_error:
            is_function = any(w in node.type for w in _FUNCTION_WORDS)
            if not (is_function and _is_docstring(first)):
                end = _line_from(data, first.start_byte)
                if end > first.start_byte:
                    found.add((first.start_byte, end))
        stack.extend(node.children)
    for leaves in leaves_by_line.values():
        if rng.random() >= rest_share:
            continue
        leaves.sort(key=lambda n: n.start_byte)
        cuts = [
            nxt.start_byte
            for leaf, nxt in zip(leaves, leaves[1:])
            if (
                leaf.type == "identifier"
                or leaf.type in _CUT_KEYWORDS
                or set(leaf.type) <= _OPERATOR_CHARS
            )
            # the rest must hold code to write, not only closing punctuation
            and any(
                ch.isalnum()
                for ch in data[nxt.start_byte : _line_from(data, nxt.start_byte)].decode(
                    "utf-8", "replace"
                )
            )
        ]
        if cuts:
            start = rng.choice(cuts)
            end = _line_from(data, start)
            if end > start:
                found.add((start, end))
    spans = []
    for s, e in sorted(found):
        if index is not None:
            s, e = index[s], index[e]
        spans.append(Span(s, e, PAUSE))
    return spans


def all_spans(text: str, language: str, rng: random.Random | None = None) -> list[Span]:
    """Syntax spans, line spans and pause spans together."""
    return (
        syntax_spans(text, language)
        + line_spans(text, rng=rng)
        + pause_spans(text, language, rng=rng)
    )

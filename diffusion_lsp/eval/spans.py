"""Syntax-aware spans of a source file, the holes of training and evaluation.

Spans follow SAFIM (Gong et al. 2024, "Evaluation of LLMs on Syntax-Aware Code Fill-in-the-Middle
Tasks"): expressions, statements and blocks are tree-sitter nodes; line spans (one line's code, or a
few whole lines) mirror what an editor asks for. Offsets are str indices (code points) into the text.
Training (span masking) and evaluation (held-out holes) share them; ``train`` imports them from here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from diffusion_lsp.eval.languages import parser_for

EXPRESSION, STATEMENT, BLOCK, LINE, MULTILINE = range(5)
KIND_NAMES = ("expression", "statement", "block", "single-line", "multi-line")

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


def all_spans(text: str, language: str, rng: random.Random | None = None) -> list[Span]:
    """Syntax spans and line spans together."""
    return syntax_spans(text, language) + line_spans(text, rng=rng)

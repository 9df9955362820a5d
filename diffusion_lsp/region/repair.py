"""Syntax repairs that are minimal by construction (the checks every edit passes: ``checks``).

A FIX never rewrites a region. It looks for the smallest change that makes the code parse:

1. the token tree-sitter reports MISSING (``MISSING ":"``), inserted where it is missing;
2. one token inserted (a closer or separator the grammar uses) or one token deleted at the places an
   error points to: each error node's start, the end of its line and of the line before it, and the
   token boundaries on its first line;
3. (done by the caller, with the model) text inserted where an error's line ends
   (``error_insertions``), and only then a few tokens each side of the error rewritten, the rest of
   the document clamped (``error_windows``).

Each trial reparses incrementally (``checks.Trial``), so a trial costs a fraction of a full parse.
The search is bounded in trials and time. It imports only tree_sitter and the region modules.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import tree_sitter

from diffusion_lsp.region.checks import (
    Edit,
    Trial,
    definition_names,
    error_near,
    names_lost,
    score,
)
from diffusion_lsp.region.document import Document

MAX_TRIALS = 400  # reparses one repair search may make
TIME_BUDGET_S = 1.5  # and the time it may take (it runs off the event loop)
MAX_ERROR_SITES = 24  # error nodes whose neighbourhood is searched
WINDOW_TOKENS = 3  # tokens each side of an error the model may rewrite

# Tokens worth inserting where an error points, per language (closers and separators).
_INSERTIONS: dict[str, tuple[str, ...]] = {
    "python": (":", ")", "]", "}", ",", "(", '"'),
    "lua": (")", "]", "}", "end", ",", "then", "do", "("),
}
# Tokens that end a line when they are missing (a block header's colon): tried at line ends only.
_LINE_END_ONLY: dict[str, tuple[str, ...]] = {"python": (":",), "lua": ("then", "do")}
# Tokens a repair may delete when the parser could not fit them: extra closers and separators.
_STRAY = frozenset({")", "]", "}", ",", ";"})
# Tokens that only follow an operand (an identifier, a literal, a closed bracket).
_AFTER_OPERAND = frozenset({",", ";", ")", "]", "}", ":"})
_OPERATOR_CHARS = frozenset("+-*/%=<>&|^!~,.([{:?@")
_OPENER = {")": "(", "]": "[", "}": "{"}
_C_LIKE = (";", ")", "}", "]", ",", "(", "{", ":")
_TOKEN = re.compile(r"\w+|[^\w\s]+")


def token_repair(doc: Document, lo: int = 0, hi: int | None = None) -> Edit | None:
    """The smallest one-token edit that makes ``doc`` parse better, near errors in ``[lo, hi]``
    (str offsets); None when no such edit is found within the budget.

    A candidate must lower the error score and leave no error inside the lines it touched; among
    those, a clean parse wins, then the lower score, then the smaller edit, then the earlier place.
    """
    if doc.tree is None or doc.language is None or not doc.tree.root_node.has_error:
        return None
    hi = len(doc.text) if hi is None else hi
    trial = Trial(doc)
    before = score(doc.tree.root_node)
    names = definition_names(doc.tree.root_node)
    deadline = time.perf_counter() + TIME_BUDGET_S
    best: tuple[tuple, Edit] | None = None
    for rank, edit in enumerate(_candidates(doc, lo, hi)):
        if trial.count >= MAX_TRIALS or time.perf_counter() > deadline:
            break
        tree = trial.tree(edit)
        after = score(tree.root_node)
        if (after.errors, after.error_bytes) >= (before.errors, before.error_bytes):
            continue
        if error_near(tree.root_node, doc, edit) or names_lost(
            names, definition_names(tree.root_node)
        ):
            continue
        # A token typed right after code ("name)") beats one on a line of its own.
        loose = edit.start > 0 and edit.start == edit.end and doc.text[edit.start - 1].isspace()
        key = (not after.clean, after.errors, after.error_bytes, _size(edit), loose, rank)
        if best is None or key < best[0]:
            best = (key, edit)
            if after.clean and _size(edit) == 1 and not loose:
                break  # nothing can beat a one-character edit after code that makes it parse
    return best[1] if best is not None else None


def _size(edit: Edit) -> int:
    return max(edit.end - edit.start, len(edit.new_text))


def _candidates(doc: Document, lo: int, hi: int) -> Iterator[Edit]:
    """One-token edits worth trying, most likely first; each yielded once."""
    assert doc.tree is not None
    seen: set[Edit] = set()
    text, index = doc.text, doc.index
    tokens = _INSERTIONS.get(doc.language or "", _C_LIKE)
    line_end_only = _LINE_END_ONLY.get(doc.language or "", ())

    def once(edit: Edit) -> Iterator[Edit]:
        if edit not in seen and 0 <= edit.start <= edit.end <= len(text):
            seen.add(edit)
            yield edit

    errors = [
        n
        for n in _all_errors(doc.tree.root_node)
        if index.str_offset(n.start_byte) <= hi and index.str_offset(n.end_byte) >= lo
    ][:MAX_ERROR_SITES]
    # 1. What tree-sitter says is missing.
    for node in errors:
        if node.is_missing and not node.is_named and node.type:
            at = index.str_offset(node.start_byte)
            yield from once(Edit(at, at, node.type))
    # 2. A stray closer or separator the parser could not fit (a leaf that is a direct child of an
    #    ERROR node, or an ERROR node of its own): deleted. Nothing else is ever deleted.
    for node in errors:
        for leaf in [node] if node.child_count == 0 else node.children:
            if leaf.child_count == 0 and (leaf.text or b"").decode("utf-8", "replace") in _STRAY:
                a, b = index.str_offset(leaf.start_byte), index.str_offset(leaf.end_byte)
                yield from once(Edit(a, b, ""))
    # 3. One token inserted where each error points.
    # Small error nodes say where the problem is; one that spans the rest of the file says little.
    for node in sorted(errors, key=lambda n: (n.end_byte - n.start_byte, n.start_byte)):
        ends, inner = _anchors(doc, node)
        for at in ends + inner:
            for token in tokens:
                if token in _AFTER_OPERAND:  # "a ,b" is typed "a, b": attach it to the left
                    at = len(text[:at].rstrip(" \t"))
                if (at in ends or token not in line_end_only) and _plausible(text, at, token):
                    yield from once(Edit(at, at, _spaced(text, at, token)))


def _all_errors(root: tree_sitter.Node) -> list[tree_sitter.Node]:
    """Every ERROR and MISSING node, nested ones included (bounded), in document order."""
    out: list[tree_sitter.Node] = []
    stack = [root]
    while stack and len(out) < 4 * MAX_ERROR_SITES:
        node = stack.pop()
        if node.is_error or node.is_missing:
            out.append(node)
        if node.has_error and not node.is_missing:
            stack.extend(reversed(node.children))
    return out


def _anchors(doc: Document, node: tree_sitter.Node) -> tuple[list[int], list[int]]:
    """Insertion points an error suggests: (line ends: the end of the code on the line before the
    error and on its first line; inner points: its start, the token ends on its first line, its end).
    """
    index = doc.index
    start = index.str_offset(node.start_byte)
    line = index.position(start).line
    ends = [_code_end(doc, row) for row in (line - 1, line) if row >= 0]
    inner = [start]
    for leaf in _leaves(node, limit=8):
        end = index.str_offset(leaf.end_byte)
        if index.position(end).line == line:
            inner.append(end)
    inner.append(index.str_offset(node.end_byte))
    seen: set[int] = set()
    ends = [a for a in ends if not (a in seen or seen.add(a))]
    return ends, [a for a in inner if not (a in seen or seen.add(a))]


def _code_end(doc: Document, row: int) -> int:
    """str offset just after the last code character of line ``row`` (before a trailing comment)."""
    index = doc.index
    row = min(row, index.line_count - 1)
    start = index.line_starts[row]
    end = index.line_starts[row + 1] if row + 1 < index.line_count else len(doc.text)
    line = doc.text[start:end].rstrip("\r\n")
    end = start + len(line.rstrip())
    if doc.tree is not None and end > start:
        leaf = doc.tree.root_node.descendant_for_byte_range(
            index.byte_offset(end - 1), index.byte_offset(end)
        )
        if leaf is not None and doc.spec is not None and leaf.type in doc.spec.comments:
            before = index.str_offset(leaf.start_byte)
            if before > start:
                end = start + len(doc.text[start:before].rstrip())
    return end


def _leaves(node: tree_sitter.Node, limit: int) -> list[tree_sitter.Node]:
    out: list[tree_sitter.Node] = []
    stack = [node]
    while stack and len(out) < limit:
        current = stack.pop()
        if current.child_count == 0:
            if current.end_byte > current.start_byte:
                out.append(current)
        else:
            stack.extend(reversed(current.children))
    return out


def _plausible(text: str, at: int, token: str) -> bool:
    """Whether a person could have left ``token`` out at ``at``: nobody closes a bracket or ends a
    statement right after an operator or a comma (``x +)``), the model's job is to fill those."""
    if token not in _AFTER_OPERAND:
        return True
    before = text[:at].rstrip()
    if not before:
        return False
    prev = before[-1]
    return prev not in _OPERATOR_CHARS or _OPENER.get(token) == prev


def _spaced(text: str, at: int, token: str) -> str:
    """``token`` as it would be typed at ``at``: words get a space from what they touch."""
    if not token[0].isalpha():
        return token
    before = " " if at > 0 and not text[at - 1].isspace() else ""
    after = " " if at < len(text) and not text[at].isspace() else ""
    return before + token + after


def error_windows(doc: Document, lo: int = 0, hi: int | None = None) -> list[tuple[int, int]]:
    """Small windows (str offsets) the model may rewrite to fix the errors in ``[lo, hi]``:
    ``WINDOW_TOKENS`` tokens each side of where an error starts and of where its first line ends
    (an unfinished expression is broken at its end); first errors first, at most four."""
    if doc.tree is None or not doc.tree.root_node.has_error:
        return []
    hi = len(doc.text) if hi is None else hi
    index = doc.index
    out: list[tuple[int, int]] = []
    for node in _all_errors(doc.tree.root_node)[:MAX_ERROR_SITES]:
        start = index.str_offset(node.start_byte)
        if not lo <= start <= hi:
            continue
        line = index.position(start).line
        line_start, line_end = index.line_starts[line], _code_end(doc, line)
        end = min(max(index.str_offset(node.end_byte), start), line_end)
        for at in (start, end):
            before = _tokens(doc, line_start, at)[-WINDOW_TOKENS:]
            after = _tokens(doc, at, line_end)[:WINDOW_TOKENS]
            window = (before[0][0] if before else at, after[-1][1] if after else at)
            if window not in out and window[0] < window[1]:
                out.append(window)
    return out[:4]


def error_insertions(doc: Document, lo: int = 0, hi: int | None = None) -> list[int]:
    """Points (str offsets) where text could be missing at the errors in ``[lo, hi]``: where the
    code ends on the line before an error and on its first line, and where the error ends there.
    An insertion there keeps every token the user wrote, so the model is offered these before any
    window."""
    if doc.tree is None or not doc.tree.root_node.has_error:
        return []
    hi = len(doc.text) if hi is None else hi
    index = doc.index
    out: list[int] = []
    for node in _all_errors(doc.tree.root_node)[:MAX_ERROR_SITES]:
        start = index.str_offset(node.start_byte)
        if not lo <= start <= hi:
            continue
        line = index.position(start).line
        line_end = _code_end(doc, line)
        error_end = min(max(index.str_offset(node.end_byte), start), line_end)
        before = _code_end(doc, line - 1) if line > 0 else None
        for at in (before, line_end, error_end):
            if at is not None and at not in out:
                out.append(at)
    return out[:4]


def padded(text: str, at: int, inserted: str) -> str:
    """``inserted`` with a space where it would otherwise glue onto a word at ``at`` (inserting
    ``x`` after ``return`` must not make ``returnx``)."""
    if not inserted:
        return inserted
    if (
        at > 0
        and (text[at - 1].isalnum() or text[at - 1] == "_")
        and (inserted[0].isalnum() or inserted[0] == "_")
    ):
        inserted = " " + inserted
    if (
        at < len(text)
        and (text[at].isalnum() or text[at] == "_")
        and (inserted[-1].isalnum() or inserted[-1] == "_")
    ):
        inserted = inserted + " "
    return inserted


def _tokens(doc: Document, a: int, b: int) -> list[tuple[int, int]]:
    """(start, end) str offsets of the tokens (words, runs of punctuation) within ``[a, b)``."""
    return [(a + m.start(), a + m.end()) for m in _TOKEN.finditer(doc.text[a:b])]

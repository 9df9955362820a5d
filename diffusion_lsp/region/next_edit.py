"""Next edit: from the user's last edits to the edit that follows from them, with no LSP in sight.

``windows`` picks candidate windows near the last edit and related to it (tree-sitter); ``suggest``
scores them in one batch (``Engine.score``), rewrites the best one with the edit history in the
model's context, and passes the result through the same gate as Fix and Refine. Both the server
(``lsp/features/next_edit.py``) and ``diffusion-lsp eval next-edit`` run ``suggest``; it blocks, so
callers run it on the worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LastEdit:
    """One closed edit group of a document: ``before`` was replaced by ``after`` at str offset
    ``start`` of the text as it is now (``after`` spans ``[start, start + len(after))`` there)."""

    start: int
    before: str
    after: str

    @property
    def end(self) -> int:
        return self.start + len(self.after)


@dataclass(frozen=True)
class Window:
    """A span of the current text (str offsets) that may need the next edit, and why it was
    picked: ``"use"`` (another use of an identifier the edit renamed or introduced), ``"call"`` (a
    call of a function whose parameters changed), ``"sibling"`` (a statement of the same shape as the
    edited one) or ``"after"`` (the lines just after the edit)."""

    start: int
    end: int
    reason: str


@dataclass(frozen=True)
class Options:
    """What ``suggest`` may do (the server's ``nextEdit.*`` settings)."""

    threshold: float = 0.5  # a window's score must reach this for any edit to be shown
    max_windows: int = 16
    stride: int = 4
    max_tokens: int = 32  # tokens the rewrite of one window may take
    context_tokens: int = 1024


@dataclass(frozen=True)
class Suggestion:
    """The next edit: replace ``text[start:end]`` (str offsets of the text it was computed on) with
    ``new_text``; ``window`` is where it was found and ``score`` how strongly the model asked."""

    start: int
    end: int
    new_text: str
    window: Window
    score: float

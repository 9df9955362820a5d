"""The region types every intent returns: ``Intent``, ``LengthHint`` and ``Region``.

A region is a span of one document snapshot; it carries its own validator, which is bound to that
snapshot, so it stays correct after the document changes.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from diffusion_lsp.textops import Range

# Rough width of a line of code, used to turn a line budget into a character budget.
CHARS_PER_LINE = 100


class Intent(str, enum.Enum):
    """What the user asked for; it decides how the region is chosen."""

    INLINE = "inline"  # complete at the cursor
    HOLE = "hole"  # fill a placeholder (`pass`, `todo!()`, an empty body, ...)
    FIX = "fix"  # rewrite the statement around a syntax error
    REFINE = "refine"  # rewrite a selection


@dataclass(frozen=True)
class LengthHint:
    """Plausible size of the text that fills a region."""

    min_chars: int  # in characters (code points)
    max_chars: int
    max_lines: int  # cap on lines of the filled text (1 = single line)


def _accept_all(candidate: str) -> bool:
    return True


@dataclass(frozen=True)
class Region:
    """A span of a document to mask, with what the model needs to know about it.

    ``start_byte``/``end_byte`` are UTF-8 offsets (tree-sitter's units), ``range`` the same span as
    0-based LSP positions (UTF-16). ``text`` is the original text of the span ('' for a pure
    insertion). A Region built by hand without a validator accepts every candidate.
    """

    intent: Intent
    start_byte: int
    end_byte: int
    range: Range
    text: str
    node_type: str
    length_hint: LengthHint
    group: str | None = None
    validator: Callable[[str], bool] = field(default=_accept_all, compare=False, repr=False)

    def validate(self, candidate: str) -> bool:
        """True if ``candidate``, put in place of the span, parses without new errors."""
        return self.validator(candidate)


def hint_for_lines(max_lines: int, min_chars: int = 1) -> LengthHint:
    """A hint for text of at most ``max_lines`` lines of ordinary width."""
    max_lines = max(1, max_lines)
    return LengthHint(
        min_chars=min_chars, max_chars=max_lines * CHARS_PER_LINE, max_lines=max_lines
    )


def hint_like(original: str, slack_lines: int = 2, cap_lines: int = 60) -> LengthHint:
    """A hint for a rewrite of ``original``: about its size, with room to grow by a few lines."""
    lines = original.count("\n") + 1
    size = len(original)
    max_lines = min(max(lines + slack_lines, 1), max(cap_lines, lines))
    return LengthHint(
        min_chars=max(1, size // 2),
        max_chars=max(2 * size, size + CHARS_PER_LINE),
        max_lines=max_lines,
    )

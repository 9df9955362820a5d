"""Context windows: the prefix and suffix a model sees, cut to a token budget at line boundaries.

The lines nearest the hole matter most, so the window grows outward from the hole one line at a time,
on both sides, until the budget is spent. The partial lines that touch the hole are always kept whole:
the window never cuts inside the hole's own line, unless that line alone is far over the budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from diffusion_lsp.textops import split_lines

# Counts tokens of each string in a batch (a tokenizer's batch encode, or an estimate).
CountTokens = Callable[[Sequence[str]], Sequence[int]]

LINE_CHARS_PER_TOKEN = 4  # code averages 3 to 4 characters per token
PREFIX_SHARE = (
    0.75  # of the budget offered to the prefix first; what one side leaves, the other takes
)


def _lines_outward(text: str, from_end: bool) -> list[str]:
    """Lines with their breaks, ordered nearest-to-the-hole first."""
    lines = split_lines(text)  # LSP line breaks only, so a cut is always at a real line end
    return lines[::-1] if from_end else lines


def window(prefix: str, suffix: str, count_tokens: CountTokens, budget: int) -> tuple[str, str]:
    """Return ``(prefix, suffix)`` cut to at most ``budget`` tokens together, nearest lines first.

    The prefix's last line (up to the hole) and the suffix's first line (from the hole) are always
    kept, even if they alone exceed the budget, but never more than ``LINE_CHARS_PER_TOKEN`` times
    the budget in characters each (a longer line is cut, keeping the part nearest the hole).
    """
    # A token is at least one character, so lines beyond `budget` characters from the hole in
    # character terms can still fit; bound the work by counting at most this many characters.
    char_cap = max(budget, 1) * 16
    pre_lines = _take_chars(_lines_outward(prefix, from_end=True), char_cap)
    suf_lines = _take_chars(_lines_outward(suffix, from_end=False), char_cap)
    # The hole's own line is kept whole, unless it alone is longer than the budget could hold (a
    # minified or data line of 100 KB): then only the part nearest the hole is kept.
    line_cap = max(budget, 1) * LINE_CHARS_PER_TOKEN
    if pre_lines and len(pre_lines[0]) > line_cap:
        pre_lines[0] = pre_lines[0][-line_cap:]
    if suf_lines and len(suf_lines[0]) > line_cap:
        suf_lines[0] = suf_lines[0][:line_cap]
    pre = _Counts(pre_lines, count_tokens, budget)
    suf = _Counts(suf_lines, count_tokens, budget)

    kept_pre, kept_suf = min(1, len(pre.lines)), min(1, len(suf.lines))
    used = (pre.get(0) or 0) + (suf.get(0) or 0)

    def grow(kept: int, counts: _Counts, limit: int) -> int:
        nonlocal used
        while (n := counts.get(kept)) is not None and used + n <= limit:
            used += n
            kept += 1
        return kept

    kept_pre = grow(kept_pre, pre, max(int(budget * PREFIX_SHARE), used))
    kept_suf = grow(kept_suf, suf, budget)
    kept_pre = grow(kept_pre, pre, budget)  # the prefix takes what the suffix left

    return "".join(reversed(pre.lines[:kept_pre])), "".join(suf.lines[:kept_suf])


class _Counts:
    """Token counts of ``lines`` (nearest the hole first), counted a batch at a time as the window
    grows: the first batch about ``budget`` * 4 characters (code averages 3 to 4 per token), each
    next one twice the last, so a window that fills early never counts the rest of a long file.
    One batched call counts each line alone, so the counts do not depend on the batches."""

    def __init__(self, lines: list[str], count_tokens: CountTokens, budget: int) -> None:
        self.lines = lines
        self.count_tokens = count_tokens
        self.chars = max(budget, 1) * 4
        self.counts: list[int] = []

    def get(self, i: int) -> int | None:
        """Line ``i``'s token count, or None past the last line."""
        while i >= len(self.counts) and len(self.counts) < len(self.lines):
            first = end = len(self.counts)
            chars = 0
            while end < len(self.lines) and (end == first or chars < self.chars):
                chars += len(self.lines[end])
                end += 1
            self.counts += self.count_tokens(self.lines[first:end])
            self.chars *= 2
        return self.counts[i] if i < len(self.counts) else None


def _take_chars(lines: list[str], cap: int) -> list[str]:
    total = 0
    for i, line in enumerate(lines):
        total += len(line)
        if total > cap and i > 0:
            return lines[:i]
    return lines

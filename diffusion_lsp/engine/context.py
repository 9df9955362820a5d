"""Context windows: the prefix and suffix a model sees, cut to a token budget at line boundaries.

The lines nearest the hole matter most, so the window grows outward from the hole one line at a time,
on both sides, until the budget is spent. The partial lines that touch the hole are always kept whole:
the window never cuts inside the hole's own line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from diffusion_lsp.textops import split_lines

# Counts tokens of each string in a batch (a tokenizer's batch encode, or an estimate).
CountTokens = Callable[[Sequence[str]], Sequence[int]]

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
    kept, even if they alone exceed the budget.
    """
    pre = _lines_outward(prefix, from_end=True)
    suf = _lines_outward(suffix, from_end=False)
    # A token is at least one character, so lines beyond `budget` characters from the hole in
    # character terms can still fit; bound the work by counting at most this many characters.
    char_cap = max(budget, 1) * 16
    pre = _take_chars(pre, char_cap)
    suf = _take_chars(suf, char_cap)
    counts = list(count_tokens(pre + suf)) if pre or suf else []
    pre_counts, suf_counts = counts[: len(pre)], counts[len(pre) :]

    kept_pre = 1 if pre else 0
    kept_suf = 1 if suf else 0
    used = sum(pre_counts[:kept_pre]) + sum(suf_counts[:kept_suf])

    def grow(kept: int, counts_: list[int], limit: int) -> int:
        nonlocal used
        while kept < len(counts_) and used + counts_[kept] <= limit:
            used += counts_[kept]
            kept += 1
        return kept

    kept_pre = grow(kept_pre, pre_counts, max(int(budget * PREFIX_SHARE), used))
    kept_suf = grow(kept_suf, suf_counts, budget)
    kept_pre = grow(kept_pre, pre_counts, budget)  # the prefix takes what the suffix left

    return "".join(reversed(pre[:kept_pre])), "".join(suf[:kept_suf])


def _take_chars(lines: list[str], cap: int) -> list[str]:
    total = 0
    for i, line in enumerate(lines):
        total += len(line)
        if total > cap and i > 0:
            return lines[:i]
    return lines

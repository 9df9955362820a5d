"""What the model reads and writes: the context window, token ids, canvases, decoded holes.

The context window is cut at line boundaries to a token budget. The lines nearest the hole matter
most, so the window grows outward from the hole one line at a time, on both sides, until the budget is
spent. The partial lines that touch the hole are always kept whole: the window never cuts inside the
hole's own line, unless that line alone is far over the budget.

A canvas row is ``lead + prefix + hole + suffix + tail`` (``lead``/``tail`` are the tokenizer's own
wrapper tokens, such as ``[CLS]``/``[SEP]``); rows of different lengths are right-padded with the
model's pad id and an attention mask, so every real token keeps its position.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from diffusion_lsp.engine.candidates import cut_single_line
from diffusion_lsp.textops import split_lines

if TYPE_CHECKING:
    import torch


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
    pre_lines = _near_lines(prefix, char_cap, from_end=True)
    suf_lines = _near_lines(suffix, char_cap, from_end=False)
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


def _near_lines(text: str, cap: int, from_end: bool) -> list[str]:
    """The lines nearest the hole, outward, while they hold at most ``cap`` characters (the nearest
    always, cut to its ``cap + 1`` characters nearest the hole): ``_take_chars(_lines_outward(text,
    from_end), cap)``, splitting only the ``cap + 1`` characters nearest the hole instead of the
    whole file (a 1 MB file's lines took 40 ms). The line cut at the slice's far end is partial:
    dropped, unless it is the nearest line."""
    near = text[-(cap + 1) :] if from_end else text[: cap + 1]
    lines = _lines_outward(near, from_end)
    if len(text) > len(near) and len(lines) > 1:
        lines.pop()
    return _take_chars(lines, cap)


def _take_chars(lines: list[str], cap: int) -> list[str]:
    total = 0
    for i, line in enumerate(lines):
        total += len(line)
        if total > cap and i > 0:
            return lines[:i]
    return lines


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` without special tokens."""
    if not text:
        return []
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def count_tokens(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """Token counts of a batch of texts (one tokenizer call; a fast tokenizer's Rust backend
    directly, without offsets: half the time of the Python wrapper, for the same ids)."""
    if not texts:
        return []
    backend = getattr(tokenizer, "backend_tokenizer", None)
    fast = getattr(backend, "encode_batch_fast", None)
    if fast is not None:
        return [len(e.ids) for e in fast(list(texts), add_special_tokens=False)]
    return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]


def windowed_context(
    tokenizer: Any, prefix: str, suffix: str, budget: int
) -> tuple[list[int], list[int]]:
    """Prefix and suffix ids, cut to ``budget`` tokens at line boundaries, nearest lines kept."""
    prefix, suffix = window(prefix, suffix, lambda ts: count_tokens(tokenizer, ts), budget)
    return encode(tokenizer, prefix), encode(tokenizer, suffix)


@dataclass
class Canvas:
    """A batch of rows ready for the denoiser."""

    tokens: torch.Tensor  # [B, L] long
    attention: torch.Tensor  # [B, L] bool, False on padding
    free: torch.Tensor  # [B, L] bool, positions the sampler may write
    spans: list[tuple[int, int]]  # per row: [start, end) of the hole (or span) in the row


def build_canvas(
    rows: Sequence[tuple[Sequence[int], Sequence[int], Sequence[int]]],
    free_in_span: Sequence[Sequence[bool]],
    pad_id: int,
    device: Any,
) -> Canvas:
    """Rows given as (before, span, after) ids; ``free_in_span[r][i]`` marks span token i writable."""
    import torch

    width = max(len(a) + len(s) + len(z) for a, s, z in rows)
    tokens = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.bool)
    free = torch.zeros((len(rows), width), dtype=torch.bool)
    spans = []
    for r, (before, span, after) in enumerate(rows):
        ids = [*before, *span, *after]
        tokens[r, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention[r, : len(ids)] = True
        start, end = len(before), len(before) + len(span)
        free[r, start:end] = torch.tensor(list(free_in_span[r]), dtype=torch.bool)
        spans.append((start, end))
    return Canvas(tokens.to(device), attention.to(device), free.to(device), spans)


def decode(tokenizer: Any, ids: Sequence[int]) -> str:
    return tokenizer.decode(
        list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False
    )


def token_pieces(tokenizer: Any, ids: Sequence[int]) -> list[str]:
    """The text each token adds to the decoded string (robust to multi-token characters)."""
    pieces, previous = [], ""
    for i in range(len(ids)):
        text = decode(tokenizer, ids[: i + 1])
        pieces.append(text[len(previous) :] if text.startswith(previous) else text)
        previous = text
    return pieces


def decode_hole(
    tokenizer: Any, ids: Sequence[int], confidence: Sequence[float], single_line: bool
) -> tuple[str, list[float]]:
    """Text of a filled hole (already trimmed of filler) and its per-token confidence."""
    text = decode(tokenizer, ids)
    if single_line and "\n" in text:
        return cut_single_line(text, confidence, token_pieces(tokenizer, ids))
    return text, list(confidence)


def heal(prefix: str) -> tuple[str, bool]:
    """Move a prefix's trailing space into the hole when it follows code (``x = |``).

    BPE tokenizers glue a space to the word after it (`` foo``), so a prefix cut after the space ends
    in a lone-space token that the model rarely saw before a word. Without that space the model writes
    `` foo`` itself, and ``unheal`` drops the one leading space from the filled text again.
    """
    if len(prefix) >= 2 and prefix[-1] == " " and not prefix[-2].isspace():
        return prefix[:-1], True
    return prefix, False


def unheal(text: str, healed: bool) -> str:
    """The filled text to insert after the user's own space (see ``heal``)."""
    return text[1:] if healed and text.startswith(" ") else text

"""Tokenization glue: windowed context, canvases of candidate rows, and decoding filled holes.

A canvas row is ``lead + prefix + hole + suffix + tail`` (``lead``/``tail`` are the tokenizer's own
wrapper tokens, such as ``[CLS]``/``[SEP]``); rows of different lengths are right-padded with the
model's pad id and an attention mask, so every real token keeps its position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from diffusion_lsp.engine.candidates import cut_single_line
from diffusion_lsp.engine.window import window

if TYPE_CHECKING:
    import torch


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` without special tokens."""
    if not text:
        return []
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def count_tokens(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """Token counts of a batch of texts (one tokenizer call)."""
    if not texts:
        return []
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

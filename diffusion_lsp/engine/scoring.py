"""What both families' ``score`` share: a token's disagreement read from logits, window scores, and
each token's str offsets in the window it was encoded from."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from diffusion_lsp.engine.api import TokenScore, WindowScore
from diffusion_lsp.engine.tokens import decode
from diffusion_lsp.textops import common_prefix

if TYPE_CHECKING:
    import torch


def disagreements(
    logits: torch.Tensor, current: Sequence[int], banned: Collection[int]
) -> tuple[list[float], list[int], list[float]]:
    """logits [N, V] at N existing tokens ``current``: each token's ``p(top) - p(token)`` (0 when
    it is the top), the top id and ``log p(token)``, ``banned`` ids never the top (they get no
    probability)."""
    import torch

    logits = logits.float().clone()  # [N, V]
    vocab = logits.shape[1]
    ban = torch.tensor(sorted(b for b in banned if 0 <= b < vocab), dtype=torch.long)
    logits[:, ban.to(logits.device)] = float("-inf")
    logprobs = logits.log_softmax(-1)  # [N, V]
    probs = logprobs.exp()
    ids = torch.tensor(list(current), dtype=torch.long, device=logits.device)  # [N]
    inside = ids < vocab
    p_current = probs.gather(1, ids.clamp(max=vocab - 1)[:, None]).squeeze(1)  # [N]
    p_current = torch.where(inside, p_current, torch.zeros_like(p_current))
    p_top, top = probs.max(-1)  # [N]
    gap = torch.where(top == ids, torch.zeros_like(p_top), p_top - p_current).clamp(0, 1)
    lp = logprobs.gather(1, ids.clamp(max=vocab - 1)[:, None]).squeeze(1)  # [N]
    lp = torch.where(inside, lp, torch.full_like(lp, float("-inf"))).clamp(min=-1e4)
    return gap.tolist(), top.tolist(), lp.tolist()


def window_score(
    tokenizer: Any,
    spans: Sequence[tuple[int, int]],
    gaps: Sequence[float],
    tops: Sequence[int],
    logprobs: Sequence[float],
) -> WindowScore:
    """A window's ``WindowScore``: its tokens (offsets, disagreement, the top token's text, log
    probability), the largest disagreement its score."""
    tokens = tuple(
        TokenScore(s, e, g, decode(tokenizer, [t]), lp)
        for (s, e), g, t, lp in zip(spans, gaps, tops, logprobs)
    )
    return WindowScore(max((t.disagreement for t in tokens), default=0.0), tokens)


def token_spans(
    tokenizer: Any, ids: Sequence[int], text: str, offset: int
) -> list[tuple[int, int]]:
    """Each token's str offsets ``[start, end)`` into the text ``text`` was cut from (at
    ``offset``), by decoding cumulatively: token i ends where the first i + 1 tokens' text ends. A
    token that ends inside a multi-byte character (its decoding ends in U+FFFD) gets that whole
    character, and so does the token that completes it, so ``text[start:end]`` always holds it."""
    spans, done = [], 0  # done: chars of ``text`` the tokens so far decode to in full
    for i in range(len(ids)):
        so_far = decode(tokenizer, list(ids[: i + 1]))
        split = so_far.endswith("\ufffd") and not text[: len(so_far)].endswith("\ufffd")
        whole = common_prefix(so_far.rstrip("\ufffd") if split else so_far, text)
        start = min(done, whole)  # a token that completes a split character starts at it
        end = min(len(text), whole + 1) if split else whole
        spans.append((start + offset, max(end, start) + offset))
        done = whole
    return spans

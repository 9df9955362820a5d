"""Candidates, shared by both families: which hole lengths are tried (``hole_lengths``, the one place
that decides), trimming filler tokens, and ranking by confidence."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from diffusion_lsp.engine.api import Candidate


def trim_filler(
    ids: Sequence[int], confidence: Sequence[float], filler: Collection[int], stop: Collection[int]
) -> tuple[list[int], list[float]]:
    """Drop filler tokens (pad, null) anywhere and cut at the first stop token (EOS).

    A hole longer than its answer is filled with filler at its end (the null token of a model trained
    for it, or pad/EOS for others); what remains is the answer.
    """
    out_ids: list[int] = []
    out_conf: list[float] = []
    for tok, conf in zip(ids, confidence):
        if tok in stop:
            break
        if tok in filler:
            continue
        out_ids.append(tok)
        out_conf.append(conf)
    return out_ids, out_conf


def cut_single_line(
    text: str, confidence: Sequence[float], token_texts: Sequence[str]
) -> tuple[str, list[float]]:
    """Cut ``text`` at its first newline, keeping the confidences of the tokens that remain."""
    if "\n" not in text:
        return text, list(confidence)
    conf: list[float] = []
    out: list[str] = []
    for piece, c in zip(token_texts, confidence):
        if "\n" in piece:
            head = piece.split("\n", 1)[0]
            if head:
                out.append(head)
                conf.append(c)
            break
        out.append(piece)
        conf.append(c)
    return "".join(out), conf


def rank(
    candidates: Iterable[Candidate], length_bias: Mapping[int, float] | None = None
) -> tuple[Candidate, ...]:
    """Best first by mean confidence, less the checkpoint's ``length_bias`` of the candidate's hole
    length where it has one (CAL, arXiv 2602.00476: a confidence ranking favours some lengths; the
    bias, fitted on held-out holes by ``diffusion-lsp eval calibrate``, takes that out). Duplicates
    of a text keep their best copy.

    Empty texts come last, and just before them texts that decode to U+FFFD: a byte-level tokenizer
    gives that for a token sequence that is not whole UTF-8, which is never code the user wants.
    """
    bias = length_bias or {}

    def score(c: Candidate) -> float:
        return c.score - bias.get(c.length, 0.0)

    best: dict[str, Candidate] = {}
    for cand in candidates:
        seen = best.get(cand.text)
        if seen is None or score(cand) > score(seen):
            best[cand.text] = cand

    def key(c: Candidate) -> tuple[bool, bool, float]:
        return (c.text.strip() != "", "\ufffd" not in c.text, score(c))

    return tuple(sorted(best.values(), key=key, reverse=True))


def length_bias_of(config: Mapping[str, Any]) -> dict[int, float] | None:
    """The per-length bias a checkpoint's config carries (``diffusion_lsp.length_bias``:
    {length: bias}), or None."""
    card = config.get("diffusion_lsp")
    raw = card.get("length_bias") if isinstance(card, Mapping) else None
    if not isinstance(raw, Mapping) or not raw:
        return None
    return {int(k): float(v) for k, v in raw.items()}


# The ladders of candidate hole lengths (tokens), the one source: the benchmarks, the model of the
# editor tests (clients/nvim/test/make_model.py) and docs/engine.md take them from here.
SINGLE_LINE_LADDER: tuple[int, ...] = (4, 8, 16)
MULTI_LINE_LADDER: tuple[int, ...] = (8, 16, 32, 64, 128, 256)


def default_lengths(max_tokens: int, single_line: bool) -> tuple[int, ...]:
    """The ladder of candidate hole lengths (tokens) searched when the request names none."""
    ladder = SINGLE_LINE_LADDER if single_line else MULTI_LINE_LADDER
    lengths = tuple(n for n in ladder if n <= max_tokens)
    return lengths or (max(1, max_tokens),)


def hole_lengths(
    requested: Sequence[int] | None,
    max_tokens: int,
    single_line: bool,
    cap: int,
    one: bool = False,
) -> tuple[int, ...]:
    """The candidate hole lengths (tokens) a request is denoised at, ascending and distinct: the
    request's own ``lengths``, else the ladder up to ``max_tokens`` (``one``: only its longest);
    each at least 1 and at most ``cap`` (the longest hole the family has room for: ``max_tokens``
    for the masked family, the canvas left after the suffix for DiffusionGemma)."""
    lengths = requested or default_lengths(max_tokens, single_line)
    if one and not requested:
        lengths = (max(lengths),)
    return tuple(sorted({min(max(1, n), cap) for n in lengths}))

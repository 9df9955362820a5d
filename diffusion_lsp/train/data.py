"""Tokenized training data: one flat array of token ids and a table of hole spans in token units.

Files are encoded in parallel worker processes; each file's syntax and line spans are mapped to token
ranges (a span is kept only where both ends fall on token boundaries, widened by one leading space
where the tokenizer glued the space to the first token). Files are joined with the EOS token.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from diffusion_lsp.eval.spans import LINE, all_spans

MAX_SPAN_TOKENS = 64

_WORKER_TOKENIZER = None


@dataclass
class TokenData:
    """``tokens``: [N] uint16 ids; ``spans``: [S, 3] int64 rows (start, end, kind) into ``tokens``."""

    tokens: np.ndarray
    spans: np.ndarray

    def save(self, path: str) -> None:
        np.savez(path, tokens=self.tokens, spans=self.spans)

    @classmethod
    def load(cls, path: str) -> TokenData:
        with np.load(path) as z:
            return cls(z["tokens"], z["spans"])


def _init_worker(tokenizer_json: str) -> None:
    global _WORKER_TOKENIZER
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    from tokenizers import Tokenizer

    _WORKER_TOKENIZER = Tokenizer.from_str(tokenizer_json)


def token_spans(
    text: str, starts: np.ndarray, ends: np.ndarray, language: str, rng: random.Random
) -> np.ndarray:
    """Token ranges [S, 3] (start, end, kind) of the file's spans that fall on token boundaries.

    ``starts``/``ends``: [T] str offsets of each token. A span whose first character is preceded by
    a space that the tokenizer glued to the next word (`` name``) takes that space into the hole.
    """
    spans = all_spans(text, language, rng=rng)
    if not spans or not len(starts):
        return np.zeros((0, 3), np.int64)
    arr = np.asarray([(s.start, s.end, s.kind) for s in spans], dtype=np.int64)  # [S, 3]
    n = len(starts)
    i = np.searchsorted(starts, arr[:, 0], side="left").clip(0, n - 1)
    ok_start = starts[i] == arr[:, 0]
    i2 = np.searchsorted(starts, arr[:, 0] - 1, side="left").clip(0, n - 1)
    spaced = (
        np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)[np.maximum(arr[:, 0] - 1, 0)] == 32
    )
    glued = ~ok_start & spaced & (arr[:, 0] > 0) & (starts[i2] == arr[:, 0] - 1)
    i = np.where(glued, i2, i)
    j = np.searchsorted(ends, arr[:, 1], side="right") - 1
    ok_end = (j >= 0) & (ends[j.clip(0, n - 1)] == arr[:, 1])
    size = j + 1 - i
    keep = (ok_start | glued) & ok_end & (size >= 1) & (size <= MAX_SPAN_TOKENS)
    out = np.stack([i, j + 1, arr[:, 2]], axis=1)[keep]  # [K, 3]
    # the rest of a line from a cursor inside it (inline completion), for half the line spans
    lines = out[(out[:, 2] == LINE) & (out[:, 1] - out[:, 0] >= 2)]
    if len(lines):
        lines = lines[np.asarray([rng.random() < 0.5 for _ in range(len(lines))])]
        if len(lines):
            cut = np.asarray(
                [rng.randint(int(a) + 1, int(b) - 1) for a, b, _ in lines], dtype=np.int64
            )
            out = np.concatenate([out, np.stack([cut, lines[:, 1], lines[:, 2]], axis=1)])
    return out


def _encode_chunk(
    args: tuple[list[tuple[str, str]], int, int, float],
) -> tuple[np.ndarray, np.ndarray]:
    files, eos_id, seed, span_fraction = args
    rng = random.Random(seed)
    encodings = _WORKER_TOKENIZER.encode_batch([text for text, _ in files])
    ids_parts: list[np.ndarray] = []
    span_parts: list[np.ndarray] = []
    offset = 0
    for (text, language), enc in zip(files, encodings, strict=True):
        ids = np.asarray(enc.ids, dtype=np.uint16)
        offs = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)
        if rng.random() >= span_fraction:
            spans = np.zeros((0, 3), np.int64)
        else:
            spans = token_spans(text, offs[:, 0], offs[:, 1], language, rng)
        if len(spans):
            spans[:, :2] += offset
            span_parts.append(spans)
        ids_parts.append(ids)
        ids_parts.append(np.asarray([eos_id], dtype=np.uint16))
        offset += len(ids) + 1
    tokens = np.concatenate(ids_parts) if ids_parts else np.zeros(0, np.uint16)
    spans_arr = np.concatenate(span_parts) if span_parts else np.zeros((0, 3), np.int64)
    return tokens, spans_arr


def encode_files(
    files: Sequence[tuple[str, str]],
    tokenizer,
    *,
    workers: int = 1,
    seed: int = 0,
    span_fraction: float = 1.0,
) -> TokenData:
    """Encode ``files`` ((text, language) pairs) with ``tokenizer`` into one :class:`TokenData`.

    Spans are extracted from a random ``span_fraction`` of the files (parsing dominates the cost and
    a fraction of a large corpus gives far more holes than a run can use).
    """
    if tokenizer.vocab_size + len(tokenizer.get_added_vocab()) > 65535:
        raise ValueError("the recipe stores token ids as uint16: keep the vocabulary under 65,536")
    tokenizer_json = tokenizer.backend_tokenizer.to_str()
    eos_id = tokenizer.eos_token_id
    chunk = 64
    jobs = [
        (list(files[i : i + chunk]), eos_id, seed + i, span_fraction)
        for i in range(0, len(files), chunk)
    ]
    if workers <= 1 or len(jobs) == 1:
        _init_worker(tokenizer_json)
        results = [_encode_chunk(job) for job in jobs]
    else:
        import multiprocessing as mp

        ctx = mp.get_context("fork")
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(tokenizer_json,),
        ) as pool:
            results = list(pool.map(_encode_chunk, jobs))
    tokens_parts, span_parts, offset = [], [], 0
    for tokens, spans in results:
        spans = spans.copy()
        spans[:, :2] += offset
        tokens_parts.append(tokens)
        span_parts.append(spans)
        offset += len(tokens)
    tokens = np.concatenate(tokens_parts) if tokens_parts else np.zeros(0, np.uint16)
    spans = np.concatenate(span_parts) if span_parts else np.zeros((0, 3), np.int64)
    return TokenData(tokens, spans)

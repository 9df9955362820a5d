"""A deterministic oracle denoiser for tests: its logits put known mass on a known answer.

It stands where a model's denoiser stands, so the sampler, the policies, length search, trimming and
ranking can be checked for exact outputs. Not a model: it knows the answer in advance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from diffusion_lsp.engine.masked.denoiser import Rows


class OracleDenoiser:
    """Answers a hole that starts at ``hole_start`` and ends ``after`` tokens before each row's end.

    In a hole of length n >= len(answer), position j gets ``answer[j]`` (then ``filler``) with
    probability ``confidence[j]`` (default 0.99, then 0.98, ... so the most confident comes first);
    a hole too short for the answer gets uniform logits (confidence 1/V). ``calls`` counts forwards.
    """

    def __init__(
        self,
        answer: Sequence[int],
        *,
        vocab_size: int,
        hole_start: int,
        after: int,
        filler: int,
        confidence: Sequence[float] | None = None,
    ) -> None:
        self.answer = list(answer)
        self.vocab_size = vocab_size
        self.hole_start = hole_start
        self.after = after
        self.filler = filler
        self.confidence = list(confidence) if confidence is not None else None
        self.calls = 0
        self.shift = False

    def _conf(self, j: int) -> float:
        if self.confidence is not None and j < len(self.confidence):
            return self.confidence[j]
        return max(0.5, 0.99 - 0.01 * j)

    def __call__(self, tokens: torch.Tensor, attention: torch.Tensor, rows: Rows) -> torch.Tensor:
        import torch

        self.calls += 1
        b, pos = rows
        logits = torch.zeros((len(b), self.vocab_size))  # [N, V]
        lengths = attention.sum(dim=1)  # [B]
        for i, (row, p) in enumerate(zip(b.tolist(), pos.tolist())):
            n = int(lengths[row]) - self.after - self.hole_start  # this row's hole length
            j = p - self.hole_start
            if n < len(self.answer):
                continue  # uniform: the answer does not fit
            target = self.answer[j] if j < len(self.answer) else self.filler
            c = self._conf(j)
            logits[i, target] = math.log(c * (self.vocab_size - 1) / (1 - c))
        return logits


class ExpandingOracle:
    """DreamOn's contract, as an oracle: a hole shorter than ``answer`` asks for more room (its last
    masked slot decodes to ``expand_id``), a longer one gives slots back (those past the answer
    decode to ``delete_id``), and a hole of the right length gets the answer. A hole starts at
    ``hole_start`` and ends ``after`` tokens before each row's end; ``calls`` counts forwards."""

    def __init__(
        self,
        answer: Sequence[int],
        *,
        vocab_size: int,
        hole_start: int,
        after: int,
        expand_id: int,
        delete_id: int,
    ) -> None:
        self.answer = list(answer)
        self.vocab_size = vocab_size
        self.hole_start = hole_start
        self.after = after
        self.expand_id = expand_id
        self.delete_id = delete_id
        self.calls = 0
        self.shift = False

    def __call__(self, tokens: torch.Tensor, attention: torch.Tensor, rows: Rows) -> torch.Tensor:
        import torch

        self.calls += 1
        b, pos = rows
        logits = torch.zeros((len(b), self.vocab_size))  # [N, V]
        lengths = attention.sum(dim=1)  # [B]
        sure = math.log(0.999 * (self.vocab_size - 1) / 0.001)
        for i, (row, p) in enumerate(zip(b.tolist(), pos.tolist())):
            n = int(lengths[row]) - self.after - self.hole_start  # this row's hole length
            j = p - self.hole_start
            if n < len(self.answer):
                if j == n - 1:
                    logits[i, self.expand_id] = sure
                # and below it, the answer so far, less sure (it may still move)
                elif j < len(self.answer):
                    logits[i, self.answer[j]] = sure / 4
            elif j >= len(self.answer):
                logits[i, self.delete_id] = sure
            else:
                logits[i, self.answer[j]] = math.log(0.99 * (self.vocab_size - 1) / 0.01)
        return logits

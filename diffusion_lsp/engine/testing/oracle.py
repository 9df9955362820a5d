"""Deterministic oracle denoisers for tests: their logits put known mass on a known answer.

They stand where a model's denoiser stands, so the sampler, the policies, length search, trimming,
ranking and scoring can be checked for exact outputs. Not models: they know the answer in advance
(``OracleDenoiser`` a hole's, ``ExpandingOracle`` DreamOn's, ``TargetOracle`` the whole document's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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


class TargetOracle:
    """Knows the text a document should become, and answers every masked position with its token.

    ``target_ids`` (T) are the token ids of the whole canvas the model should see, tokenized the
    way the engine builds a canvas (``for_engine``: lead + preamble + encode(target) + tail). For
    each row of a call, its unpadded tokens R (mask ids are holes) are aligned with T
    (``difflib.SequenceMatcher``, ``autojunk=False``; a mask never equals anything), and each
    position asked for gets an answer from the opcode block it falls in:

    - a hole (a block whose R side is all masks): T's token at the same offset in the block, the
      filler past its end; uniform logits if the hole is shorter than T's side of the block (the
      answer does not fit, as ``OracleDenoiser`` says);
    - a block that mixes masks and tokens: T's token at its offset in the block when in range,
      else the filler; the offset counted from the block's end for a position nearer its end (a
      mask just before an equal block lines up with T's token just before it, whatever the
      lengths of the two sides);
    - a position that holds a token (a refine's scoring forward asks for those): T's token at its
      offset in its block, itself in an equal block; an equal block never holds a mask.

    The answer gets probability ``confidence``, the rest is uniform over the other ids.
    ``also``: more targets, for other versions of the document (the text before the user's edit,
    which should stay as it is); each row is answered from the target it differs from least (the
    tokens of its unequal blocks that hold no hole, on both sides; the first target on a tie). ``mask_id=None``: the positions asked for in a row are its holes (the sampler asks for the
    masked positions only). ``calls`` counts forwards; ``shift = False`` as the other oracles.
    """

    def __init__(
        self,
        target_ids: Sequence[int],
        vocab_size: int,
        filler: int,
        confidence: float = 0.99,
        *,
        mask_id: int | None = None,
        also: Sequence[Sequence[int]] = (),
    ) -> None:
        self.target = [int(t) for t in target_ids]
        self.targets = [self.target, *([int(t) for t in ids] for ids in also)]
        self.vocab_size = vocab_size
        self.filler = filler
        self.confidence = confidence
        self.mask_id = mask_id
        self.calls = 0
        self.shift = False

    @classmethod
    def for_engine(
        cls,
        engine: Any,
        target_text: str,
        preamble: str = "",
        confidence: float = 0.99,
        also: Sequence[str] = (),
    ) -> TargetOracle:
        """The oracle for a ``MaskedDiffusionEngine`` whose document should read ``target_text``
        (and each version of it in ``also`` as that text): T is built as the engine frames a canvas
        (``engine.frame(preamble)``) around the target's ids. The context window must keep the
        whole document for T to line up with the canvas."""
        from diffusion_lsp.engine.tokens import encode

        before, after = engine.frame(preamble)
        special = engine.special
        filler = special.pad if special.pad in special.filler else min(special.filler)
        config = getattr(engine.model, "config", None)
        vocab = getattr(config, "vocab_size", None) or len(engine.tokenizer)

        def framed(text: str) -> list[int]:
            return [*before, *encode(engine.tokenizer, text), *after]

        others = [framed(t) for t in also]
        return cls(
            framed(target_text), vocab, filler, confidence, mask_id=special.mask, also=others
        )

    def answers(
        self, row: Sequence[int], holes: set[int], asked: Sequence[int]
    ) -> list[int | None]:
        """The token each position in ``asked`` gets in ``row`` (None: uniform), ``holes`` the
        positions that are masks. The pure rule the class docstring states."""
        import difflib

        r = [-1 - i if i in holes else t for i, t in enumerate(row)]  # a mask never matches
        matchers = [difflib.SequenceMatcher(None, r, t, autojunk=False) for t in self.targets]

        def differences(m: difflib.SequenceMatcher) -> int:  # tokens off, holes aside
            return sum(
                (i2 - i1) + (j2 - j1)
                for op, i1, i2, j1, j2 in m.get_opcodes()
                if op != "equal" and not any(i in holes for i in range(i1, i2))
            )

        best = min(range(len(matchers)), key=lambda k: (differences(matchers[k]), k))
        matcher, target = matchers[best], self.targets[best]
        block_of: dict[int, tuple[int, int, int, int]] = {}
        for _, i1, i2, j1, j2 in matcher.get_opcodes():
            for i in range(i1, i2):
                block_of[i] = (i1, i2, j1, j2)
        out: list[int | None] = []
        for p in asked:
            i1, i2, j1, j2 = block_of[p]
            off = p - i1
            if all(i in holes for i in range(i1, i2)):  # a hole (an equal block holds none)
                if i2 - i1 < j2 - j1:
                    out.append(None)  # too short for T's side
                else:
                    out.append(target[j1 + off] if off < j2 - j1 else self.filler)
                continue
            back = i2 - 1 - p  # mixed, or a token: from the nearer end of the block
            j = j1 + off if off <= back else j2 - 1 - back
            out.append(target[j] if j1 <= j < j2 else self.filler)
        return out

    def __call__(self, tokens: torch.Tensor, attention: torch.Tensor, rows: Rows) -> torch.Tensor:
        import torch

        self.calls += 1
        b, pos = rows
        logits = torch.zeros((len(b), self.vocab_size))  # [N, V]
        sure = math.log(self.confidence * (self.vocab_size - 1) / (1 - self.confidence))
        lengths = attention.sum(dim=1).tolist()  # [B]
        b_list, pos_list = b.tolist(), pos.tolist()
        for row in sorted(set(b_list)):
            ids = tokens[row, : int(lengths[row])].tolist()
            picks = [i for i, r in enumerate(b_list) if r == row]
            asked = [pos_list[i] for i in picks]
            if self.mask_id is None:
                holes = set(asked)
            else:
                holes = {p for p, t in enumerate(ids) if t == self.mask_id}
            for i, answer in zip(picks, self.answers(ids, holes, asked)):
                if answer is not None:
                    logits[i, answer] = sure
        return logits


def with_denoiser(engine: Any, denoiser: Any) -> Any:
    """A ``MaskedDiffusionEngine`` on ``engine``'s model, tokenizer and special tokens whose
    denoiser is ``denoiser`` (an oracle; ``shift=False``, as the oracles are)."""
    from diffusion_lsp.engine.masked.engine import MaskedDiffusionEngine

    return MaskedDiffusionEngine(
        engine.model,
        engine.tokenizer,
        engine.info,
        engine.spec,
        special=engine.special,
        denoiser=denoiser,
        shift=False,
    )

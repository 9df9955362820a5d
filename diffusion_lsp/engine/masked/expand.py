"""The variable-length denoising loop of DreamOn: a hole that grows and shrinks while it is filled.

DreamOn (Dream-org/DreamOn-v0-7B) is trained with two extra states for a masked slot: it may decode
to the expand token, and the slot becomes two masked slots, or to end-of-text, and the slot is
deleted. So the hole starts short (a few masks) and takes the length its content needs. Each step
the canvas is rebuilt at its new length (no padding inside a row; rows of a batch are padded on the
right and masked out), one token is decided per row (the most confident masked slot, as DreamOn's
own generator does), and the expand token is banned once the hole has reached its budget.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from diffusion_lsp.engine.api import CancelToken

if TYPE_CHECKING:
    import torch

    from diffusion_lsp.engine.masked.denoiser import Denoiser


@dataclass
class Row:
    """One canvas: ``before + hole + after``; the hole holds mask ids until they are decided."""

    before: list[int]
    hole: list[int]
    after: list[int]
    confidence: list[float] = field(default_factory=list)  # per hole slot; 0.0 while masked
    expanded: int = 0
    deleted: int = 0

    def __post_init__(self) -> None:
        if not self.confidence:
            self.confidence = [0.0] * len(self.hole)

    @property
    def tokens(self) -> list[int]:
        return [*self.before, *self.hole, *self.after]


@dataclass
class ExpandSample:
    rows: list[Row]
    nfe: int
    denoise_ms: float


def denoise_expanding(
    denoiser: Denoiser,
    rows: Sequence[Row],
    *,
    mask_id: int,
    expand_id: int,
    delete_id: int,
    budget: int,
    temperature: float,
    generators: Sequence[torch.Generator],
    pad_id: int,
    device: torch.device | str = "cpu",
    banned: Collection[int] = (),
    max_steps: int | None = None,
    cancel: CancelToken | None = None,
) -> ExpandSample:
    """Fill every row's hole, letting each grow (``expand_id``) up to ``budget`` slots or shrink
    (``delete_id``). Every step decides one slot per unfinished row: a token, two masks, or nothing.
    ``banned`` ids (the mask itself, at least) are never chosen. Checks ``cancel`` every step.
    """

    from diffusion_lsp.engine.masked.loop import choose

    start = time.perf_counter()
    rows = list(rows)
    ban = sorted({mask_id, *banned} - {expand_id, delete_id})
    # Each step decides one slot; an expansion adds one. Past ``max_steps`` (by default enough for
    # every slot of a full hole to be expanded into and decided), one last step decides every slot
    # left at once, with expansion banned.
    limit = max_steps if max_steps is not None else 2 * budget + 1
    nfe = 0
    for step in range(limit + 1):
        open_rows = [i for i, r in enumerate(rows) if mask_id in r.hole]
        if not open_rows:
            break
        if cancel is not None:
            cancel.raise_if_cancelled()
        last = step == limit
        index, logits = _forward(denoiser, rows, open_rows, mask_id, pad_id, device)
        nfe += 1
        vocab = logits.shape[1]
        logits[:, [t for t in ban if t < vocab]] = float("-inf")
        for b, i in enumerate(open_rows):  # a full hole may not grow
            if last or len(rows[i].hole) >= budget:
                logits[index[0] == b, expand_id] = float("-inf")
        tok, conf = choose(logits, index[0], temperature, [generators[i] for i in open_rows])
        for b, i in enumerate(open_rows):
            sel = (index[0] == b).nonzero(as_tuple=True)[0]
            # Decided right to left, so the slots still to decide keep their places.
            picks = sel.flip(0) if last else sel[conf[sel].argmax()].reshape(1)
            for p in picks.tolist():
                j = int(index[1][p]) - len(rows[i].before)
                _decide(rows[i], j, int(tok[p]), float(conf[p]), mask_id, expand_id, delete_id)
    return ExpandSample(rows, nfe, (time.perf_counter() - start) * 1000)


def _forward(
    denoiser: Denoiser,
    rows: Sequence[Row],
    open_rows: Sequence[int],
    mask_id: int,
    pad_id: int,
    device: torch.device | str,
) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """One forward over the open rows at their current lengths: ((batch, position), logits)."""
    import torch

    canvases = [rows[i].tokens for i in open_rows]
    width = max(len(c) for c in canvases)
    tokens = torch.full((len(canvases), width), pad_id, dtype=torch.long, device=device)
    attention = torch.zeros((len(canvases), width), dtype=torch.bool, device=device)
    batch, pos = [], []
    for b, (i, canvas) in enumerate(zip(open_rows, canvases)):
        tokens[b, : len(canvas)] = torch.tensor(canvas, device=device)
        attention[b, : len(canvas)] = True
        a = len(rows[i].before)
        masked = [a + j for j, t in enumerate(rows[i].hole) if t == mask_id]
        batch += [b] * len(masked)
        pos += masked
    index = (torch.tensor(batch, device=device), torch.tensor(pos, device=device))
    return index, denoiser(tokens, attention, index)


def _decide(
    row: Row, j: int, token: int, conf: float, mask_id: int, expand_id: int, delete_id: int
) -> None:
    if token == expand_id:
        row.hole[j : j + 1] = [mask_id, mask_id]
        row.confidence[j : j + 1] = [0.0, 0.0]
        row.expanded += 1
    elif token == delete_id:
        del row.hole[j]
        del row.confidence[j]
        row.deleted += 1
    else:
        row.hole[j] = token
        row.confidence[j] = conf

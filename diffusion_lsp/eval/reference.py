"""The harness's own reference infiller for masked-diffusion checkpoints trained with null slots.

This is NOT the product's engine (``diffusion_lsp.engine``): it is a minimal, batched masked-infill
loop that the training run uses for held-out metrics and that ``diffusion-lsp eval --filler
reference`` uses to compare against the engine. Each hole is ``prefix + [MASK] * L + suffix``; at
each step every masked slot whose top probability exceeds a threshold is committed (and at least
enough per row to finish within ``max_steps``, the most confident first), as in Fast-dLLM (Wu et al. 2025, "Fast-dLLM", Sec. 3.3, confidence-aware parallel decoding).
Once a slot commits the null token the slots after it become null (the model was trained to put
nulls only at the end of a hole). With several lengths, the candidate with the highest mean
confidence over its whole canvas wins.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from diffusion_lsp.engine.api import Candidate, InfillRequest, Result, Timings
from diffusion_lsp.engine.tokens import heal


@dataclass(frozen=True)
class Row:
    left: list[int]
    length: int
    right: list[int]
    healed: bool = False  # the prefix's trailing space moved into the hole (see ``heal``)


class ReferenceInfiller:
    """Batched oracle/ladder infill on a ``*ForMaskedLM`` model; ids come from the tokenizer."""

    def __init__(
        self, model: Any, tokenizer: Any, *, threshold: float = 0.9, max_steps: int | None = None
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.threshold = threshold
        self.max_steps = max_steps
        self.mask_id = tokenizer.mask_token_id
        self.pad_id = tokenizer.pad_token_id
        self.eos_id = tokenizer.eos_token_id
        null = getattr(model.config, "null_token_id", None)
        self.null_id = null if null is not None else tokenizer.convert_tokens_to_ids("<|null|>")
        self.max_len = int(getattr(model.config, "max_position_embeddings", 1024))

    def _encode(self, text: str) -> list[int]:
        return (
            self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
            if text
            else []
        )

    def rows_for(
        self, prefix: str, suffix: str, lengths: Sequence[int], context_tokens: int
    ) -> list[Row]:
        prefix, healed = heal(prefix)
        left, right = self._encode(prefix), self._encode(suffix)
        rows = []
        for length in lengths:
            budget = max(0, min(context_tokens, self.max_len - length))
            keep_right = min(
                len(right), budget // 2 if len(left) > budget // 2 else budget - len(left)
            )
            keep_left = min(len(left), budget - keep_right)
            rows.append(Row(left[len(left) - keep_left :], length, right[:keep_right], healed))
        return rows

    def denoise(self, rows: Sequence[Row]) -> tuple[list[list[int]], list[list[float]], int]:
        """Fill every row's canvas; returns canvas ids, their confidences, and the steps taken."""
        import torch

        device = next(self.model.parameters()).device
        width = max(len(r.left) + r.length + len(r.right) for r in rows)
        B = len(rows)
        ids = torch.full((B, width), self.pad_id, dtype=torch.long)
        attn = torch.zeros((B, width), dtype=torch.long)
        canvas = torch.zeros((B, width), dtype=torch.bool)
        for i, r in enumerate(rows):
            seq = r.left + [self.mask_id] * r.length + r.right
            ids[i, : len(seq)] = torch.tensor(seq)
            attn[i, : len(seq)] = 1
            canvas[i, len(r.left) : len(r.left) + r.length] = True
        ids, attn, canvas = ids.to(device), attn.to(device), canvas.to(device)
        conf = torch.zeros((B, width), device=device)
        steps = 0
        limit = self.max_steps or max(r.length for r in rows)
        with torch.inference_mode():
            while True:
                masked = ids == self.mask_id  # [B, W]
                masked &= canvas
                if not masked.any() or steps >= limit:
                    break
                hidden = self.model.model(
                    input_ids=ids, attention_mask=attn
                ).last_hidden_state  # [B, W, h]
                logits = self.model.decoder(self.model.head(hidden[masked])).float()  # [M, V]
                logits[:, self.mask_id] = float("-inf")
                logits[:, self.pad_id] = float("-inf")
                prob, tok = logits.softmax(-1).max(-1)  # [M]
                step_conf = torch.full((B, width), -1.0, device=device)
                step_conf[masked] = prob
                step_tok = torch.full((B, width), self.mask_id, dtype=torch.long, device=device)
                step_tok[masked] = tok
                # commit the confident slots, and at least ceil(remaining / steps left) per row
                steps_left = limit - steps
                k = (masked.sum(dim=1) + steps_left - 1) // steps_left  # [B]
                order = step_conf.argsort(dim=1, descending=True, stable=True)  # [B, W]
                rank = torch.empty_like(order)
                rank.scatter_(1, order, torch.arange(width, device=device).expand_as(order))
                commit = masked & ((step_conf > self.threshold) | (rank < k[:, None]))
                ids = torch.where(commit, step_tok, ids)
                conf = torch.where(commit, step_conf, conf)
                # a committed null closes the hole: the masked slots after it become null
                is_null = (ids == self.null_id) & canvas
                after_null = is_null.long().cumsum(dim=1) > 0
                fill = after_null & (ids == self.mask_id) & canvas
                ids = torch.where(fill, torch.full_like(ids, self.null_id), ids)
                conf = torch.where(fill, torch.ones_like(conf), conf)
                steps += 1
        out_ids, out_conf = [], []
        for i, r in enumerate(rows):
            s = len(r.left)
            out_ids.append(ids[i, s : s + r.length].tolist())
            out_conf.append(conf[i, s : s + r.length].tolist())
        return out_ids, out_conf, steps

    def text_of(self, canvas: Sequence[int], single_line: bool, healed: bool = False) -> str:
        keep: list[int] = []
        for tok in canvas:
            if tok == self.eos_id:
                break
            if tok in (self.null_id, self.pad_id, self.mask_id):
                continue
            keep.append(tok)
        text = self.tokenizer.decode(keep, skip_special_tokens=False)
        if healed and text.startswith(" "):
            text = text[1:]
        return text.split("\n", 1)[0] if single_line else text

    def fill_many(
        self,
        holes: Sequence[tuple[str, str]],
        lengths: Sequence[Sequence[int]],
        *,
        single_line: Sequence[bool] | None = None,
        context_tokens: int = 1000,
    ) -> list[tuple[str, Candidate, tuple[Candidate, ...]]]:
        """Fill many holes in one batch; per hole the best text, its candidate and all candidates."""
        rows: list[Row] = []
        owner: list[int] = []
        for h, ((prefix, suffix), lens) in enumerate(zip(holes, lengths, strict=True)):
            rows += self.rows_for(prefix, suffix, lens, context_tokens)
            owner += [h] * len(lens)
        canvases, confs, _ = self.denoise(rows)
        cands: list[list[Candidate]] = [[] for _ in holes]
        for row, h, canvas, conf in zip(rows, owner, canvases, confs, strict=True):
            sl = bool(single_line[h]) if single_line is not None else False
            cands[h].append(
                Candidate(self.text_of(canvas, sl, row.healed), tuple(conf), row.length)
            )
        out = []
        for cs in cands:
            ranked = tuple(sorted(cs, key=lambda c: c.score, reverse=True))
            out.append((ranked[0].text, ranked[0], ranked))
        return out

    def infill(self, request: InfillRequest, cancel: Any = None) -> Result:
        """The engine's ``infill`` contract, for the harness: lengths default to a ladder."""
        t0 = time.perf_counter()
        lengths = request.lengths or default_ladder(request.max_tokens, request.single_line)
        rows = self.rows_for(request.prefix, request.suffix, lengths, request.context_tokens)
        t1 = time.perf_counter()
        canvases, confs, steps = self.denoise(rows)
        t2 = time.perf_counter()
        cands = [
            Candidate(self.text_of(c, request.single_line, r.healed), tuple(f), r.length)
            for r, c, f in zip(rows, canvases, confs, strict=True)
        ]
        ranked = tuple(sorted(cands, key=lambda c: c.score, reverse=True))
        best = ranked[0]
        timings = Timings(
            tokenize_ms=(t1 - t0) * 1e3, denoise_ms=(t2 - t1) * 1e3, total_ms=(t2 - t0) * 1e3
        )
        return Result(best.text, best.confidence, steps, timings, ranked)


def default_ladder(max_tokens: int, single_line: bool) -> tuple[int, ...]:
    """Candidate canvas lengths: each answer of n tokens has a canvas within [n, 2n] (n >= 4)."""
    ladder = (8, 16, 32) if single_line else (8, 16, 32, 64, 128)
    return tuple(n for n in ladder if n <= max(8, max_tokens))

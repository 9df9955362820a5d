"""The training run's metrics: held-out loss batches, and held-out holes on the exported checkpoint.

The holes are filled by the product's engine, loaded from the export as the server loads it
(``engine.load_engine``), so the run's figures are those ``diffusion-lsp eval holes`` gives.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any


def heldout_batches(
    files, tokenizer, mcfg, device, random_rate_rows, hole_rows
) -> list[tuple[str, Any]]:
    """A few fixed held-out batches: random-rate rows and hole rows, from the held-out files."""
    import torch

    from diffusion_lsp.train.data import encode_files

    if not files:
        return []
    data = encode_files([(text, lang) for _, lang, text in files[:400]], tokenizer, workers=1)
    if len(data.tokens) < 2 * mcfg.seq_len or not len(data.spans):
        return []
    tokens = torch.from_numpy(data.tokens.astype("int32")).to(device)
    spans = torch.from_numpy(data.spans[:, :2].copy()).to(device)
    gen = torch.Generator(device=device)
    gen.manual_seed(1234)
    # a fixed 15% mask rate makes the accuracy readable: a model that ignores context (predicts the
    # unigram distribution) stays near the frequency of the commonest token; the first full run
    # collapsed into exactly that state (see docs/models.md)
    low = replace(mcfg, eps=0.15)
    batch = random_rate_rows(tokens, 32, low, gen)
    masked = torch.rand(batch.input_ids.shape, device=device, generator=gen) < 0.15
    ids = torch.where(batch.labels != -100, batch.labels, batch.input_ids)
    fixed = type(batch)(
        torch.where(masked, torch.full_like(ids, mcfg.mask_id), ids),
        torch.where(masked, ids, torch.full_like(ids, -100)),
        torch.full((ids.shape[0],), 1.0 / (0.15 * mcfg.seq_len), device=device),
    )
    return [
        ("random", random_rate_rows(tokens, 32, mcfg, gen)),
        ("masked15", fixed),
        ("holes", hole_rows(tokens, spans, 64, mcfg, gen)),
    ]


def heldout_loss(model, held, amp) -> dict[str, float]:
    """Loss and accuracy of each held-out batch, and the largest hidden-state norm (a residual
    stream that grows by orders of magnitude drowns the tokens: the collapse the log should show)."""
    import torch

    from diffusion_lsp.train.masking import diffusion_loss

    out: dict[str, float] = {}
    model.eval()
    with torch.no_grad(), amp:
        for name, batch in held:
            loss, stats = diffusion_loss(model, batch)
            out[f"{name}_loss"] = float(loss)
            out[f"{name}_acc"] = float(stats["acc"])
        if held:
            states = model.model(
                input_ids=held[0][1].input_ids[:4], output_hidden_states=True
            ).hidden_states
            out["max_hidden_norm"] = max(float(h.float().norm(dim=-1).max()) for h in states)
    return out


def evaluate_export(
    out_dir: str,
    work_dir: str,
    heldout_files: Sequence[tuple[str, str, str]],
    *,
    holes_per_kind: int,
    seed: int,
    device: str,
    log: Callable[..., None],
) -> dict[str, Any]:
    """Held-out holes through the product's engine on the checkpoint exported to ``out_dir``.

    Writes the holes (``heldout_holes.jsonl.gz``) and a sample of predictions
    (``eval_examples.json``) to ``work_dir``; returns ``run_holes.summarize``'s table.
    """
    from transformers import AutoTokenizer

    from diffusion_lsp.engine import load_engine
    from diffusion_lsp.engine.api import ModelSpec
    from diffusion_lsp.eval.holes import KINDS, make_holes, save_holes
    from diffusion_lsp.eval.run_holes import (
        SETTINGS,
        format_table,
        oracle_tokens,
        run_engine,
        summarize,
    )

    if not heldout_files or not holes_per_kind:
        return {}
    t0 = time.time()
    engine = load_engine(ModelSpec(model=out_dir, device=device))
    count = oracle_tokens(AutoTokenizer.from_pretrained(out_dir))
    holes = make_holes(list(heldout_files), list(KINDS), holes_per_kind, seed=seed)
    save_holes(holes, os.path.join(work_dir, "heldout_holes.jsonl.gz"))
    scored = run_engine(engine, holes, SETTINGS, lambda h: count(h.prefix, h.answer))
    summary = summarize(scored)
    log(
        "eval",
        seconds=round(time.time() - t0, 1),
        holes=len(holes),
        table="\n" + format_table(summary),
    )
    examples = [
        {
            "kind": s.hole.kind,
            "setting": s.setting,
            "answer": s.hole.answer,
            "prediction": s.prediction,
            "exact": s.exact,
        }
        for s in scored[:: max(1, len(scored) // 40)]
    ]
    with open(os.path.join(work_dir, "eval_examples.json"), "w") as f:
        json.dump(examples, f, indent=1)
    return summary

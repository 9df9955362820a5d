"""The training run's metrics: held-out losses on a tiny model, held-out holes through the engine."""

import json

import pytest
import torch

from diffusion_lsp.train.model import PRESETS, build_config, build_model, export
from diffusion_lsp.train.tokenizer import special_ids


@pytest.fixture(scope="module")
def tiny(tokenizer):
    torch.manual_seed(0)
    return build_model(build_config(PRESETS["tiny"], special_ids(tokenizer), len(tokenizer)))


@pytest.fixture(scope="module")
def heldout_files(corpus_dir):
    paths = sorted(corpus_dir.rglob("*.py"))
    return [(str(p), "python", p.read_text()) for p in paths]


def test_heldout_losses_of_a_tiny_model(tiny, tokenizer, heldout_files):
    from diffusion_lsp.train.masking import MaskingConfig, hole_rows, random_rate_rows
    from diffusion_lsp.train.metrics import heldout_batches, heldout_loss

    special = special_ids(tokenizer)
    seq_len = 64
    mcfg = MaskingConfig(special["mask_token_id"], special["null_token_id"], seq_len)
    files = heldout_files * 10  # enough tokens for two rows of seq_len
    held = heldout_batches(files, tokenizer, mcfg, "cpu", random_rate_rows, hole_rows)
    assert [name for name, _ in held] == ["random", "masked15", "holes"]
    out = heldout_loss(tiny, held, torch.autocast("cpu", enabled=False))
    assert set(out) == {
        f"{n}_{m}" for n in ("random", "masked15", "holes") for m in ("loss", "acc")
    } | {"max_hidden_norm"}
    assert all(v == v and v >= 0 for v in out.values())  # finite, not NaN
    assert 0.0 <= out["masked15_acc"] <= 1.0


def test_heldout_holes_are_scored_through_the_engine_on_the_export(
    tiny, tokenizer, heldout_files, tmp_path
):
    from diffusion_lsp.engine import load_engine
    from diffusion_lsp.engine.api import ModelSpec
    from diffusion_lsp.eval.holes import load_holes
    from diffusion_lsp.eval.run_holes import oracle_tokens, request_for
    from diffusion_lsp.train.metrics import evaluate_export

    out_dir, work_dir = tmp_path / "out", tmp_path / "work"
    work_dir.mkdir()
    export(tiny, tokenizer, str(out_dir))
    events = []
    summary = evaluate_export(
        str(out_dir),
        str(work_dir),
        heldout_files,
        holes_per_kind=2,
        seed=0,
        device="cpu",
        log=lambda event, **fields: events.append((event, fields)),
    )
    assert set(summary) == {"oracle", "realistic"}
    assert summary["oracle"]["all"]["n"] == summary["realistic"]["all"]["n"] > 0
    assert [e for e, _ in events] == ["eval"]
    holes = load_holes(str(work_dir / "heldout_holes.jsonl.gz"))
    assert len(holes) == summary["oracle"]["all"]["n"]

    # every logged prediction is what the product's engine, loaded from the export, returns
    engine = load_engine(ModelSpec(model=str(out_dir), device="cpu"))
    count = oracle_tokens(tokenizer)
    examples = json.loads((work_dir / "eval_examples.json").read_text())
    assert examples
    by_answer = {(h.kind, h.answer): h for h in holes}
    for ex in examples:
        hole = by_answer[(ex["kind"], ex["answer"])]
        request = request_for(hole, ex["setting"], lambda h: count(h.prefix, h.answer))
        assert engine.infill(request).text == ex["prediction"]

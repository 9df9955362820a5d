"""The whole recipe end to end at tiny scale on the CPU: corpus, tokenizer, corrective noise and pause
holes, a few steps, export, held-out evaluation through the engine, the card's languages."""

import json
import os

from diffusion_lsp.train.loop import TrainConfig, train


def test_a_tiny_run_with_the_new_objective_trains_exports_and_names_its_languages(
    corpus_dir, tmp_path
):
    out, work = tmp_path / "out", tmp_path / "work"
    cfg = TrainConfig(
        out_dir=str(out),
        work_dir=str(work),
        roots=[str(corpus_dir)],
        default_roots=False,
        preset="tiny",
        vocab_size=400,
        heldout_permille=0,
        span_fraction=1.0,
        batch_size=8,
        lr=3e-3,
        warmup_steps=5,
        noise_share=0.2,
        time_budget_s=50.0,
        max_steps=40,
        eval_every_s=1e9,
        save_every_s=1e9,
        eval_holes=1,
        device="cpu",
        dtype="float32",
        export_dtype="float32",
        workers=1,
    )
    final = train(cfg, echo=lambda *_: None)
    assert final["step"] == 40
    with open(work / "train.log.jsonl") as f:
        events = [json.loads(line) for line in f]
    steps = [e for e in events if e["event"] == "step"]
    assert steps[0]["loss"] > 0
    # the objective's pause spans are among the training spans
    from diffusion_lsp.eval.spans import PAUSE
    from diffusion_lsp.train.data import TokenData

    data = TokenData.load(str(work / "train.npz"))
    assert (data.spans[:, 2] == PAUSE).any()
    with open(out / "config.json") as f:
        card = json.load(f)["diffusion_lsp"]
    assert set(card["train_languages"]) == {"python", "javascript"}
    assert card["objective"]["noise_share"] == 0.2
    assert os.path.exists(out / "tokenizer.json")

"""A few steps on a tiny ModernBERT lower the loss; the export loads back with from_pretrained."""

import json
import os

import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

from diffusion_lsp.train.data import encode_files
from diffusion_lsp.train.masking import MaskingConfig, diffusion_loss, make_batch
from diffusion_lsp.train.model import PRESETS, build_config, build_model, export
from diffusion_lsp.train.tokenizer import special_ids

TEXT = (
    "def add(a, b):\n    total = a + b\n    return total\n\n\nclass Box:\n    def get(self):\n        return self.value\n"
    * 20
)


def _setup(tokenizer):
    special = special_ids(tokenizer)
    preset = PRESETS["tiny"]
    torch.manual_seed(0)
    model = build_model(build_config(preset, special, len(tokenizer)))
    data = encode_files([(TEXT, "python")], tokenizer)
    tokens = torch.from_numpy(data.tokens.astype("int32"))
    spans = torch.from_numpy(data.spans[:, :2].copy())
    cfg = MaskingConfig(special["mask_token_id"], special["null_token_id"], preset.seq_len)
    return model, tokens, spans, cfg


def test_a_few_steps_lower_the_loss(tokenizer):
    model, tokens, spans, cfg = _setup(tokenizer)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    fixed = make_batch(tokens, spans, 16, cfg, torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = float(diffusion_loss(model, fixed)[0])
    for _ in range(30):
        loss, _ = diffusion_loss(model, make_batch(tokens, spans, 16, cfg, gen))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(diffusion_loss(model, fixed)[0])
    assert after < before - 0.5, (before, after)


def test_export_round_trips_through_from_pretrained(tokenizer, tmp_path):
    model, *_ = _setup(tokenizer)
    files = export(
        model, tokenizer, str(tmp_path), max_shard_mb=1, extra={"diffusion_lsp": {"steps": 0}}
    )
    assert "tokenizer.json" in files and "config.json" in files
    for name in files:
        assert os.path.getsize(tmp_path / name) <= 1_000_000 + 100_000
    with open(tmp_path / "config.json") as f:
        cfg = json.load(f)
    assert cfg["null_token_id"] == special_ids(tokenizer)["null_token_id"]
    assert cfg["mask_token_id"] == tokenizer.mask_token_id
    loaded = AutoModelForMaskedLM.from_pretrained(tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    assert special_ids(tok) == special_ids(tokenizer)
    ids = torch.tensor([tok("def f(x):\n    return x", add_special_tokens=False)["input_ids"]])
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model(input_ids=ids).logits, loaded(input_ids=ids).logits, atol=1e-5)


def test_a_few_steps_with_corrective_noise_lower_the_loss(tokenizer):
    import dataclasses

    model, tokens, spans, cfg = _setup(tokenizer)
    cfg = dataclasses.replace(cfg, noise_share=0.3, noise_ids=(4, len(tokenizer)))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    fixed = make_batch(tokens, spans, 16, cfg, torch.Generator().manual_seed(1))
    assert ((fixed.labels != -100) & (fixed.input_ids != cfg.mask_id)).any()
    with torch.no_grad():
        before = float(diffusion_loss(model, fixed)[0])
    for _ in range(30):
        loss, _ = diffusion_loss(model, make_batch(tokens, spans, 16, cfg, gen))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(diffusion_loss(model, fixed)[0])
    assert after < before - 0.5, (before, after)

"""Tiny random real-architecture masked models, loaded through ``load_engine`` as users load them."""

from __future__ import annotations

import json

import pytest

from diffusion_lsp.engine.api import InfillRequest, RefineRequest

PREFIX = "def add(a, b):\n    "
SUFFIX = "\n\nprint(add(1, 2))\n"


@pytest.mark.parametrize("which", ["masked_engine", "shifted_engine"])
def test_infill_fills_every_length_and_reports_work(request, which):
    engine = request.getfixturevalue(which)
    result = engine.infill(InfillRequest(PREFIX, SUFFIX, lengths=(4, 8), steps=4, alternatives=2))
    assert result.nfe == 4  # one forward per step, both lengths in the same batch
    assert result.timings.denoise_ms > 0 and result.timings.total_ms >= result.timings.denoise_ms
    assert {c.length for c in result.alternatives} <= {4, 8}
    assert result.text == result.alternatives[0].text
    assert all(0.0 <= c <= 1.0 for c in result.confidence)


def test_special_ids_come_from_the_checkpoint(
    masked_engine, shifted_engine, masked_dir, shifted_dir
):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(masked_dir)
    assert masked_engine.special.mask == tok.mask_token_id == len(tok) - 1
    assert masked_engine.special.lead == (tok.cls_token_id,)
    assert masked_engine.special.tail == (tok.sep_token_id,)
    assert tok.sep_token_id in masked_engine.special.stop
    assert not masked_engine.shift and masked_engine.denoiser.path == "head+decoder"

    config = json.loads((shifted_dir / "config.json").read_text())
    assert shifted_engine.special.mask == config["mask_token_id"]
    assert shifted_engine.shift and shifted_engine.denoiser.path == "lm_head"
    assert shifted_engine.special.stop == {config["eos_token_id"]}


def test_refine_keeps_the_clamped_tokens(masked_engine, monkeypatch):
    import diffusion_lsp.engine.masked_engine as module

    seen = []

    def spy(denoiser, tokens, attention, free, **kwargs):
        sample = real(denoiser, tokens, attention, free, **kwargs)
        seen.append((tokens, free, sample.tokens))
        return sample

    real = module.denoise
    monkeypatch.setattr(module, "denoise", spy)
    text = "return a + b + c + d"
    result = masked_engine.refine(RefineRequest(PREFIX, text, SUFFIX, fraction=0.25, steps=2))
    assert result.nfe == 3  # the scoring forward, then two denoising steps
    ((before, free, after),) = seen
    n_span = len(masked_engine.tokenizer(text, add_special_tokens=False)["input_ids"])
    assert int(free.sum()) == round(0.25 * n_span)
    assert (after[~free] == before[~free]).all()  # clamped tokens never change
    assert (after[free] != masked_engine.special.mask).all()  # every renoised token was filled

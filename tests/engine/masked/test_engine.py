"""Tiny random real-architecture masked models, loaded through ``load_engine`` as users load them."""

from __future__ import annotations

import dataclasses
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
    import diffusion_lsp.engine.masked.engine as module

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


def _rows(engine, lengths):
    from diffusion_lsp.engine.tokens import build_canvas, encode

    prefix, suffix = encode(engine.tokenizer, PREFIX), encode(engine.tokenizer, SUFFIX)
    before, after = [*engine._lead, *prefix], [*suffix, *engine.special.tail]
    return [(before, [engine.special.mask] * n, after) for n in lengths], build_canvas


@pytest.mark.parametrize("which", ["masked_engine", "shifted_engine"])
def test_head_on_masked_rows_equals_the_full_logits(request, which):
    import torch

    engine = request.getfixturevalue(which)
    rows, build = _rows(engine, (3, 9))
    canvas = build(rows, [[True] * 3, [True] * 9], engine.special.pad, "cpu")
    sel = canvas.free.nonzero(as_tuple=True)
    fast = engine.denoiser(canvas.tokens, canvas.attention, sel)  # [N, V]
    with torch.no_grad():
        full = engine.model(input_ids=canvas.tokens, attention_mask=canvas.attention.long()).logits
    pos = sel[1] - 1 if engine.shift else sel[1]
    torch.testing.assert_close(fast, full[sel[0], pos].float(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("which", ["masked_engine", "shifted_engine"])
@pytest.mark.parametrize("temperature", [0.0, 0.9])
def test_batched_candidates_equal_one_at_a_time_runs(request, which, temperature):
    from diffusion_lsp.engine.masked.loop import denoise, row_generators

    engine = request.getfixturevalue(which)
    lengths = (2, 5, 11)
    rows, build = _rows(engine, lengths)

    def run(subset):
        canvas = build(subset, [[True] * len(r[1]) for r in subset], engine.special.pad, "cpu")
        out = denoise(
            engine.denoiser,
            canvas.tokens,
            canvas.attention,
            canvas.free,
            mask_id=engine.special.mask,
            policy=engine.policy,
            steps=4,
            temperature=temperature,
            generators=row_generators([7] * len(subset), "cpu"),
        )
        return [
            (out.tokens[r, a:b], out.confidence[r, a:b]) for r, (a, b) in enumerate(canvas.spans)
        ]

    batched = run(rows)
    for i, row in enumerate(rows):
        ((alone_tokens, alone_conf),) = run([row])
        assert alone_tokens.tolist() == batched[i][0].tolist()
        assert alone_conf.tolist() == pytest.approx(batched[i][1].tolist(), abs=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clamped_tokens_never_change(shifted_engine, seed):
    import torch

    from diffusion_lsp.engine.masked.loop import denoise, row_generators
    from diffusion_lsp.engine.tokens import build_canvas, encode

    engine = shifted_engine
    ((before, _, after),), _ = _rows(engine, (1,))
    span = encode(engine.tokenizer, "return a + b + c")
    g = torch.Generator().manual_seed(seed)
    free_span = (torch.rand((2, len(span)), generator=g) < 0.5).tolist()
    canvas = build_canvas([(before, span, after)] * 2, free_span, engine.special.pad, "cpu")
    before = canvas.tokens.clone()
    tokens = torch.where(canvas.free, engine.special.mask, canvas.tokens)
    out = denoise(
        engine.denoiser,
        tokens,
        canvas.attention,
        canvas.free,
        mask_id=engine.special.mask,
        policy=engine.policy,
        steps=3,
        temperature=1.0,
        generators=row_generators([seed] * 2, "cpu"),
    )
    assert out.tokens[~canvas.free].tolist() == before[~canvas.free].tolist()
    assert not (out.tokens == engine.special.mask).any()


def test_a_model_without_a_null_token_searches_the_length_all_the_same(masked_engine):
    """``search_length=False`` asks for one hole only of a model that ends an answer with null
    tokens; this one would write code into every slot of the longest hole."""
    assert not masked_engine.null_trained
    request = InfillRequest(PREFIX, SUFFIX, max_tokens=16, steps=2, single_line=True)
    searched = masked_engine.infill(request)
    one = masked_engine.infill(dataclasses.replace(request, search_length=False))
    assert masked_engine.denoiser._layout.batch == 3
    assert one.alternatives == searched.alternatives

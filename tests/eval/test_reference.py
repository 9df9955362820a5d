"""The harness's reference infiller: canvases filled, nulls and pads dropped, lengths searched."""

import torch

from diffusion_lsp.engine.api import InfillRequest
from diffusion_lsp.eval.reference import ReferenceInfiller, heal
from diffusion_lsp.train.model import PRESETS, build_config, build_model
from diffusion_lsp.train.tokenizer import NULL, special_ids


def test_heal_moves_a_trailing_space_after_code_only():
    assert heal("x = ") == ("x =", True)
    assert heal("    ") == ("    ", False)
    assert heal("x =") == ("x =", False)


def _infiller(tokenizer, **kw):
    torch.manual_seed(0)
    model = build_model(build_config(PRESETS["tiny"], special_ids(tokenizer), len(tokenizer)))
    return ReferenceInfiller(model, tokenizer, **kw)


def test_every_candidate_length_is_denoised_and_ranked(tokenizer):
    infiller = _infiller(tokenizer, max_steps=3)
    result = infiller.infill(
        InfillRequest("def f(x):\n    return ", "\n", lengths=(2, 5), single_line=True)
    )
    assert sorted(c.length for c in result.alternatives) == [2, 5]
    assert result.nfe <= 3
    assert result.text == result.alternatives[0].text
    assert "\n" not in result.text
    scores = [c.score for c in result.alternatives]
    assert scores == sorted(scores, reverse=True)


def test_null_and_pad_tokens_never_reach_the_text(tokenizer):
    infiller = _infiller(tokenizer)
    null = tokenizer.convert_tokens_to_ids(NULL)
    word = tokenizer("total", add_special_tokens=False)["input_ids"]
    canvas = [*word, null, tokenizer.pad_token_id, null]
    assert infiller.text_of(canvas, single_line=False) == "total"
    assert infiller.text_of([*word, tokenizer.eos_token_id, *word], single_line=False) == "total"

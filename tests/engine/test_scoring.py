"""The shared scoring pieces: disagreements from logits, and token offsets in a window."""

from __future__ import annotations

import math

import pytest
import torch

from diffusion_lsp.engine.scoring import disagreements, token_spans
from diffusion_lsp.engine.tokens import decode, encode


def test_disagreement_is_top_minus_current_and_banned_ids_are_never_the_top():
    logits = torch.log(torch.tensor([[0.1, 0.6, 0.3], [0.1, 0.6, 0.3], [0.5, 0.4, 0.1]]))
    gaps, tops, logprobs = disagreements(logits, [2, 1, 1], banned={0})
    assert tops == [1, 1, 1]  # row 3: id 0 is banned, so 1 is the top
    assert gaps[0] == pytest.approx((0.6 - 0.3) / 0.9) and gaps[1] == 0.0  # renormalized
    assert gaps[2] == 0.0  # the current token is the top once 0 is banned
    assert logprobs == pytest.approx(
        [math.log(0.3 / 0.9), math.log(0.6 / 0.9), math.log(0.4 / 0.5)]
    )
    gaps, _, logprobs = disagreements(logits[:1], [0], banned={0})
    assert gaps[0] == pytest.approx(0.6 / 0.9)  # a banned current token has no probability
    assert logprobs == [-1e4]  # log 0, kept finite


def test_token_spans_give_a_split_character_to_each_token_that_holds_part_of_it(masked_engine):
    tok = masked_engine.tokenizer
    text = "s = 'é日本🙂'\n"
    ids = encode(tok, text)
    spans = token_spans(tok, ids, text, 10)
    assert len(spans) == len(ids) > len(text)  # the tiny vocabulary splits these characters
    assert spans[0][0] == 10 and spans[-1][1] == 10 + len(text)
    for (s, e), i in zip(spans, ids):
        piece = decode(tok, [i])
        assert e > s
        if "\ufffd" not in piece:
            assert text[s - 10 : e - 10] == piece
        else:
            assert all(ord(c) > 127 for c in text[s - 10 : e - 10])
    starts = [s for s, _ in spans]
    assert starts == sorted(starts)

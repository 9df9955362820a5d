"""The harness scores what the product's engine returns: its requests, its length ladder, its text."""

import pytest

from diffusion_lsp.engine.api import EngineInfo, InfillRequest
from diffusion_lsp.engine.candidates import default_lengths
from diffusion_lsp.engine.masked.engine import MaskedDiffusionEngine
from diffusion_lsp.engine.testing.oracle import OracleDenoiser
from diffusion_lsp.eval.holes import Hole
from diffusion_lsp.eval.run_holes import (
    MAX_TOKENS,
    SETTINGS,
    oracle_tokens,
    request_for,
    run_engine,
    summarize,
)

PREFIX, ANSWER, SUFFIX = "def f(x):\n    total = x", " + 1", "\n    return total\n"


@pytest.fixture(scope="module")
def loaded(tiny_dir):
    from diffusion_lsp.engine import load_engine
    from diffusion_lsp.engine.api import ModelSpec

    return load_engine(ModelSpec(model=str(tiny_dir), device="cpu"))


class Recording:
    """Passes every request to ``engine`` and keeps (request, result)."""

    def __init__(self, engine):
        self.engine = engine
        self.calls = []

    def infill(self, request, cancel=None):
        result = self.engine.infill(request, cancel)
        self.calls.append((request, result))
        return result


def _hole(kind="single-line", prefix=PREFIX, answer=ANSWER, suffix=SUFFIX):
    return Hole(kind, "python", "x.py", prefix, answer, suffix)


def test_an_oracle_denoiser_behind_the_engine_makes_every_hole_exact(loaded, tokenizer):
    # The oracle knows the answer; a harness that filled holes without the engine's denoiser
    # (its own loop over the random tiny model) would not find it.
    enc = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    special = loaded.special
    oracle = OracleDenoiser(
        enc(ANSWER),
        vocab_size=len(tokenizer),
        hole_start=len(special.lead) + len(enc(PREFIX)),
        after=len(enc(SUFFIX)) + len(special.tail),
        filler=min(special.filler - {special.pad}),  # the null token
    )
    info = EngineInfo(model="oracle", family="masked", device="cpu", dtype="float32")
    engine = MaskedDiffusionEngine(
        loaded.model, tokenizer, info, special=special, denoiser=oracle, shift=False
    )
    count = oracle_tokens(tokenizer)
    scored = run_engine(engine, [_hole()], SETTINGS, lambda h: count(h.prefix, h.answer))
    assert [s.prediction for s in scored] == [ANSWER, ANSWER]
    assert oracle.calls > 0
    table = summarize(scored)
    assert table["oracle"]["all"]["exact_match"] == 1.0
    assert table["realistic"]["all"]["exact_match"] == 1.0


def test_predictions_are_the_engines_texts_for_the_harness_requests(loaded, tokenizer):
    holes = [_hole(), _hole("multi-line", "def f(x):\n", "    y = x\n    return y\n", "")]
    count = oracle_tokens(tokenizer)
    recording = Recording(loaded)
    scored = run_engine(recording, holes, SETTINGS, lambda h: count(h.prefix, h.answer))
    assert [s.prediction for s in scored] == [r.text for _, r in recording.calls]
    assert [(s.setting, s.hole) for s in scored] == [(s, h) for s in SETTINGS for h in holes]
    for s, (request, result) in zip(scored, recording.calls):
        n = count(s.hole.prefix, s.hole.answer)
        single = s.hole.kind == "single-line"
        assert request == request_for(s.hole, s.setting, lambda h, n=n: n, context_tokens=1000)
        assert request.single_line is single
        if s.setting == "oracle":
            assert request.lengths == (n,)  # the exact hole length, one candidate
            assert [c.length for c in result.alternatives] == [n]
        else:
            # no lengths named: the engine searches its own ladder
            assert request.lengths is None
            ladder = set(default_lengths(MAX_TOKENS[s.hole.kind], single))
            assert {c.length for c in result.alternatives} <= ladder
        # the engine is deterministic for a request: a fresh call gives the scored text
        assert loaded.infill(request).text == s.prediction


def test_oracle_length_counts_the_space_the_engine_heals_into_the_hole(tokenizer):
    count = oracle_tokens(tokenizer)
    spaced = tokenizer(" total", add_special_tokens=False)["input_ids"]
    assert count("x = ", "total") == len(spaced)
    assert count("x =", " total") == len(spaced)


def test_the_oracle_request_names_one_length_and_the_realistic_none():
    hole = _hole("block")
    oracle = request_for(hole, "oracle", lambda h: 7)
    assert (oracle.lengths, oracle.max_tokens, oracle.single_line) == ((7,), 7, False)
    realistic = request_for(hole, "realistic", lambda h: 7)
    assert realistic == InfillRequest(
        hole.prefix, hole.suffix, max_tokens=MAX_TOKENS["block"], context_tokens=1000
    )

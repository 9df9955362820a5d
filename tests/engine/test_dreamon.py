"""DreamOn through the product's engine: a checkpoint with an expand token fills a hole whose length
changes while it is denoised, from the tiny published layout loaded natively (no remote code)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from diffusion_lsp.engine import load_engine  # noqa: E402
from diffusion_lsp.engine.api import InfillRequest, ModelSpec, RefineRequest  # noqa: E402
from diffusion_lsp.engine.masked.engine import EXPAND_START, MaskedDiffusionEngine  # noqa: E402
from diffusion_lsp.engine.testing.oracle import ExpandingOracle  # noqa: E402
from diffusion_lsp.engine.testing.published import build  # noqa: E402
from diffusion_lsp.engine.tokens import encode  # noqa: E402

PREFIX, SUFFIX = "def add(a, b):\n    return", "\n\nprint(add(1, 2))\n"


@pytest.fixture(scope="module")
def dreamon(tmp_path_factory):
    return load_engine(ModelSpec(model=str(build(tmp_path_factory.mktemp("dreamon"), "dreamon"))))


def _with_oracle(engine, answer: str) -> tuple[MaskedDiffusionEngine, ExpandingOracle]:
    tok = engine.tokenizer
    oracle = ExpandingOracle(
        encode(tok, answer),
        vocab_size=engine.model.config.vocab_size,
        hole_start=len(engine._lead) + len(encode(tok, PREFIX)),
        after=len(encode(tok, SUFFIX)) + 1,  # the suffix, then eos
        expand_id=engine.special.expand,
        delete_id=tok.eos_token_id,
    )
    wrapped = MaskedDiffusionEngine(
        engine.model, tok, engine.info, special=engine.special, denoiser=oracle
    )
    return wrapped, oracle


@pytest.mark.parametrize("answer", [" a", " a + b", " a + b if a else b - a * 2"])
def test_the_hole_takes_the_length_of_its_answer(dreamon, answer):
    engine, oracle = _with_oracle(dreamon, answer)
    n = len(encode(dreamon.tokenizer, answer))
    result = engine.infill(InfillRequest(prefix=PREFIX, suffix=SUFFIX, max_tokens=32))
    assert result.text == answer
    assert (
        result.alternatives[0].length == n
    )  # grew past, or shrank below, the 4 masks it began with
    assert n != EXPAND_START
    assert oracle.calls == result.nfe


def test_the_budget_caps_the_growth(dreamon):
    engine, _ = _with_oracle(dreamon, " a + b if a else b - a * 2 + a * b")
    result = engine.infill(InfillRequest(prefix=PREFIX, suffix=SUFFIX, max_tokens=6))
    assert result.alternatives[0].length <= 6
    assert "<|expand|>" not in result.text and "<|mask|>" not in result.text


@pytest.mark.parametrize(("favour", "grows"), [("<|expand|>", True), ("<|endoftext|>", False)])
def test_a_real_forward_grows_or_shrinks_the_hole(tmp_path, favour, grows):
    """Random weights that prefer the expand token (or end-of-text) everywhere: the engine's loop
    grows the hole to its budget (or deletes every slot), through the native Qwen2 forward."""
    engine = load_engine(ModelSpec(model=str(build(tmp_path, "dreamon", favour=favour))))
    result = engine.infill(InfillRequest(prefix=PREFIX, suffix=SUFFIX, max_tokens=10))
    length = result.alternatives[0].length
    if grows:
        assert EXPAND_START < length <= 10
    else:
        assert length < EXPAND_START and result.text == ""
    assert "<|expand|>" not in result.text


def test_refine_keeps_its_length_and_never_writes_the_expand_token(tmp_path):
    engine = load_engine(ModelSpec(model=str(build(tmp_path, "dreamon", favour="<|expand|>"))))
    result = engine.refine(
        RefineRequest(prefix=PREFIX, text="a + b", suffix=SUFFIX, fraction=1.0, max_tokens=16)
    )
    assert "<|expand|>" not in result.text


def test_a_fixed_length_request_uses_the_fixed_length_loop(dreamon):
    engine, oracle = _with_oracle(dreamon, " a + b")
    n = len(encode(dreamon.tokenizer, " a + b"))
    result = engine.infill(InfillRequest(prefix=PREFIX, suffix=SUFFIX, max_tokens=16, lengths=(n,)))
    assert result.alternatives[0].length == n

"""Policies and the sampler against the deterministic oracle: exact outputs, schedules, cancellation."""

from __future__ import annotations

import pytest
import torch

from diffusion_lsp.engine.api import Cancelled, CancelToken, EngineInfo, InfillRequest
from diffusion_lsp.engine.checkpoint import SpecialIds
from diffusion_lsp.engine.masked.engine import MaskedDiffusionEngine
from diffusion_lsp.engine.masked.loop import denoise, row_generators
from diffusion_lsp.engine.masked.policy import ConfidenceThreshold, TopKPerStep
from diffusion_lsp.engine.testing.oracle import OracleDenoiser

MASK, PAD, EOS, V = 9, 0, 1, 12


def test_top_k_per_step_spreads_the_tokens_evenly_and_ends_on_the_last_step():
    masked = torch.ones((1, 10), dtype=torch.bool)
    conf = torch.arange(10.0).unsqueeze(0)  # position 9 most confident
    policy, counts = TopKPerStep(), []
    for step in range(4):
        commit = policy.select(conf, masked, step, 4)
        counts.append(int(commit.sum()))
        assert not (commit & ~masked).any()
        if step == 0:
            assert commit[0].nonzero().flatten().tolist() == [7, 8, 9]  # most confident first
        masked &= ~commit
    assert counts == [3, 3, 2, 2] and not masked.any()


def test_confidence_threshold_commits_all_above_and_at_least_the_schedule():
    masked = torch.ones((2, 6), dtype=torch.bool)
    conf = torch.tensor([[0.95, 0.2, 0.97, 0.1, 0.3, 0.91], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]])
    commit = ConfidenceThreshold(0.9).select(conf, masked, 0, 6)
    assert commit[0].nonzero().flatten().tolist() == [0, 2, 5]
    assert commit[1].nonzero().flatten().tolist() == [5]  # the floor: one per step
    assert ConfidenceThreshold(0.9).select(conf, masked, 5, 6).equal(masked)  # last step: all


def _canvas(hole: int, before=(5, 6), after=(7,)):
    row = [*before, *([MASK] * hole), *after]
    tokens = torch.tensor([row])
    free = torch.zeros_like(tokens, dtype=torch.bool)
    free[0, len(before) : len(before) + hole] = True
    return tokens, torch.ones_like(free), free


def test_sampler_writes_the_oracle_answer_in_confidence_order():
    answer = [2, 3, 4, 5]
    oracle = OracleDenoiser(answer, vocab_size=V, hole_start=2, after=1, filler=PAD)
    tokens, attention, free = _canvas(6)
    order: list[list[int]] = []

    class Recording(TopKPerStep):
        def select(self, confidence, masked, step, steps):
            commit = super().select(confidence, masked, step, steps)
            order.append(commit[0].nonzero().flatten().tolist())
            return commit

    out = denoise(
        oracle,
        tokens,
        attention,
        free,
        mask_id=MASK,
        policy=Recording(),
        steps=3,
        temperature=0.0,
        generators=row_generators([0], "cpu"),
    )
    assert out.tokens[0].tolist() == [5, 6, 2, 3, 4, 5, PAD, PAD, 7]
    assert out.nfe == oracle.calls == 3
    assert order == [[2, 3], [4, 5], [6, 7]]  # the hole's first positions are the most confident
    assert out.confidence[0, 2].item() == pytest.approx(0.99, abs=1e-3)


def test_cancel_ends_the_run_within_one_step():
    oracle = OracleDenoiser([2, 3, 4, 5], vocab_size=V, hole_start=2, after=1, filler=PAD)
    token = CancelToken()
    tokens, attention, free = _canvas(8)

    def cancelling(*args):
        if oracle.calls == 2:
            token.cancel("test")
        return oracle(*args)

    with pytest.raises(Cancelled):
        denoise(
            cancelling,
            tokens,
            attention,
            free,
            mask_id=MASK,
            policy=TopKPerStep(),
            steps=8,
            temperature=0.0,
            generators=row_generators([0], "cpu"),
            cancel=token,
        )
    assert oracle.calls == 3  # the step that saw the flag set was the last one


@pytest.fixture
def oracle_engine(masked_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(masked_dir)
    special = SpecialIds(
        mask=tok.mask_token_id,
        pad=tok.pad_token_id,
        stop=frozenset({tok.sep_token_id}),
        filler=frozenset({tok.pad_token_id}),
        lead=(tok.cls_token_id,),
        tail=(tok.sep_token_id,),
    )

    def make(prefix: str, suffix: str, answer: str) -> tuple[MaskedDiffusionEngine, OracleDenoiser]:
        enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
        oracle = OracleDenoiser(
            enc(answer),
            vocab_size=len(tok),
            hole_start=1 + len(enc(prefix)),
            after=len(enc(suffix)) + 1,
            filler=tok.pad_token_id,
        )
        info = EngineInfo(model="oracle", family="masked", device="cpu", dtype="float32")
        engine = MaskedDiffusionEngine(
            None, tok, info, special=special, denoiser=oracle, shift=False
        )
        return engine, oracle

    return make


def test_length_search_finds_the_answer_and_drops_the_filler(oracle_engine):
    prefix, suffix, answer = "def add(a, b):\n    ", "\n", "return a + b"
    engine, oracle = oracle_engine(prefix, suffix, answer)
    result = engine.infill(
        InfillRequest(prefix, suffix, lengths=(2, 4, 8, 16), steps=4, alternatives=4)
    )
    assert result.text == answer
    assert oracle.calls == result.nfe == 4  # every length in the same forward
    n_answer = len(oracle.answer)
    assert 2 < n_answer <= 8
    assert result.alternatives[0].length >= n_answer  # long enough for the answer
    assert result.alternatives[-1].length == 2 and result.alternatives[-1].score < 0.1
    assert len(result.confidence) == n_answer  # the filler's confidence is trimmed with it


def test_single_line_cuts_at_the_first_newline(oracle_engine):
    prefix, suffix, answer = "x = (", ")\n", "1 +\n 2"
    engine, _ = oracle_engine(prefix, suffix, answer)
    result = engine.infill(InfillRequest(prefix, suffix, lengths=(8,), single_line=True))
    assert result.text == "1 +"


def test_context_is_windowed_to_the_token_budget(oracle_engine):
    far = "".join(f"line_{i} = {i}\n" for i in range(400))
    prefix, suffix, answer = far + "x =", "\n" + far, "1"
    engine, oracle = oracle_engine("x =", "\n", answer)  # the window keeps only the near lines
    seen = []
    real = oracle.__call__

    def spy(tokens, attention, rows):
        seen.append(tokens.shape[1])
        return real(tokens, attention, rows)

    engine.denoiser = spy
    engine.infill(InfillRequest(prefix, suffix, lengths=(4,), context_tokens=8))
    assert seen and max(seen) <= 2 + 4 + 8 + 12  # wrapper, hole, budget, the hole's own lines

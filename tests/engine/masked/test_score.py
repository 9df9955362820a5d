"""``MaskedDiffusionEngine.score``: strided masks over the windows, windows close together in one
canvas, every row in one denoiser call, exact against the target oracle, and the real tiny models'
shapes and bounds."""

from __future__ import annotations

import math

import pytest
import torch

from diffusion_lsp.engine.api import (
    Cancelled,
    CancelToken,
    InfillRequest,
    RefineRequest,
    ScoreRequest,
)
from diffusion_lsp.engine.masked import score as score_module
from diffusion_lsp.engine.masked.engine import PREAMBLE_TOKENS
from diffusion_lsp.engine.testing.oracle import TargetOracle, with_denoiser
from diffusion_lsp.engine.tokens import decode, encode

# ``value`` is one token of the tiny tokenizer, so the document and its target line up 1:1.
DOC = "def f(value):\n    return x + 1\n"
TARGET = "def f(value):\n    return value + 1\n"
X = DOC.index("x")
PLUS = DOC.index(" + 1")


class Spy:
    """Wraps a denoiser; keeps each call's canvas and asked-for rows."""

    def __init__(self, inner):
        self.inner, self.seen = inner, []
        self.shift = False

    def __call__(self, tokens, attention, rows):
        self.seen.append((tokens.clone(), attention.clone(), (rows[0].clone(), rows[1].clone())))
        return self.inner(tokens, attention, rows)


@pytest.fixture
def oracle_engine(masked_engine):
    oracle = TargetOracle.for_engine(masked_engine, TARGET)
    spy = Spy(oracle)
    return with_denoiser(masked_engine, spy), oracle, spy


def test_the_window_over_the_stale_name_scores_high_and_the_rest_zero(oracle_engine):
    engine, oracle, _ = oracle_engine
    windows = ((X, X + 1), (PLUS, PLUS + 4), (0, len(DOC)))
    result = engine.score(ScoreRequest(DOC, windows))
    assert oracle.calls == result.nfe == 1  # every row of every window in one call
    over_x, over_plus, whole = result.windows
    assert over_x.score >= 0.9 and over_x.tokens[0].top == " value"
    assert over_plus.score < 1e-6 and all(t.disagreement == 0 for t in over_plus.tokens)
    # in the whole document only the stale name disagrees
    high = [DOC[t.start : t.end] for t in whole.tokens if t.disagreement > 0.5]
    assert high == [" x"] and math.isclose(whole.score, over_x.score, rel_tol=1e-6)
    # each token's log probability where masked: the oracle's 0.99 on what it agrees with
    assert all(math.log(0.99) <= t.logprob <= 0 for t in over_plus.tokens)  # (bans renormalize)
    assert over_x.tokens[0].logprob < math.log(0.01)
    assert result.timings.total_ms >= result.timings.denoise_ms > 0


def test_token_offsets_are_exact(oracle_engine, masked_engine):
    engine, _, _ = oracle_engine
    windows = ((X - 1, X + 1), (0, len(DOC)), (DOC.index("return"), len(DOC)))
    result = engine.score(ScoreRequest(DOC, windows))
    for (a, b), window in zip(windows, result.windows):
        ids = encode(masked_engine.tokenizer, DOC[a:b])
        assert [DOC[t.start : t.end] for t in window.tokens] == [
            decode(masked_engine.tokenizer, [i]) for i in ids
        ]
        assert window.tokens[0].start == a and window.tokens[-1].end == b


def test_each_window_has_stride_rows_and_masks_every_token_once(oracle_engine, masked_engine):
    engine, _, spy = oracle_engine
    windows = ((0, len(DOC)), (X, X + 1), (PLUS, PLUS + 4))
    engine.score(ScoreRequest(DOC, windows, stride=4))
    ((tokens, attention, (b, pos)),) = spy.seen
    sizes = [len(encode(masked_engine.tokenizer, DOC[a:c])) for a, c in windows]
    assert sizes[0] > 4 and sizes[1] == 1 and sizes[2] == 2
    assert tokens.shape[0] == sum(min(4, n) for n in sizes)  # a short window: fewer rows
    mask = masked_engine.special.mask
    assert bool(((tokens == mask) & attention).nonzero(as_tuple=True)[0].eq(b).all())
    row = 0
    for n in sizes:
        rows = min(4, n)
        masked = [set((tokens[row + k] == mask).nonzero().flatten().tolist()) for k in range(rows)]
        start = min(min(m) for m in masked)
        assert sorted(p for m in masked for p in m) == list(range(start, start + n))  # once each
        for k, m in enumerate(masked):
            assert m == set(range(start + k, start + n, 4))  # row k: every 4th from k
        row += rows


LINES = "def f(value):\n    a = x + 1\n    b = a * 2\n    return x - b\n"
LINES_TARGET = LINES.replace("x", "value")


def _line_windows(text):
    """Each body line from the line break before it, as region.next_edit scores them."""
    starts = [i for i, c in enumerate(text) if c == "\n"][:-1]
    return tuple((a, text.index("\n", a + 1)) for a in starts)


def test_windows_close_together_share_one_canvas_of_stride_rows(masked_engine):
    spy = Spy(TargetOracle.for_engine(masked_engine, LINES_TARGET))
    engine = with_denoiser(masked_engine, spy)
    windows = _line_windows(LINES)
    result = engine.score(ScoreRequest(LINES, windows, stride=4))
    ((tokens, attention, _),) = spy.seen
    sizes = [len(encode(masked_engine.tokenizer, LINES[a:b])) for a, b in windows]
    assert tokens.shape[0] == 4 < sum(min(4, n) for n in sizes)  # one canvas, not one per window
    mask = masked_engine.special.mask
    masked = [((tokens[k] == mask) & attention[k]).nonzero().flatten().tolist() for k in range(4)]
    every = sorted(p for m in masked for p in m)
    assert len(every) == len(set(every)) == sum(sizes)  # each window token masked once
    assert all(b - a >= 4 for m in masked for a, b in zip(m, m[1:]))  # stride apart in a row
    # the stale uses, and only they, disagree
    stale = [
        LINES[t.start : t.end] for w in result.windows for t in w.tokens if t.disagreement > 0.5
    ]
    assert stale == [" x", " x"]
    assert result.windows[1].score < 1e-6


def test_windows_far_apart_or_overlapping_get_canvases_of_their_own(masked_engine, monkeypatch):
    tok = masked_engine.tokenizer
    windows = _line_windows(LINES)
    ids = [encode(tok, LINES[a:b]) for a, b in windows]
    assert len(score_module._group(tok, LINES, windows, ids)) == 1
    overlapping = (windows[0], (windows[0][0] + 1, windows[1][1]))
    two = [encode(tok, LINES[a:b]) for a, b in overlapping]
    assert len(score_module._group(tok, LINES, overlapping, two)) == 2
    monkeypatch.setattr(score_module, "MAX_GAP_TOKENS", 0)
    apart = (windows[0], windows[2])  # a line between them
    assert len(score_module._group(tok, LINES, apart, [ids[0], ids[2]])) == 2


def test_too_many_rows_run_in_chunks_and_score_the_same(oracle_engine, monkeypatch):
    engine, oracle, _ = oracle_engine
    request = ScoreRequest(DOC, ((0, len(DOC)), (X, X + 1), (PLUS, PLUS + 4)), stride=4)
    whole = engine.score(request)
    monkeypatch.setattr(score_module, "MAX_SCORE_ROWS", 3)
    chunked = engine.score(request)
    assert whole.nfe == 1 and chunked.nfe == math.ceil((4 + 1 + 2) / 3)
    assert chunked.windows == whole.windows


def test_a_set_cancel_token_raises_and_is_checked_between_chunks(oracle_engine, monkeypatch):
    engine, oracle, spy = oracle_engine
    request = ScoreRequest(DOC, ((0, len(DOC)),), stride=4)
    cancel = CancelToken()
    cancel.cancel("typed")
    with pytest.raises(Cancelled):
        engine.score(request, cancel)
    assert oracle.calls == 0
    monkeypatch.setattr(score_module, "MAX_SCORE_ROWS", 1)
    cancel = CancelToken()

    def cancel_after(tokens, attention, rows):
        cancel.cancel("typed")
        return spy(tokens, attention, rows)

    with pytest.raises(Cancelled):
        with_denoiser(engine, cancel_after).score(request, cancel)
    assert oracle.calls == 1


def test_an_empty_window_scores_zero(oracle_engine):
    engine, oracle, _ = oracle_engine
    result = engine.score(ScoreRequest(DOC, ((X, X), (X, X + 1))))
    assert result.windows[0].score == 0.0 and result.windows[0].tokens == ()
    assert result.windows[1].score >= 0.9 and oracle.calls == 1


def test_scoring_and_infill_line_up_with_a_preamble(masked_engine):
    preamble = "# edited: renamed x to value\n"
    oracle = TargetOracle.for_engine(masked_engine, TARGET, preamble=preamble)
    spy = Spy(oracle)
    engine = with_denoiser(masked_engine, spy)
    scored = engine.score(ScoreRequest(DOC, ((X, X + 1), (PLUS, PLUS + 4)), preamble=preamble))
    assert scored.windows[0].score >= 0.9 and scored.windows[1].score < 1e-6
    filled = engine.infill(
        InfillRequest(DOC[:X], DOC[X + 1 :], lengths=(1, 2, 4), steps=4, preamble=preamble)
    )
    assert filled.text == "value"
    engine.refine(RefineRequest(DOC[:X], "x + 1", DOC[X + 5 :], steps=2, preamble=preamble))
    lead = [*masked_engine.special.lead, *encode(masked_engine.tokenizer, preamble)]
    assert len(spy.seen) >= 1 + 1 + 1  # the score call, the infill steps, refine's forwards
    for tokens, _, _ in spy.seen:
        assert tokens[:, : len(lead)].eq(torch.tensor(lead)).all()


def test_the_preamble_survives_a_tiny_context_and_is_capped_at_its_end(masked_engine):
    far = "".join(f"line_{i} = {i}\n" for i in range(200))
    preamble = "# recent: renamed x to value\n"
    spy = Spy(lambda t, a, r: torch.zeros((len(r[0]), masked_engine.model.config.vocab_size)))
    engine = with_denoiser(masked_engine, spy)
    engine.infill(
        InfillRequest(
            far + "y =", "\n" + far, lengths=(2,), steps=1, context_tokens=8, preamble=preamble
        )
    )
    ((tokens, _, _),) = spy.seen
    ids = encode(masked_engine.tokenizer, preamble)
    assert tokens[0, 1 : 1 + len(ids)].tolist() == ids
    assert tokens.shape[1] <= 2 + len(ids) + 2 + 8 + 12  # wrapper, preamble, hole, budget, lines
    long = "".join(f"edit {i}\n" for i in range(300))
    lead, _ = masked_engine.frame(long)
    assert lead == [
        *masked_engine.special.lead,
        *encode(masked_engine.tokenizer, long)[-PREAMBLE_TOKENS:],
    ]


@pytest.mark.parametrize("which", ["masked_engine", "shifted_engine"])
def test_the_tiny_models_score_in_one_forward_within_bounds(request, which):
    engine = request.getfixturevalue(which)
    text = "def add(a, b):\n    return a + b\n\nprint(add(1, 2))\n"
    # (0, 14) and (2, 31) overlap, so each has a canvas; (19, 20) shares one with the print line
    windows = ((0, 14), (2, 31), (text.index("print"), len(text)), (19, 20))
    forwards = []
    hook = engine.model.model.register_forward_hook(lambda *_: forwards.append(1))
    try:
        together = engine.score(ScoreRequest(text, windows, stride=3))
    finally:
        hook.remove()
    assert len(forwards) == together.nfe == 1
    assert len(together.windows) == len(windows)
    for (a, b), window in zip(windows, together.windows):
        assert len(window.tokens) == len(encode(engine.tokenizer, text[a:b]))
        assert all(0.0 <= t.disagreement <= 1.0 for t in window.tokens)
        assert window.score == max(t.disagreement for t in window.tokens)
        assert all(t.top not in ("[MASK]", "<|mask|>") for t in window.tokens)
    # padding the rows to one batch changes nothing: a window with a canvas of its own scores as
    # it does alone (windows that share a canvas see each other's masks, so they may differ)
    ids = [encode(engine.tokenizer, text[a:b]) for a, b in windows]
    canvases = score_module._group(engine.tokenizer, text, windows, ids)
    own = {c.pieces[0][0] for c in canvases if len(c.pieces) == 1}
    assert len(own) >= 2
    for w, window in zip(windows, together.windows):
        if windows.index(w) not in own:
            continue
        alone = engine.score(ScoreRequest(text, (w,), stride=3)).windows[0]
        assert [t.top for t in alone.tokens] == [t.top for t in window.tokens]
        assert [t.disagreement for t in alone.tokens] == pytest.approx(
            [t.disagreement for t in window.tokens], abs=1e-5
        )


def test_banned_ids_never_count_as_the_top(masked_engine):
    special = masked_engine.special
    vocab = masked_engine.model.config.vocab_size

    def loves_the_mask(tokens, attention, rows):
        logits = torch.zeros((len(rows[0]), vocab))
        logits[:, special.mask] = 50.0
        logits[:, 7] = 5.0
        return logits

    result = with_denoiser(masked_engine, loves_the_mask).score(ScoreRequest(DOC, ((0, len(DOC)),)))
    top = decode(masked_engine.tokenizer, [7])
    assert all(t.top == top for t in result.windows[0].tokens)


def test_a_dreamon_checkpoint_scores_like_any_masked_model(tmp_path):
    from diffusion_lsp.engine import load_engine
    from diffusion_lsp.engine.api import ModelSpec
    from diffusion_lsp.engine.testing.published import build

    engine = load_engine(ModelSpec(model=str(build(tmp_path, "dreamon"))))
    expand = engine.special.expand
    assert expand is not None
    result = engine.score(ScoreRequest(DOC, ((0, len(DOC)), (X, X + 1))))
    assert result.nfe == 1 and all(0 <= w.score <= 1 for w in result.windows)
    vocab = engine.model.config.vocab_size

    def wants_to_expand(tokens, attention, rows):
        logits = torch.zeros((len(rows[0]), vocab))
        logits[:, expand] = 50.0
        return logits

    engine.denoiser, engine._denoiser_given = wants_to_expand, True
    tokens = engine.score(ScoreRequest(DOC, ((X, X + 1),))).windows[0].tokens
    assert tokens[0].top != decode(engine.tokenizer, [expand])

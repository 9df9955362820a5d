"""DreamOn's variable-length loop: the hole grows through the expand token up to its budget and
shrinks through end-of-text, and the answer that comes out is the one the denoiser meant."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from diffusion_lsp.engine.masked.expand import Row, denoise_expanding  # noqa: E402
from diffusion_lsp.engine.masked.loop import row_generators  # noqa: E402
from diffusion_lsp.engine.testing.oracle import ExpandingOracle  # noqa: E402

V, MASK, EXPAND, EOS, PAD = 64, 60, 61, 62, 63
BEFORE, AFTER = [1, 2, 3], [4, 5, EOS]


def run(answers, start=4, budget=16, temperature=0.0, **kw):
    rows = [Row(list(BEFORE), [MASK] * start, list(AFTER)) for _ in answers]
    sample_rows = []
    nfe = 0
    for row, answer in zip(rows, answers):
        oracle = ExpandingOracle(
            answer,
            vocab_size=V,
            hole_start=len(BEFORE),
            after=len(AFTER),
            expand_id=EXPAND,
            delete_id=EOS,
        )
        out = denoise_expanding(
            oracle,
            [row],
            mask_id=MASK,
            expand_id=EXPAND,
            delete_id=EOS,
            budget=budget,
            temperature=temperature,
            generators=row_generators([0], torch.device("cpu")),
            pad_id=PAD,
            **kw,
        )
        sample_rows += out.rows
        nfe += out.nfe
    return sample_rows, nfe


@pytest.mark.parametrize("answer", [[7] * 1, [7, 8], [7, 8, 9, 10], list(range(10, 19))])
def test_the_hole_takes_the_answers_length(answer):
    (row,), _ = run([answer])
    assert row.hole == answer
    assert row.before == BEFORE and row.after == AFTER
    assert (row.expanded > 0) == (len(answer) > 4)
    assert (row.deleted > 0) == (len(answer) < 4)
    assert all(c > 0.5 for c in row.confidence)


def test_expansion_stops_at_the_budget():
    (row,), nfe = run([list(range(10, 30))], budget=6)
    assert len(row.hole) <= 6
    assert MASK not in row.hole and EXPAND not in row.hole
    assert nfe <= 2 * 6 + 2


def test_a_batch_of_rows_of_different_lengths_equals_each_row_alone():
    """Rows shrink and grow independently in one batch (padded on the right, masked out)."""
    answers = {3: [7, 8], 9: list(range(10, 17))}  # keyed by the token before the hole
    oracles = {
        key: ExpandingOracle(
            a, vocab_size=V, hole_start=3, after=len(AFTER), expand_id=EXPAND, delete_id=EOS
        )
        for key, a in answers.items()
    }

    def per_row(tokens, attention, index):  # each row answered by its own oracle
        out = torch.zeros((len(index[0]), V))
        for b in index[0].unique().tolist():
            sel = index[0] == b
            oracle = oracles[int(tokens[b, 2])]
            rows = (torch.zeros_like(index[1][sel]), index[1][sel])
            out[sel] = oracle(tokens[b : b + 1], attention[b : b + 1], rows)
        return out

    rows = [Row([1, 2, key], [MASK] * 4, list(AFTER)) for key in answers]
    batched = denoise_expanding(
        per_row,
        rows,
        mask_id=MASK,
        expand_id=EXPAND,
        delete_id=EOS,
        budget=16,
        temperature=0.0,
        generators=row_generators([0, 0], torch.device("cpu")),
        pad_id=PAD,
    )
    assert [r.hole for r in batched.rows] == list(answers.values())


def test_the_mask_and_banned_ids_never_come_out():
    (row,), _ = run([[7, MASK - 1]], banned=[MASK - 1], temperature=0.0)
    assert MASK not in row.hole and (MASK - 1) not in row.hole


def test_cancel_stops_the_loop():
    from diffusion_lsp.engine.api import Cancelled, CancelToken

    token = CancelToken()
    token.cancel("typed")
    with pytest.raises(Cancelled):
        run([[7, 8]], cancel=token)

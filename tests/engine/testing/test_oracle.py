"""The target oracle's alignment rule, exactly: holes, strided scoring rows, mixed blocks."""

from __future__ import annotations

import math

import torch

from diffusion_lsp.engine.testing.oracle import TargetOracle

MASK, PAD, V = 99, 0, 100
TARGET = [1, 10, 11, 12, 13, 2]  # lead, four tokens, tail


def _call(oracle, rows):
    """Run ``oracle`` on unpadded ``rows`` asking for their masked positions: [row][pos] -> probs."""
    width = max(len(r) for r in rows)
    tokens = torch.full((len(rows), width), PAD)
    attention = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, r in enumerate(rows):
        tokens[i, : len(r)] = torch.tensor(r)
        attention[i, : len(r)] = True
    where = (tokens == MASK) & attention
    b, pos = where.nonzero(as_tuple=True)
    probs = oracle(tokens, attention, (b, pos)).softmax(-1)
    out: dict[tuple[int, int], torch.Tensor] = {}
    for k, (i, p) in enumerate(zip(b.tolist(), pos.tolist())):
        out[(i, p)] = probs[k]
    return out


def test_a_hole_gets_the_target_then_filler_and_a_short_one_is_uniform():
    oracle = TargetOracle(TARGET, V, PAD, mask_id=MASK)
    fits = [1, 10, MASK, MASK, 13, 2]
    longer = [1, 10, MASK, MASK, MASK, MASK, 13, 2]
    short = [1, 10, MASK, 13, 2]
    got = _call(oracle, [fits, longer, short])
    assert oracle.calls == 1
    assert [int(got[(0, p)].argmax()) for p in (2, 3)] == [11, 12]
    assert [int(got[(1, p)].argmax()) for p in (2, 3, 4, 5)] == [11, 12, PAD, PAD]
    assert math.isclose(float(got[(0, 2)].max()), 0.99, rel_tol=1e-5)
    assert math.isclose(float(got[(0, 2)][5]), 0.01 / (V - 1), rel_tol=1e-4)  # the rest uniform
    assert torch.allclose(got[(2, 2)], torch.full((V,), 1 / V))  # the answer does not fit


def test_a_strided_scoring_row_reads_each_masked_token_from_the_target():
    oracle = TargetOracle(TARGET, V, PAD, confidence=0.9, mask_id=MASK)
    current = [1, 10, 50, 12, 13, 2]  # the document has 50 where the target has 11
    stride = 2
    rows = [
        [MASK if 1 <= i <= 4 and (i - 1) % stride == k else t for i, t in enumerate(current)]
        for k in range(stride)
    ]
    got = _call(oracle, rows)
    # row 0 masks 10 and 12; row 1 masks 50 and 13: each token once, its target token back
    assert {(r, p): int(v.argmax()) for (r, p), v in got.items()} == {
        (0, 1): 10,
        (0, 3): 12,
        (1, 2): 11,
        (1, 4): 13,
    }
    assert math.isclose(float(got[(1, 2)].max()), 0.9, rel_tol=1e-5)


def test_a_mixed_block_counts_from_its_nearer_end():
    # R's 50 50 MASK vs T's 11 12 13 14 15: the mask, last in the block, is T's last (15), not
    # its third; the first mask of a longer block from its start; past T's side, the filler.
    oracle = TargetOracle([1, 11, 12, 13, 14, 15, 2], V, PAD, mask_id=MASK)
    assert oracle.answers([1, 50, 50, MASK, 2], {3}, [3]) == [15]
    assert oracle.answers([1, MASK, 50, 50, 2], {1}, [1]) == [11]
    oracle = TargetOracle([1, 11, 2], V, PAD, mask_id=MASK)
    assert oracle.answers([1, 50, MASK, 50, 2], {2}, [2]) == [PAD]


def test_without_a_mask_id_the_positions_asked_for_are_the_holes():
    oracle = TargetOracle(TARGET, V, PAD)
    row = torch.tensor([[1, 10, 7, 7, 13, 2]])  # 7: whatever the sampler's mask id is
    logits = oracle(
        row, torch.ones_like(row, dtype=torch.bool), (torch.tensor([0, 0]), torch.tensor([2, 3]))
    )
    assert logits.argmax(-1).tolist() == [11, 12]
    assert oracle.shift is False


def test_each_row_is_answered_from_the_version_it_differs_from_least():
    # two versions of a document: renamed (21 22 at the def and the use) and before (10 at both);
    # a row whose def reads 21 22 gets the renamed use, one whose def reads 10 the old one, each
    # with the use masked at the new name's length
    renamed, before = [1, 21, 22, 5, 21, 22, 2], [1, 10, 5, 10, 2]
    oracle = TargetOracle(renamed, V, PAD, mask_id=MASK, also=[before])
    assert oracle.answers([1, 21, 22, 5, MASK, MASK, 2], {4, 5}, [4, 5]) == [21, 22]
    assert oracle.answers([1, 10, 5, MASK, 2], {3}, [3]) == [10]
    assert oracle.answers([1, 10, 5, MASK, MASK, 2], {3, 4}, [3, 4]) == [10, PAD]
    # a tie (a row as far from both) goes to the first target
    assert TargetOracle([1, 7, 2], V, PAD, mask_id=MASK, also=[[1, 8, 2]]).answers(
        [1, MASK, 2], {1}, [1]
    ) == [7]

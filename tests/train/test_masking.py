"""Masked-diffusion batches: 1/t weighting, hole rows with null slots at the end of the hole."""

import torch

from diffusion_lsp.train.masking import MaskingConfig, hole_rows, random_rate_rows, weighted_loss

MASK, NULL = 2, 3


def _tokens(n=5000):
    return torch.arange(
        10, 10 + n, dtype=torch.int32
    )  # every id distinct: src positions are visible


def test_random_rate_rows_weight_is_one_over_t_times_length():
    cfg = MaskingConfig(MASK, NULL, seq_len=64)
    gen = torch.Generator().manual_seed(0)
    batch = random_rate_rows(_tokens(), 256, cfg, gen)
    masked = batch.labels != -100
    # the weight is 1 / (t S): weight * S estimates 1/t, and the masked share estimates t
    share = masked.float().mean(1)
    t = 1.0 / (batch.weight * cfg.seq_len)
    assert (t > 0).all() and (t <= 1).all()
    assert torch.corrcoef(torch.stack([share, t]))[0, 1] > 0.9
    assert (batch.input_ids[masked] == MASK).all()
    assert (batch.input_ids[~masked] != MASK).all()


def test_weighted_loss_is_weight_times_ce_summed_over_masked_tokens_per_row():
    ce = torch.tensor([1.0, 2.0, 3.0, 4.0])
    rows = torch.tensor([0, 0, 1, 1])
    weight = torch.tensor([0.5, 0.25])
    assert weighted_loss(ce, rows, weight, batch_size=2).item() == (0.5 * 3 + 0.25 * 7) / 2


def test_hole_rows_put_the_answer_then_nulls_inside_context():
    cfg = MaskingConfig(MASK, NULL, seq_len=64, max_nulls=8)
    tokens = _tokens()
    spans = torch.tensor([[1000, 1005], [2000, 2003]])
    gen = torch.Generator().manual_seed(0)
    batch = hole_rows(tokens, spans, 64, cfg, gen)
    for ids, labels, w in zip(batch.input_ids, batch.labels, batch.weight, strict=True):
        target = torch.where(labels != -100, labels, ids)  # the row with every hole slot revealed
        is_null = target == NULL
        answer_start = (
            int((target == 1000 + 10).nonzero()[0])
            if (target == 1010).any()
            else int((target == 2010).nonzero()[0])
        )
        first = int(target[answer_start]) - 10
        n = 5 if first == 1000 else 3
        # answer tokens in order, then only nulls, then the context after the span
        assert target[answer_start : answer_start + n].tolist() == list(
            range(first + 10, first + 10 + n)
        )
        k = int(is_null.sum())
        assert is_null[answer_start + n : answer_start + n + k].all()
        after = answer_start + n + k
        if after < cfg.seq_len:
            assert int(target[after]) == first + n + 10
        # masks only inside the hole, and the weight makes the row's loss a mean over them
        masked = labels != -100
        assert masked.any()
        assert masked[:answer_start].sum() == 0 and masked[after:].sum() == 0
        assert abs(float(w) - 1.0 / int(masked.sum())) < 1e-6

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


def test_corrective_noise_shows_random_ordinary_tokens_at_the_stated_share():
    from diffusion_lsp.train.masking import make_batch

    low, high = 10, 5010
    cfg = MaskingConfig(MASK, NULL, seq_len=64, noise_share=0.25, noise_ids=(low, high))
    tokens = _tokens()
    spans = torch.tensor([[1000, 1010], [2000, 2006]])
    batch = make_batch(tokens, spans, 256, cfg, torch.Generator().manual_seed(0))
    corrupted = batch.labels != -100
    noisy = corrupted & (batch.input_ids != MASK)
    share = noisy.sum().item() / corrupted.sum().item()
    assert abs(share - 0.25) < 0.02, share
    # random ordinary tokens (never a special one), mostly not the original token
    shown = batch.input_ids[noisy]
    assert ((shown >= low) & (shown < high)).all()
    assert (shown != batch.labels[noisy]).float().mean() > 0.99
    # uncorrupted positions are untouched: never the mask, never noise
    assert (batch.input_ids[~corrupted] != MASK).all()


def test_the_loss_covers_the_noisy_positions():
    from diffusion_lsp.train.masking import diffusion_loss

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(6000, 8)
            self.head = torch.nn.Identity()
            self.decoder = torch.nn.Linear(8, 6000)

        def model(self, input_ids):
            return type("Out", (), {"last_hidden_state": self.emb(input_ids)})

    cfg = MaskingConfig(MASK, NULL, seq_len=32, noise_share=0.5, noise_ids=(10, 5010))
    batch = random_rate_rows(_tokens(), 8, cfg, torch.Generator().manual_seed(0))
    noisy = (batch.labels != -100) & (batch.input_ids != MASK)
    assert noisy.any()
    model = Model()
    loss, _ = diffusion_loss(model, batch)
    loss.backward()
    # the embedding rows of the noisy inputs get a gradient: their positions are in the loss
    grad = model.emb.weight.grad
    assert grad[batch.input_ids[noisy]].abs().sum(dim=1).gt(0).all()
    corrupted = batch.labels != -100
    clean = set(batch.input_ids[~corrupted].tolist()) - set(batch.input_ids[corrupted].tolist())
    assert clean and grad[sorted(clean)].abs().sum() == 0


def test_no_corrective_noise_by_default_and_a_missing_range_is_an_error():
    import pytest

    batch = random_rate_rows(
        _tokens(), 16, MaskingConfig(MASK, NULL, seq_len=64), torch.Generator()
    )
    masked = batch.labels != -100
    assert (batch.input_ids[masked] == MASK).all()
    with pytest.raises(ValueError):
        random_rate_rows(
            _tokens(), 4, MaskingConfig(MASK, NULL, seq_len=64, noise_share=0.1), torch.Generator()
        )

"""The fused Triton sampler equals its PyTorch reference (interpreted on the CPU, compiled on a GPU)."""

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("triton", reason="triton is not installed (the kernels extra)")

from diffusion_lsp_kernels import sample_rows, sample_rows_ref  # noqa: E402
from diffusion_lsp_kernels.sampler_ref import hash32, uniform_noise  # noqa: E402
from diffusion_lsp_kernels.sampler_triton import sample_rows_triton  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _device_ok(device):
    # On the CPU the kernel only runs interpreted.
    import os

    if device == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("TRITON_INTERPRET=1 is needed to run the kernel on the CPU")


def _assert_same(out, ref, logits, temperature, softcap, seed):
    assert torch.equal(out.argmax.cpu(), ref.argmax.cpu())
    torch.testing.assert_close(out.logsumexp, ref.logsumexp, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(out.entropy, ref.entropy, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out.argmax_prob, ref.argmax_prob, rtol=1e-4, atol=1e-6)
    if not torch.equal(out.sample.cpu(), ref.sample.cpu()):
        # Only a near-tie of perturbed scores may differ (log rounding differs by an ulp).
        from diffusion_lsp_kernels.sampler_ref import process_logits

        z = process_logits(logits, temperature, softcap)
        u = uniform_noise(seed, z.shape[0], z.shape[1], z.device)
        score = z - torch.log(-torch.log(u))
        rows = torch.arange(z.shape[0], device=z.device)
        gap = score[rows, ref.sample] - score[rows, out.sample]
        assert float(gap.abs().max()) < 1e-4
    torch.testing.assert_close(out.sample_prob, ref.sample_prob, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "rows,vocab,dtype,temperature,softcap",
    [
        (1, 1000, torch.float32, 1.0, None),
        (3, 4099, torch.float32, 0.7, 30.0),  # vocab not a multiple of the block
        (5, 2048, torch.bfloat16, 0.0, None),  # greedy
        (4, 3001, torch.bfloat16, 1.3, 30.0),
    ],
)
def test_kernel_matches_reference(device, rows, vocab, dtype, temperature, softcap):
    _device_ok(device)
    gen = torch.Generator().manual_seed(rows * 7919 + vocab)
    logits = (torch.randn(rows, vocab, generator=gen) * 4).to(dtype).to(device)
    seed = int(torch.randint(0, 2**31, (1,), generator=gen))
    out = sample_rows_triton(
        logits, temperature=temperature, softcap=softcap, seed=seed, block=1024
    )
    ref = sample_rows_ref(logits, temperature=temperature, softcap=softcap, seed=seed)
    _assert_same(out, ref, logits, temperature, softcap, seed)
    if temperature == 0:
        assert torch.equal(out.sample, out.argmax)


@pytest.mark.parametrize("device", DEVICES)
def test_strided_rows_and_minus_inf(device):
    _device_ok(device)
    gen = torch.Generator().manual_seed(3)
    big = torch.randn(6, 1500, generator=gen).to(device)
    logits = big[::2, :1300]  # row stride 3000, unit column stride
    logits[:, 5] = float("-inf")  # banned tokens
    logits[1, 1299] = 50.0  # the maximum in the last, partial block
    out = sample_rows_triton(logits, temperature=0.9, seed=11, block=512)
    ref = sample_rows_ref(logits, temperature=0.9, seed=11)
    _assert_same(out, ref, logits, 0.9, None, 11)
    assert int(out.argmax[1]) == 1299
    assert not bool((out.sample == 5).any())


@pytest.mark.parametrize("device", DEVICES)
def test_many_rows_take_chunks_of_several_blocks(device):
    _device_ok(device)
    gen = torch.Generator().manual_seed(8)
    logits = (torch.randn(40, 9000, generator=gen) * 2).to(device)  # 12 chunks of 3 blocks a row
    out = sample_rows_triton(logits, temperature=1.1, softcap=30.0, seed=3, block=256)
    ref = sample_rows_ref(logits, temperature=1.1, softcap=30.0, seed=3)
    _assert_same(out, ref, logits, 1.1, 30.0, 3)


def test_ties_pick_the_first_index():
    _device_ok("cpu")
    logits = torch.zeros(2, 3000)
    logits[0, [100, 2500]] = 3.0  # tie across blocks
    logits[1, [7, 9]] = 3.0  # tie within a block
    out = sample_rows_triton(logits, temperature=0.0, block=1024)
    assert out.argmax.tolist() == [100, 7]
    assert out.entropy.isfinite().all()


def test_reference_statistics_are_those_of_the_softmax():
    logits = torch.tensor([[0.0, math.log(3.0)]])  # p = (1/4, 3/4)
    ref = sample_rows_ref(logits, temperature=1.0)
    expected_h = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert ref.entropy.item() == pytest.approx(expected_h, rel=1e-6)
    assert ref.argmax_prob.item() == pytest.approx(0.75, rel=1e-6)
    assert ref.logsumexp.item() == pytest.approx(math.log(4.0), rel=1e-6)


def test_gumbel_samples_follow_the_distribution():
    # 4000 rows of the same logits: sample frequencies approach softmax(z / T).
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    logits = probs.log().repeat(4000, 1)
    ref = sample_rows_ref(logits, temperature=1.0, seed=5)
    freq = torch.bincount(ref.sample, minlength=4).float() / 4000
    assert torch.allclose(freq, probs, atol=0.03)
    other = sample_rows_ref(logits, temperature=1.0, seed=6)
    assert not torch.equal(ref.sample, other.sample)


def test_hash_is_unsigned_32_bit_and_spreads():
    x = hash32(torch.arange(1 << 16, dtype=torch.int64))
    assert int(x.min()) >= 0 and int(x.max()) < 2**32
    assert x.unique().numel() == 1 << 16  # lowbias32 is a bijection
    u = uniform_noise(0, 4, 50_000)
    assert 0.0 < float(u.min()) and float(u.max()) < 1.0
    assert abs(float(u.mean()) - 0.5) < 0.01


def test_dispatch_uses_the_kernel_where_it_can_run():
    _device_ok("cpu")
    logits = torch.randn(3, 700)
    a = sample_rows(logits, temperature=0.5, softcap=30.0, seed=2)
    b = sample_rows_ref(logits, temperature=0.5, softcap=30.0, seed=2)
    assert torch.equal(a.sample, b.sample)


def test_bad_shape_is_a_clear_error():
    with pytest.raises(ValueError, match="rows, vocab"):
        sample_rows_ref(torch.zeros(3))
    with pytest.raises(ValueError, match="rows, vocab"):
        sample_rows_triton(torch.zeros(2, 3, 4))

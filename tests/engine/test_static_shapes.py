"""The shape buckets both families pad to, and the CUDA graph capture they share."""

import pytest

from diffusion_lsp.engine.static_shapes import bucket, capture


def test_bucket_rounds_up_and_past_the_largest():
    assert bucket(1, (8, 16)) == 8
    assert bucket(16, (8, 16)) == 16
    assert bucket(17, (8, 16)) == 32
    assert bucket(40, (8, 16)) == 48


def test_bucket_past_the_largest_rounds_to_beyond():
    assert bucket(17, (8, 16), beyond=4) == 20
    assert bucket(16, (8, 16), beyond=4) == 16


def test_capture_replays_the_step_on_new_inputs():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    x = torch.ones(4, device="cuda")
    graph, out = capture(lambda: x * 2)
    x.copy_(torch.arange(4.0, device="cuda"))
    graph.replay()
    assert out.tolist() == [0.0, 2.0, 4.0, 6.0]
    second, out2 = capture(lambda: x + 1, pool_from=graph)
    second.replay()
    assert out2.tolist() == [1.0, 2.0, 3.0, 4.0]

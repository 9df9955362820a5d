"""The static-shape DiffusionGemma decoder step (``block.graphs``) on a tiny random checkpoint.

Off CUDA the step runs eagerly on the same static buffers, masks and pools a CUDA graph replays, so
these tests check what the graph computes: the same hidden states as transformers' decoder on the
unpadded inputs, the same denoised tokens, a prompt cache left as it was, and shapes captured once
per bucket. The CUDA test compares a replayed graph with the eager decoder on a GPU.
"""

import pytest
import torch

from diffusion_lsp.engine.block.cache import PromptCache, encode_tokens
from diffusion_lsp.engine.block.graphs import GraphedCanvasDecoder
from diffusion_lsp.engine.block.loop import EagerCanvasDecoder, Row, Schedule, denoise
from diffusion_lsp.engine.block.policy import DiffusionSettings

CODE = (
    "import os\n\ndef add(a, b):\n    return a + b\n\n"
    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n"
)
SMALL = dict(context_buckets=(32, 64, 128), width_buckets=(8, 16, 32))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import AutoTokenizer, DiffusionGemmaForBlockDiffusion

    from diffusion_lsp.engine.testing.tiny_gemma import build

    path = build(tmp_path_factory.mktemp("tiny-gemma-graphs"))
    model = DiffusionGemmaForBlockDiffusion.from_pretrained(path).eval()
    return model, AutoTokenizer.from_pretrained(path), path


@pytest.fixture(scope="module")
def prompt(tiny):
    ids = tiny[1](CODE).input_ids
    assert len(ids) > 2 * tiny[0].config.text_config.sliding_window  # sliding layers are full
    return ids


def step_inputs(model, cache, lengths, width, seed=0):
    g = torch.Generator().manual_seed(seed)
    vocab = model.config.get_text_config().vocab_size
    canvas = torch.randint(0, vocab, (len(lengths), width), generator=g)
    for b, n in enumerate(lengths):
        canvas[b, n:] = 0
    start = cache.get_seq_length()
    positions = torch.arange(start, start + width).expand(len(lengths), width)
    sc = torch.randn(len(lengths), width, vocab, generator=g)
    return canvas, positions, sc


def run_step(decoder, cache, canvas, sc, lengths, positions):
    decoder.start(cache, canvas.shape[0])
    return decoder.step(canvas, sc, lengths, positions)


@pytest.mark.parametrize("with_sc", [False, True])
def test_the_padded_static_step_equals_transformers_decoder(tiny, prompt, with_sc):
    model = tiny[0]
    cache = encode_tokens(model, None, prompt, 0)
    lengths = [12, 9, 5]  # rows padded to the batch width, then to the width bucket (16)
    canvas, positions, sc = step_inputs(model, cache, lengths, 12)
    sc = sc if with_sc else None
    eager = run_step(EagerCanvasDecoder(model), cache, canvas, sc, lengths, positions)
    graphed = GraphedCanvasDecoder(model, **SMALL)
    static = run_step(graphed, cache, canvas, sc, lengths, positions)
    assert static.shape == eager.shape
    for b, n in enumerate(lengths):  # pad slots are garbage in both; real slots agree
        torch.testing.assert_close(static[b, :n], eager[b, :n], atol=2e-5, rtol=1e-4)
    assert graphed.stats.shapes == [(4, 16, 64)]  # 3 rows -> 4, 12 slots -> 16, 40 keys -> 64


def test_denoising_with_the_static_step_gives_the_same_tokens(tiny, prompt):
    model, tok, _ = tiny
    s = DiffusionSettings.from_model(model)
    cache = encode_tokens(model, None, prompt, 0)
    suffix = tok("\n    pass\n", add_special_tokens=False).input_ids
    rows = [Row([0] * n + suffix, [True] * n + [False] * len(suffix), 11 + n) for n in (2, 7, 16)]
    schedule = Schedule(6, 6, s.t_min, s.t_max)
    reference, nfe_ref = denoise(model, cache, rows, s, schedule)
    graphed = GraphedCanvasDecoder(model, **SMALL)
    static, nfe = denoise(model, cache, rows, s, schedule, decoder=graphed)
    assert [r.tokens for r in static] == [r.tokens for r in reference]
    assert nfe == nfe_ref == 6
    for a, b in zip(static, reference):
        assert a.confidence == pytest.approx(b.confidence, abs=1e-4)


def test_the_prompt_cache_is_copied_never_written(tiny, prompt):
    model = tiny[0]
    cache = encode_tokens(model, None, prompt, 0)
    before = [(layer.keys.clone(), layer.values.clone()) for layer in cache.layers]
    graphed = GraphedCanvasDecoder(model, **SMALL)
    canvas, positions, sc = step_inputs(model, cache, [8, 8], 8)
    for _ in range(3):
        run_step(graphed, cache, canvas, sc, [8, 8], positions)
    for layer, (k, v) in zip(cache.layers, before):
        assert torch.equal(layer.keys, k) and torch.equal(layer.values, v)
    assert graphed.stats.loads == 1  # the same cache: the pools are filled once
    encode_tokens(model, cache, prompt[1:6], len(prompt))  # the same object grows in place
    canvas, positions, sc = step_inputs(model, cache, [8, 8], 8)
    eager = run_step(EagerCanvasDecoder(model), cache, canvas, sc, [8, 8], positions)
    static = run_step(graphed, cache, canvas, sc, [8, 8], positions)
    assert graphed.stats.loads == 2  # a grown cache is copied again
    torch.testing.assert_close(static, eager, atol=2e-5, rtol=1e-4)


def test_typing_reuses_the_captured_shapes_until_the_prompt_crosses_a_bucket(tiny, prompt):
    model, tok, _ = tiny
    s = DiffusionSettings.from_model(model)
    graphed = GraphedCanvasDecoder(model, **SMALL)
    cache = PromptCache()
    schedule = Schedule(2, 2, s.t_min, s.t_max)
    rows = [Row([0] * n, [True] * n, 3) for n in (4, 8, 16)]
    extra = tok("\n        self.z = 0", add_special_tokens=False).input_ids
    for typed in range(1, 6):  # 40 + up to 5 tokens: all in the 64-token context bucket
        ids = prompt + extra[:typed]
        c, _ = cache.encode(model, ids, key="doc")
        fresh = encode_tokens(model, None, ids, 0)
        expected, _ = denoise(model, fresh, rows, s, schedule)
        got, _ = denoise(model, c, rows, s, schedule, decoder=graphed)
        assert [r.tokens for r in got] == [r.tokens for r in expected]
    assert graphed.stats.shapes == [(4, 16, 64)]
    assert graphed.stats.loads == 5  # one copy of the prompt cache per request
    longer = prompt + prompt[1:]
    assert 64 < len(longer) <= 128
    denoise(model, encode_tokens(model, None, longer, 0), rows, s, schedule, decoder=graphed)
    assert graphed.stats.shapes == [(4, 16, 64), (4, 16, 128)]


def test_warmup_prepares_every_bucket_a_request_uses(tiny):
    model = tiny[0]
    graphed = GraphedCanvasDecoder(model, **SMALL)
    messages = []
    graphed.warmup([3], [12, 30], [40, 100], lambda m, f: messages.append((m, f)))
    assert sorted(graphed.stats.shapes) == [(4, 16, 64), (4, 16, 128), (4, 32, 64), (4, 32, 128)]
    assert messages[-1] == ("decoder steps captured", 1.0)
    assert [f for _, f in messages] == sorted(f for _, f in messages)
    graphed.warmup([5], [30], [100])  # a larger batch grows the self-conditioning pool
    assert (4, 32, 128) in graphed._graphs and (8, 32, 128) in graphed._graphs  # nothing dropped


def test_a_failed_capture_falls_back_to_the_eager_static_step(tiny, prompt, monkeypatch):
    model = tiny[0]
    cache = encode_tokens(model, None, prompt, 0)
    canvas, positions, sc = step_inputs(model, cache, [8, 6], 8)
    graphed = GraphedCanvasDecoder(model, **SMALL)
    graphed.use_graphs = True  # as on a GPU; the capture itself fails

    def broken(*_args):
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(graphed, "_capture", broken)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)
    hidden = run_step(graphed, cache, canvas, sc, [8, 6], positions)
    eager = run_step(EagerCanvasDecoder(model), cache, canvas, sc, [8, 6], positions)
    assert not graphed.use_graphs and "stream is capturing" in graphed.stats.error
    torch.testing.assert_close(hidden[0], eager[0], atol=2e-5, rtol=1e-4)


def test_the_engine_uses_the_static_step_when_asked_and_agrees_with_eager(tiny):
    from diffusion_lsp.engine.api import EngineInfo, InfillRequest, ModelSpec
    from diffusion_lsp.engine.block.engine import BlockDiffusionEngine

    model, tok, path = tiny
    info = EngineInfo(str(path), "block", "cpu", "float32", 0, 0.0)
    spec = ModelSpec(model=str(path))
    eager = BlockDiffusionEngine(model, tok, info, spec)
    graphed = BlockDiffusionEngine(model, tok, info, spec, cuda_graphs=True)
    assert eager.decoder is None  # the default on the CPU
    assert isinstance(graphed.decoder, GraphedCanvasDecoder)
    request = InfillRequest(
        prefix="def add(a, b):\n    ",
        suffix="\n\nprint(add(1, 2))\n",
        seed=5,
        steps=4,
        alternatives=3,
    )
    a, b = eager.infill(request), graphed.infill(request)
    assert [c.text for c in a.alternatives] == [c.text for c in b.alternatives]
    assert graphed.decoder.stats.loads == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_replayed_cuda_graph_equals_the_eager_decoder(tiny, prompt):
    model = tiny[0].to("cuda")
    try:
        cache = encode_tokens(model, None, prompt, 0)
        lengths = [12, 9, 5]
        canvas, positions, sc = (t.cuda() for t in step_inputs(model, cache, lengths, 12))
        graphed = GraphedCanvasDecoder(model, **SMALL)
        assert graphed.use_graphs
        for sc_in in (None, sc, sc * 2):  # replays with new inputs, no recapture
            eager = run_step(EagerCanvasDecoder(model), cache, canvas, sc_in, lengths, positions)
            replayed = run_step(graphed, cache, canvas, sc_in, lengths, positions)
            for b, n in enumerate(lengths):
                torch.testing.assert_close(replayed[b, :n], eager[b, :n], atol=1e-4, rtol=1e-3)
        assert graphed.stats.captures == 1 and graphed.stats.replays == 3
    finally:
        tiny[0].to("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_engine_on_cuda_captures_at_load_and_never_while_typing(tiny):
    from diffusion_lsp.engine import load_engine
    from diffusion_lsp.engine.api import InfillRequest, ModelSpec

    steps = []
    engine = load_engine(
        ModelSpec(model=str(tiny[2]), device="cuda"), progress=lambda m, f: steps.append(m)
    )
    assert isinstance(engine.decoder, GraphedCanvasDecoder) and engine.decoder.use_graphs
    captured = engine.decoder.stats.captures
    assert captured > 0 and any("capturing" in m for m in steps)
    prefix = "def add(a, b):\n    "
    for typed in ("r", "re", "ret"):
        result = engine.infill(
            InfillRequest(prefix=prefix + typed, suffix="\n\nprint(add(1, 2))\n", document="d")
        )
        assert result.nfe > 0
    assert engine.decoder.stats.captures == captured  # every shape was prepared at load
    assert engine.decoder.stats.replays > 0

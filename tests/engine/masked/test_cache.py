"""The masked fast path: its stack equals the Hugging Face forward with bidirectional attention, the
dual cache is exact where nothing changed, buckets and batching change nothing, and refresh_every=1
is the uncached loop."""

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from diffusion_lsp.engine.masked.cache import (  # noqa: E402
    DualCacheDenoiser,
    context_bucket,
    span_bucket,
)
from diffusion_lsp.engine.masked.stacks import LlamaLikeStack, supports  # noqa: E402

MASK = 3


@pytest.fixture(scope="module")
def model():
    cfg = transformers.Qwen2Config(
        vocab_size=96,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
    )
    torch.manual_seed(0)
    m = transformers.Qwen2ForCausalLM(cfg).eval()
    return m


def bidirectional_logits(model, tokens, attention):
    """The uncached reference: Hugging Face's own forward with a full (bidirectional) 4-D mask."""
    mask = attention[:, None, None, :] & attention[:, None, :, None]  # [B, 1, L, L]
    with torch.no_grad():
        return model(input_ids=tokens, attention_mask=mask).logits.float()


def canvas(prefix, hole, suffix, seed=0):
    g = torch.Generator().manual_seed(seed)
    pre = torch.randint(4, 96, (prefix,), generator=g)
    suf = torch.randint(4, 96, (suffix,), generator=g)
    return torch.cat([pre, torch.full((hole,), MASK), suf])


def test_buckets():
    assert [span_bucket(n) for n in (1, 8, 9, 33, 64, 65, 129)] == [8, 8, 16, 40, 64, 80, 160]
    assert context_bucket(500) == 512 and context_bucket(513) == 768
    assert context_bucket(20000) == 20480


def test_supports_llama_like_only(model):
    assert supports(model)
    assert not supports(torch.nn.Linear(2, 2))


def test_stack_equals_hugging_face_bidirectional_forward(model):
    tokens = canvas(11, 5, 7)[None]
    attention = torch.ones_like(tokens, dtype=torch.bool)
    stack = LlamaLikeStack(model)
    length = tokens.shape[1]
    keys, values = stack.new_kv(1, length)
    bias = torch.zeros((1, 1, 1, length))
    with torch.no_grad():
        ours = stack.head(stack.forward(tokens, torch.arange(length)[None], keys, values, 0, bias))
    torch.testing.assert_close(
        ours, bidirectional_logits(model, tokens, attention), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("shift", [False, True])
def test_span_step_is_exact_while_the_hole_is_unchanged(model, shift):
    tokens = canvas(9, 6, 5)[None]
    attention = torch.ones_like(tokens, dtype=torch.bool)
    rows = (torch.zeros(6, dtype=torch.long), torch.arange(9, 15))
    den = DualCacheDenoiser(model, shift=shift)
    first = den(tokens, attention, rows)  # prefill
    second = den(tokens, attention, rows)  # span step over cached context
    assert den.stats.prefills == 1 and den.stats.span_steps == 1
    ref = bidirectional_logits(model, tokens, attention)[0]
    pos = rows[1] - (1 if shift else 0)
    torch.testing.assert_close(first, ref[pos], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(second, ref[pos], rtol=1e-4, atol=1e-4)
    # only the span (hole + 1 for shifted models, bucketed) is run after the prefill
    assert den.stats.tokens_encoded[1] == span_bucket(6 + shift) < den.stats.tokens_encoded[0]


def test_on_the_cpu_the_context_takes_its_exact_length(model):
    """No context bucket on the CPU (no graphs to keep shapes for): the prefill runs the 14 context
    slots and the span, not a 256-slot bucket of padding."""
    tokens = canvas(9, 6, 5)[None]
    attention = torch.ones_like(tokens, dtype=torch.bool)
    rows = (torch.zeros(6, dtype=torch.long), torch.arange(9, 15))
    den = DualCacheDenoiser(model, shift=False)
    den(tokens, attention, rows)
    assert den._layout.ctx == 9 + 5
    assert den.stats.tokens_encoded == [9 + 5 + span_bucket(6)]


def test_refresh_every_step_is_the_uncached_loop(model):
    tokens = canvas(10, 4, 6)[None]
    attention = torch.ones_like(tokens, dtype=torch.bool)
    exact = DualCacheDenoiser(model, shift=True, refresh_every=1)
    cached = DualCacheDenoiser(model, shift=True)
    rows = (torch.zeros(4, dtype=torch.long), torch.arange(10, 14))
    exact(tokens, attention, rows)
    cached(tokens, attention, rows)
    tokens = tokens.clone()
    tokens[0, 10:12] = torch.tensor([40, 41])  # two hole tokens committed
    rows = (torch.zeros(2, dtype=torch.long), torch.arange(12, 14))
    ref = bidirectional_logits(model, tokens, attention)[0, 11:13]
    torch.testing.assert_close(exact(tokens, attention, rows), ref, rtol=1e-4, atol=1e-4)
    approx = cached(tokens, attention, rows)  # the context's keys have not seen tokens 40, 41
    assert not torch.allclose(approx, ref, atol=1e-5)
    assert exact.stats.prefills == 2 and cached.stats.prefills == 1


def two_candidates():
    """Two candidates of different hole lengths over the same context, right-padded to one canvas
    length: (a, b, tokens [2, L], attention [2, L], rows of the holes)."""
    a, b = canvas(8, 3, 6, seed=1), canvas(8, 5, 6, seed=1)
    length = b.numel()
    tokens = torch.stack([torch.cat([a, torch.zeros(length - a.numel(), dtype=torch.long)]), b])
    attention = torch.zeros_like(tokens, dtype=torch.bool)
    attention[0, : a.numel()] = True
    attention[1] = True
    rows = (torch.tensor([0, 0, 0, 1, 1, 1, 1, 1]), torch.tensor([8, 9, 10, 8, 9, 10, 11, 12]))
    return a, b, tokens, attention, rows


def test_batch_of_candidate_lengths_equals_one_at_a_time(model):
    a, b, tokens, attention, rows = two_candidates()
    den = DualCacheDenoiser(model, shift=True)
    den(tokens, attention, rows)
    batched = den(tokens, attention, rows)
    for row, single in ((0, a), (1, b)):
        sel = rows[0] == row
        one = DualCacheDenoiser(model, shift=True)
        one_rows = (torch.zeros(int(sel.sum()), dtype=torch.long), rows[1][sel])
        one(single[None], torch.ones_like(single[None], dtype=torch.bool), one_rows)
        alone = one(single[None], torch.ones_like(single[None], dtype=torch.bool), one_rows)
        torch.testing.assert_close(batched[sel], alone, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("causal", [False, True])
def test_keep_runs_the_last_layer_for_the_kept_slots_only(model, causal):
    # a prefill reads only the span's hidden states: with ``keep`` the last layer runs the other
    # slots' keys and values alone; the kept rows and every key and value are unchanged
    tokens = canvas(11, 5, 7, seed=4)[None]
    length = tokens.shape[1]
    stack = LlamaLikeStack(model)
    bias = torch.zeros((1, 1, 1, length))
    if causal:  # a per-query bias [B, 1, T, K]
        bias = torch.full((1, 1, length, length), float("-inf")).triu(1)
    out = {}
    for keep in (0, 11, length):
        keys, values = stack.new_kv(1, length)
        with torch.no_grad():
            hidden = stack.forward(
                tokens, torch.arange(length)[None], keys, values, 0, bias, keep=keep
            )
        out[keep] = hidden, keys, values
    assert out[length][0].shape == (1, 0, model.config.hidden_size)
    torch.testing.assert_close(out[11][0], out[0][0][:, 11:], rtol=1e-5, atol=1e-5)
    for keep in (11, length):
        torch.testing.assert_close(out[keep][1], out[0][1])
        torch.testing.assert_close(out[keep][2], out[0][2])


def test_stack_rotate_equals_keys_computed_at_shifted_positions(model):
    # the same tokens at positions + d: every layer's keys are the keys at positions rotated by d
    tokens = canvas(9, 0, 8, seed=2)[None]
    length = tokens.shape[1]
    stack = LlamaLikeStack(model)
    bias = torch.zeros((1, 1, 1, length))
    at = {}
    for d in (0, 23):
        keys, values = stack.new_kv(1, length)
        with torch.no_grad():
            stack.forward(tokens, torch.arange(length)[None] + d, keys, values, 0, bias)
        at[d] = keys
    turned = torch.empty_like(at[0])
    stack.rotate(at[0], torch.full((1, length), 23), turned)
    torch.testing.assert_close(turned, at[23], rtol=1e-4, atol=1e-4)


def test_shared_prefill_of_candidate_lengths(model):
    # two hole lengths over the same context (shifted model): the shorter row's prefill is shared;
    # that row's logits are its own, the other row's first-layer keys are its own after rotation
    a, b, tokens, attention, rows = two_candidates()
    shared = DualCacheDenoiser(model, shift=True, share_prefill=True)
    own = DualCacheDenoiser(model, shift=True)
    first_shared, first_own = shared(tokens, attention, rows), own(tokens, attention, rows)
    assert shared.stats.shared_prefills == 1 and shared._layout.source == 0
    sel = rows[0] == 0
    torch.testing.assert_close(first_shared[sel], first_own[sel], rtol=1e-4, atol=1e-4)
    lay = shared._layout
    ks = shared._kv_for(2, lay.ctx + lay.span)[0]
    ko = own._kv_for(2, lay.ctx + lay.span)[0]
    torch.testing.assert_close(ks[0, 1, :, : lay.ctx], ko[0, 1, :, : lay.ctx], rtol=1e-4, atol=1e-4)


def test_a_new_request_prefills_again(model):
    den = DualCacheDenoiser(model, shift=False)
    tokens = canvas(6, 3, 4)[None]
    rows = (torch.zeros(3, dtype=torch.long), torch.arange(6, 9))
    for _ in range(2):  # a new attention tensor marks a new request
        den(tokens, torch.ones_like(tokens, dtype=torch.bool), rows)
    assert den.stats.prefills == 2 and den.stats.span_steps == 0


def test_shifted_hole_at_the_start_is_a_clear_error(model):
    tokens = canvas(0, 3, 4)[None]
    den = DualCacheDenoiser(model, shift=True)
    with pytest.raises(ValueError, match="before the hole"):
        den(
            tokens,
            torch.ones_like(tokens, dtype=torch.bool),
            (torch.zeros(3, dtype=torch.long), torch.arange(3)),
        )


def test_engine_takes_the_fast_path_where_asked(tmp_path):
    from diffusion_lsp.engine.api import EngineInfo, InfillRequest
    from diffusion_lsp.engine.masked.denoiser import MaskedDenoiser
    from diffusion_lsp.engine.masked.engine import MaskedDiffusionEngine
    from diffusion_lsp.engine.testing.tiny import build_shifted

    path = build_shifted(tmp_path / "m")
    model = transformers.AutoModelForCausalLM.from_pretrained(path).eval()
    tok = transformers.AutoTokenizer.from_pretrained(path)
    info = EngineInfo(model=str(path), family="masked", device="cpu", dtype="float32")
    auto = MaskedDiffusionEngine(model, tok, info)  # auto: the CPU keeps the plain denoiser
    assert isinstance(auto.denoiser, MaskedDenoiser)
    fast = MaskedDiffusionEngine(model, tok, info, fast_path=True)
    assert isinstance(fast.denoiser, DualCacheDenoiser)
    progress = []
    fast.warmup(lambda message, done: progress.append(done), context_tokens=512)
    assert progress and progress[-1] == 1.0
    request = InfillRequest(
        prefix="def add(a, b):\n    return ", suffix="\n", lengths=(4, 8), steps=4
    )
    result = fast.infill(request)
    assert result.nfe == 4 and len(result.alternatives) >= 1
    den = fast.denoiser
    assert den.stats.prefills == 1 and den.stats.span_steps == 3  # one pass, then spans only
    assert den.stats.shared_prefills == 1  # on the CPU the two lengths share that pass


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
def test_cuda_graphs_equal_the_eager_step_and_are_captured_once(model):
    gpu = model.to("cuda")
    try:
        graphed = DualCacheDenoiser(gpu, shift=True)
        eager = DualCacheDenoiser(gpu, shift=True, cuda_graphs=False)
        graphed.warmup([1], [5, 20], [30, 300])  # two span and two context buckets
        captured = graphed.stats.captures
        assert captured == 4
        for prefix, hole, suffix in ((12, 5, 9), (200, 17, 40), (20, 3, 4)):
            tokens = canvas(prefix, hole, suffix)[None].cuda()
            attention = torch.ones_like(tokens, dtype=torch.bool)
            rows = (
                torch.zeros(hole, dtype=torch.long, device="cuda"),
                torch.arange(prefix, prefix + hole, device="cuda"),
            )
            for den in (graphed, eager):
                den(tokens, attention, rows)  # prefill
            changed = tokens.clone()
            changed[0, prefix] = 50  # the span step sees a committed token
            torch.testing.assert_close(
                graphed(changed, attention, rows),
                eager(changed, attention, rows),
                rtol=1e-4,
                atol=1e-4,
            )
        assert graphed.stats.captures == captured  # requests inside the buckets capture nothing
    finally:
        model.to("cpu")

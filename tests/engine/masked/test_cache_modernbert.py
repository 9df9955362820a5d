"""The dual cache on ModernBERT (tiny random and the embedded model): the stack equals the Hugging Face
masked LM (local windows and padding included), a span step is exact while the context is unchanged,
refresh_every=1 is the uncached loop, batched candidate lengths equal one at a time, a prefill shared
by the candidate lengths gives each row the keys its own prefill would (exactly where the hole length is
the shared one, rotated to its positions elsewhere), and the masked engine takes the cache, with the
shared prefill, on the CPU unless told not to."""

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from diffusion_lsp.engine.masked.cache import DualCacheDenoiser  # noqa: E402
from diffusion_lsp.engine.masked.denoiser import MaskedDenoiser, pick_denoiser  # noqa: E402
from diffusion_lsp.engine.masked.stacks import ModernBertStack, supports  # noqa: E402
from diffusion_lsp.models import embedded_model_path  # noqa: E402

EMBEDDED = embedded_model_path()
TOL = {"rtol": 1e-4, "atol": 1e-4}


@pytest.fixture(scope="module")
def tiny(masked_dir):
    # window +-32 (local_attention 64): canvases over ~70 tokens exercise the local layers
    m = transformers.AutoModelForMaskedLM.from_pretrained(masked_dir, dtype=torch.float32).eval()
    # ModernBERT's initialisation (std 0.02) makes every position's logits nearly the same; larger
    # weights make the outputs depend on the context, so a stale cache shows
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=g) * 0.15)
    return m


@pytest.fixture(scope="module")
def embedded():
    if not (EMBEDDED / "config.json").exists():
        pytest.skip("the embedded checkpoint is not in this build")
    return transformers.AutoModelForMaskedLM.from_pretrained(EMBEDDED, dtype=torch.float32).eval()


@pytest.fixture(params=["tiny", "embedded"])
def model(request):
    return request.getfixturevalue(request.param)


def reference(model, tokens, attention):
    """Hugging Face's own forward (2-D padding mask, its own sliding-window masks)."""
    mask = None if bool(attention.all()) else attention.long()
    with torch.no_grad():
        return model(input_ids=tokens, attention_mask=mask).logits.float()  # [B, L, V]


def canvas(model, prefix, hole, suffix, seed=0):
    g = torch.Generator().manual_seed(seed)
    v = model.config.vocab_size
    mask = model.config.mask_token_id if hasattr(model.config, "mask_token_id") else 4
    pre = torch.randint(5, v, (prefix,), generator=g)
    suf = torch.randint(5, v, (suffix,), generator=g)
    return torch.cat([pre, torch.full((hole,), mask), suf])


def hole_rows(prefix, hole, batch=0):
    return (torch.full((hole,), batch, dtype=torch.long), torch.arange(prefix, prefix + hole))


def test_supports_modernbert(tiny):
    assert supports(tiny)
    assert isinstance(pick_denoiser(tiny, shift=False), DualCacheDenoiser)  # CPU, auto
    assert isinstance(pick_denoiser(tiny, shift=False, fast_path=False), MaskedDenoiser)


def test_stack_equals_hugging_face_with_padding(model):
    # two rows, the first right-padded: windows, rotary thetas and the padding mask all matter
    a, b = canvas(model, 120, 6, 90, seed=1), canvas(model, 150, 9, 100, seed=2)
    length = b.numel()
    tokens = torch.stack([torch.cat([a, torch.zeros(length - a.numel(), dtype=torch.long)]), b])
    attention = torch.zeros_like(tokens, dtype=torch.bool)
    attention[0, : a.numel()] = True
    attention[1] = True
    stack = ModernBertStack(model)
    keys, values = stack.new_kv(2, length)
    bias = torch.zeros((2, 1, 1, length)).masked_fill(~attention[:, None, None, :], float("-inf"))
    positions = torch.arange(length).expand(2, -1)
    with torch.no_grad():
        ours = stack.head(stack.forward(tokens, positions, keys, values, 0, bias))
    ref = reference(model, tokens, attention)
    torch.testing.assert_close(ours[0, : a.numel()], ref[0, : a.numel()], **TOL)
    torch.testing.assert_close(ours[1], ref[1], **TOL)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rope_pair_is_the_hugging_face_rotation(dtype):
    from transformers.models.modernbert.modeling_modernbert import apply_rotary_pos_emb

    from diffusion_lsp.engine.masked.stacks import _rope_pair

    g = torch.Generator().manual_seed(0)
    qkv = torch.randn((2, 37, 3, 4, 16), generator=g).to(dtype)
    cos, sin = (torch.randn((2, 37, 16), generator=g).to(dtype) for _ in range(2))
    q, k = _rope_pair(qkv[:, :, :2], cos, sin).unbind(2)
    want = apply_rotary_pos_emb(
        qkv[:, :, 0].transpose(1, 2), qkv[:, :, 1].transpose(1, 2), cos, sin
    )
    tol = {"rtol": 0, "atol": 0} if dtype == torch.bfloat16 else {"rtol": 1e-6, "atol": 1e-6}
    torch.testing.assert_close(q.transpose(1, 2), want[0], **tol)
    torch.testing.assert_close(k.transpose(1, 2), want[1], **tol)


def _slots(seen):
    return seen.stop - seen.start if isinstance(seen, slice) else int(seen.numel())


def test_scattered_slots_are_gathered_and_equal_the_full_product(tiny, monkeypatch):
    # positions 0-63, then 200-258, then 64-199: the first chunk's neighbours by position (64-95)
    # sit after the middle run of slots, so its keys are gathered
    tokens = canvas(tiny, 150, 9, 100, seed=3)[None]
    length = tokens.shape[1]
    stack = ModernBertStack(tiny)
    bias = torch.zeros((1, 1, 1, length))
    order = (torch.arange(64), torch.arange(200, length), torch.arange(64, 200))
    positions = torch.cat(order)[None]
    chunks = stack._chunks(positions, positions, bias == 0)
    assert chunks is not None and any(not isinstance(seen, slice) for _, seen, _ in chunks)
    out = {}
    for name in ("chunks", "full"):
        if name == "full":
            monkeypatch.setattr(ModernBertStack, "_chunks", lambda self, *args: None)
        keys, values = stack.new_kv(1, length)
        with torch.no_grad():
            out[name] = stack.forward(tokens, positions, keys, values, 0, bias)
    torch.testing.assert_close(out["chunks"], out["full"], **TOL)


def test_local_layers_in_chunks_equal_the_full_product(tiny, monkeypatch):
    # on the CPU a local layer attends chunk by chunk to the keys each chunk can see
    tokens = canvas(tiny, 150, 9, 100, seed=2)[None]
    length = tokens.shape[1]
    stack = ModernBertStack(tiny)
    bias = torch.zeros((1, 1, 1, length))
    positions = torch.arange(length)[None]
    chunks = stack._chunks(positions, positions, bias == 0)
    assert chunks is not None and len(chunks) == -(-length // (2 * stack.window))
    assert all(_slots(seen) <= 4 * stack.window for _, seen, _ in chunks)
    # a run of neighbouring positions is one run of slots: attended as a view, not gathered
    assert all(isinstance(seen, slice) for _, seen, _ in chunks)
    out = {}
    for name in ("chunks", "full"):
        if name == "full":
            monkeypatch.setattr(ModernBertStack, "_chunks", lambda self, *args: None)
        keys, values = stack.new_kv(1, length)
        with torch.no_grad():
            out[name] = stack.forward(tokens, positions, keys, values, 0, bias), keys
    torch.testing.assert_close(out["chunks"][0], out["full"][0], **TOL)
    torch.testing.assert_close(out["chunks"][1], out["full"][1], **TOL)


def test_keep_runs_the_last_layer_for_the_kept_slots_only(tiny):
    # with ``keep`` the last layer (a local one here) runs the slots before it for their keys and
    # values alone, its few kept queries against every key under the full local mask
    tokens = canvas(tiny, 150, 9, 100, seed=5)[None]
    length = tokens.shape[1]
    stack = ModernBertStack(tiny)
    assert stack.types[-1] == "sliding_attention"
    bias = torch.zeros((1, 1, 1, length))
    positions = torch.arange(length)[None]
    out = {}
    for keep in (0, 150, length):
        keys, values = stack.new_kv(1, length)
        with torch.no_grad():
            hidden = stack.forward(tokens, positions, keys, values, 0, bias, keep=keep)
        out[keep] = hidden, keys, values
    assert out[length][0].shape == (1, 0, tiny.config.hidden_size)
    torch.testing.assert_close(out[150][0], out[0][0][:, 150:], **TOL)
    for keep in (150, length):
        torch.testing.assert_close(out[keep][1], out[0][1])
        torch.testing.assert_close(out[keep][2], out[0][2])


def test_span_step_is_exact_while_the_context_is_unchanged(model):
    tokens = canvas(model, 200, 7, 150)[None]
    attention = torch.ones_like(tokens, dtype=torch.bool)
    rows = hole_rows(200, 7)
    den = DualCacheDenoiser(model, shift=False)
    first = den(tokens, attention, rows)  # prefill
    second = den(tokens, attention, rows)  # span step against cached, windowed context keys
    assert den.stats.prefills == 1 and den.stats.span_steps == 1
    assert den.stats.tokens_encoded[1] < den.stats.tokens_encoded[0] // 10
    ref = reference(model, tokens, attention)[0, 200:207]
    torch.testing.assert_close(first, ref, **TOL)
    torch.testing.assert_close(second, ref, **TOL)


def test_refresh_every_step_is_the_uncached_loop(model):
    tokens = canvas(model, 160, 5, 120)[None]
    attention = torch.ones_like(tokens, dtype=torch.bool)
    exact = DualCacheDenoiser(model, shift=False, refresh_every=1)
    cached = DualCacheDenoiser(model, shift=False)
    exact(tokens, attention, hole_rows(160, 5))
    cached(tokens, attention, hole_rows(160, 5))
    tokens = tokens.clone()
    tokens[0, 160:162] = torch.tensor([40, 41])  # two hole tokens committed
    rows = hole_rows(162, 3)
    ref = reference(model, tokens, attention)[0, 162:165]
    torch.testing.assert_close(exact(tokens, attention, rows), ref, **TOL)
    approx = cached(tokens, attention, rows)  # the context's keys have not seen tokens 40, 41
    assert not torch.allclose(approx, ref, atol=1e-5)
    assert exact.stats.prefills == 2 and cached.stats.prefills == 1


def test_batch_of_candidate_lengths_equals_one_at_a_time(model):
    prefix, suffix = 130, 80
    singles = [canvas(model, prefix, n, suffix, seed=3) for n in (3, 6, 9)]
    tokens, attention, rows = candidate_batch(model, prefix, (3, 6, 9), suffix)
    den = DualCacheDenoiser(model, shift=False)
    den(tokens, attention, rows)
    batched = den(tokens, attention, rows)  # a span step
    for i, single in enumerate(singles):
        sel = rows[0] == i
        one = DualCacheDenoiser(model, shift=False)
        one_rows = (torch.zeros(int(sel.sum()), dtype=torch.long), rows[1][sel])
        full = torch.ones_like(single[None], dtype=torch.bool)
        one(single[None], full, one_rows)
        torch.testing.assert_close(batched[sel], one(single[None], full, one_rows), **TOL)


def candidate_batch(model, prefix, holes, suffix, seed=3):
    """One row per hole length, the same context tokens, right-padded: (tokens, attention, rows)."""
    singles = [canvas(model, prefix, n, suffix, seed=seed) for n in holes]
    length = max(s.numel() for s in singles)
    tokens = torch.stack(
        [torch.cat([s, torch.zeros(length - s.numel(), dtype=torch.long)]) for s in singles]
    )
    attention = torch.zeros_like(tokens, dtype=torch.bool)
    for i, s in enumerate(singles):
        attention[i, : s.numel()] = True
    parts = [hole_rows(prefix, n, i) for i, n in enumerate(holes)]
    return tokens, attention, (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))


def cached_kv(den):
    """The request's keys and values [layers, B, heads, ctx + span, hd] and its context bucket."""
    lay = den._layout
    keys, values = den._kv_for(lay.batch, lay.ctx + lay.span)
    return keys, values, lay.ctx


def test_stack_rotate_equals_keys_computed_at_shifted_positions(tiny):
    # RoPE attention depends on relative positions only: the same tokens at positions + d give the
    # keys at positions rotated by d, in every layer (global and local), not just the first
    tokens = canvas(tiny, 90, 0, 70, seed=4)[None]  # the context alone, no hole
    length = tokens.shape[1]
    stack = ModernBertStack(tiny)
    bias = torch.zeros((1, 1, 1, length))
    at = {}
    for d in (0, 37):
        keys, values = stack.new_kv(1, length)
        with torch.no_grad():
            stack.forward(tokens, torch.arange(length)[None] + d, keys, values, 0, bias)
        at[d] = keys
    turned = torch.empty_like(at[0])
    stack.rotate(at[0], torch.full((1, length), 37), turned)
    torch.testing.assert_close(turned, at[37], **TOL)
    assert not torch.allclose(at[0], at[37], atol=1e-3)


def test_shared_prefill_gives_rows_of_the_shared_hole_length_their_own_keys(tiny):
    # holes 9, 3, 6, 3: rows 1 and 3 have the shortest hole, whose prefill every row shares
    tokens, attention, rows = candidate_batch(tiny, 130, (9, 3, 6, 3), 80)
    shared = DualCacheDenoiser(tiny, shift=False, share_prefill=True)
    own = DualCacheDenoiser(tiny, shift=False)
    first_shared, first_own = shared(tokens, attention, rows), own(tokens, attention, rows)
    assert shared.stats.shared_prefills == 1 and own.stats.shared_prefills == 0
    assert shared._layout.source == 1
    ks, vs, ctx = cached_kv(shared)
    ko, vo, _ = cached_kv(own)
    for b in (1, 3):  # every slot, context and span, in every layer
        torch.testing.assert_close(ks[:, b], ko[:, b], **TOL)
        torch.testing.assert_close(vs[:, b], vo[:, b], **TOL)
        sel = rows[0] == b
        torch.testing.assert_close(first_shared[sel], first_own[sel], **TOL)
    for b in (0, 2):
        # the first layer's keys see only each token and its position: the rotation makes them
        # exactly the row's own; deeper layers saw a hole of another length (the approximation)
        torch.testing.assert_close(ks[0, b, :, :ctx], ko[0, b, :, :ctx], **TOL)
        torch.testing.assert_close(vs[0, b, :, :ctx], vo[0, b, :, :ctx], **TOL)
        assert not torch.allclose(ks[1:, b, :, :ctx], ko[1:, b, :, :ctx], atol=1e-4)
    # later calls are span steps against the shared context, as without sharing
    shared(tokens, attention, rows)
    assert shared.stats.prefills == 1 and shared.stats.span_steps == 1


def test_shared_prefill_of_identical_rows_is_exact(tiny):
    # alternatives of one hole length (a refine with samples): sharing changes nothing
    tokens, attention, rows = candidate_batch(tiny, 120, (7, 7, 7), 90)
    shared = DualCacheDenoiser(tiny, shift=False, share_prefill=True)
    own = DualCacheDenoiser(tiny, shift=False)
    for _ in range(2):  # the prefill, then a span step
        torch.testing.assert_close(
            shared(tokens, attention, rows), own(tokens, attention, rows), **TOL
        )
    assert shared.stats.shared_prefills == 1


def test_rows_with_different_context_prefill_each_row(tiny):
    a, b = canvas(tiny, 100, 5, 60, seed=5), canvas(tiny, 100, 5, 60, seed=6)
    tokens = torch.stack([a, b])
    attention = torch.ones_like(tokens, dtype=torch.bool)
    rows = (
        torch.cat([hole_rows(100, 5, 0)[0], hole_rows(100, 5, 1)[0]]),
        torch.arange(100, 105).repeat(2),
    )
    den = DualCacheDenoiser(tiny, shift=False, share_prefill=True)
    den(tokens, attention, rows)
    assert den.stats.prefills == 1 and den.stats.shared_prefills == 0


def test_engine_takes_the_cache_on_the_cpu_unless_told_not_to(tiny, masked_dir):
    from diffusion_lsp.engine.api import EngineInfo, InfillRequest
    from diffusion_lsp.engine.masked.engine import MaskedDiffusionEngine

    tok = transformers.AutoTokenizer.from_pretrained(masked_dir)
    info = EngineInfo(model=str(masked_dir), family="masked", device="cpu", dtype="float32")
    auto = MaskedDiffusionEngine(tiny, tok, info)
    assert isinstance(auto.denoiser, DualCacheDenoiser) and auto.denoiser.share_prefill
    off = MaskedDiffusionEngine(tiny, tok, info, fast_path=False)
    assert isinstance(off.denoiser, MaskedDenoiser)
    request = InfillRequest(
        prefix="def add(a, b):\n    return ", suffix="\n", lengths=(4, 8), steps=4
    )
    result = auto.infill(request)
    assert result.nfe == 4 and len(result.alternatives) >= 1
    # the two candidate lengths share one prefill, then span steps only
    stats = auto.denoiser.stats
    assert stats.prefills == stats.shared_prefills == 1 and stats.span_steps == 3
    order = [(c.text.strip() != "", "\ufffd" not in c.text, c.score) for c in result.alternatives]
    assert order == sorted(order, reverse=True)  # ranked as candidates.rank ranks, best first
    assert result.text == result.alternatives[0].text

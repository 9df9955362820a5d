"""DiffusionGemma's denoising loop and prompt cache on a tiny random checkpoint loaded from disk.

The loop must denoise exactly as transformers' own ``generate`` where the two can be compared (a fully
free canvas), keep clamped tokens fixed, read the prompt cache without changing it, and give each row
the same result alone or in a batch. The cache must encode by appending exactly what encoding from
scratch gives.
"""

import dataclasses

import pytest
import torch

from diffusion_lsp.engine.api import Cancelled, CancelToken
from diffusion_lsp.engine.block.cache import PromptCache, encode_tokens, expand, fork
from diffusion_lsp.engine.block.loop import Row, Schedule, denoise
from diffusion_lsp.engine.block.policy import DiffusionSettings, entropy_bound_accept, temperature

CODE = (
    "import os\n\ndef add(a, b):\n    return a + b\n\n"
    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n"
)
STEPS = 4  # fewer than the checkpoint's 12, to keep the file fast


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import AutoTokenizer, DiffusionGemmaForBlockDiffusion

    from diffusion_lsp.engine.testing.tiny_gemma import build

    path = build(tmp_path_factory.mktemp("tiny-gemma"))
    model = DiffusionGemmaForBlockDiffusion.from_pretrained(path).eval()
    return model, AutoTokenizer.from_pretrained(path)


@pytest.fixture(scope="module")
def prompt(tiny):
    ids = tiny[1](CODE).input_ids
    assert len(ids) > 2 * tiny[0].config.text_config.sliding_window  # crosses the sliding window
    return ids


def full_schedule(s: DiffusionSettings, steps: int | None = None) -> Schedule:
    n = steps or s.steps
    return Schedule(n, n, s.t_min, s.t_max)


def snapshot(cache):
    return [(layer.keys.clone(), layer.values.clone()) for layer in cache.layers]


def assert_same_cache(a, b, atol=0.0):
    assert len(a) == len(b)
    for (ka, va), (kb, vb) in zip(a, b):
        assert ka.shape == kb.shape
        torch.testing.assert_close(ka, kb, atol=atol, rtol=0 if atol == 0 else 1e-5)
        torch.testing.assert_close(va, vb, atol=atol, rtol=0 if atol == 0 else 1e-5)


# -- pure policy --------------------------------------------------------------------------------------


def test_entropy_bound_accepts_the_lowest_entropies_within_the_bound():
    h = torch.tensor([0.5, 0.01, 0.05, 2.0, 0.03])
    # sorted: 0.01, 0.03, 0.05, 0.5, 2.0; cumsum - current: 0, 0.01, 0.04, 0.09, 0.59
    assert entropy_bound_accept(h, 0.1).tolist() == [True, True, True, False, True]
    assert entropy_bound_accept(h, 1e-9).tolist() == [False, True, False, False, False]


def test_temperature_runs_linearly_from_t_max_to_t_min():
    assert float(temperature(10, 10, 0.4, 0.8)) == pytest.approx(0.8)
    assert float(temperature(5, 10, 0.4, 0.8)) == pytest.approx(0.6)
    assert float(temperature(1, 10, 0.4, 0.8)) == pytest.approx(0.44)


# -- against transformers -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_a_free_canvas_denoises_exactly_like_transformers_generate(tiny, prompt, seed):
    model, _ = tiny
    s = DiffusionSettings.from_model(model)
    torch.manual_seed(seed)
    reference = model.generate(
        torch.tensor([prompt]), max_new_tokens=s.canvas_length, max_denoising_steps=STEPS
    )
    expected = reference.sequences[0, len(prompt) :].tolist()

    cache = encode_tokens(model, None, prompt, 0)
    width = s.canvas_length
    rows = [Row([0] * width, [True] * width, seed)]
    (row,), nfe = denoise(model, cache, rows, s, full_schedule(s, STEPS))
    # transformers replaces what follows the first EOS with pad; compare up to it
    cut = next((i + 1 for i, t in enumerate(row.tokens) if t in s.eos_ids), width)
    assert row.tokens[:cut] == expected[:cut]
    assert nfe == STEPS
    assert float(reference.tokens_per_forward[0]) == pytest.approx(
        sum(t != s.pad_id for t in expected) / nfe
    )


def test_stable_and_confident_stopping_matches_transformers(tiny, prompt):
    model, _ = tiny
    s = dataclasses.replace(
        DiffusionSettings.from_model(model), stability_threshold=0, confidence_threshold=100.0
    )
    torch.manual_seed(3)
    reference = model.generate(
        torch.tensor([prompt]),
        max_new_tokens=s.canvas_length,
        stability_threshold=0,
        confidence_threshold=100.0,
    )
    cache = encode_tokens(model, None, prompt, 0)
    width = s.canvas_length
    (row,), nfe = denoise(
        model, cache, [Row([0] * width, [True] * width, 3)], s, full_schedule(s, STEPS)
    )
    assert nfe == 1 and row.steps == 1  # confident at once, stable by definition
    cut = next((i + 1 for i, t in enumerate(row.tokens) if t in s.eos_ids), width)
    assert row.tokens[:cut] == reference.sequences[0, len(prompt) :].tolist()[:cut]


# -- invariants ---------------------------------------------------------------------------------------


def test_clamped_tokens_never_change(tiny, prompt):
    model, tok = tiny
    s = DiffusionSettings.from_model(model)
    suffix = tok("    return x\n", add_special_tokens=False).input_ids
    rows = [Row([0] * n + suffix, [True] * n + [False] * len(suffix), 5) for n in (3, 9)]
    seen = []
    hook = model.model.decoder.register_forward_pre_hook(
        lambda mod, args, kwargs: seen.append(kwargs["decoder_input_ids"].clone()),
        with_kwargs=True,
    )
    try:
        results, nfe = denoise(
            model, encode_tokens(model, None, prompt, 0), rows, s, full_schedule(s, STEPS)
        )
    finally:
        hook.remove()
    assert len(seen) == nfe == STEPS
    for canvas in seen:
        for b, n in enumerate((3, 9)):
            assert canvas[b, n : n + len(suffix)].tolist() == suffix
    for res, n in zip(results, (3, 9)):
        assert res.tokens[n:] == suffix
        assert res.confidence[n:] == [1.0] * len(suffix)
        assert all(0.0 <= c <= 1.0 for c in res.confidence[:n])


def test_free_tokens_move_and_the_result_is_the_final_argmax(tiny, prompt):
    model, _ = tiny
    s = DiffusionSettings.from_model(model)
    seen = []
    hook = model.model.decoder.register_forward_pre_hook(
        lambda mod, args, kwargs: seen.append(kwargs["decoder_input_ids"][0].clone()),
        with_kwargs=True,
    )
    try:
        denoise(
            model,
            encode_tokens(model, None, prompt, 0),
            [Row([0] * 8, [True] * 8, 1)],
            s,
            full_schedule(s, 4),
        )
    finally:
        hook.remove()
    assert any(
        not torch.equal(seen[0], later) for later in seen[1:]
    )  # renoising changes the canvas


def test_a_denoising_run_leaves_the_prompt_cache_unchanged(tiny, prompt):
    model, _ = tiny
    s = DiffusionSettings.from_model(model)
    cache = encode_tokens(model, None, prompt, 0)
    before, length = snapshot(cache), cache.get_seq_length()
    rows = [Row([0] * n, [True] * n, 2) for n in (4, 12)]
    first, _ = denoise(model, cache, rows, s, full_schedule(s, 3))
    assert cache.get_seq_length() == length
    assert_same_cache(snapshot(cache), before)
    again, _ = denoise(model, cache, rows, s, full_schedule(s, 3))
    assert again == first  # reusable: the same request on the same cache gives the same result


def test_batched_rows_equal_one_at_a_time_runs_with_the_same_seed(tiny, prompt):
    model, tok = tiny
    s = DiffusionSettings.from_model(model)
    cache = encode_tokens(model, None, prompt, 0)
    suffix = tok("\n    pass\n", add_special_tokens=False).input_ids
    rows = [Row([0] * n + suffix, [True] * n + [False] * len(suffix), 11) for n in (2, 7, 16)]
    batched, nfe = denoise(model, cache, rows, s, full_schedule(s, STEPS))
    assert nfe == STEPS
    for row, together in zip(rows, batched):
        (alone,), _ = denoise(model, cache, [row], s, full_schedule(s, STEPS))
        assert alone.tokens == together.tokens
        assert alone.confidence == pytest.approx(together.confidence, abs=1e-5)


def test_a_cancelled_job_ends_within_one_step(tiny, prompt):
    model, _ = tiny
    s = DiffusionSettings.from_model(model)
    token, calls = CancelToken(), []

    def count(mod, args, kwargs):
        calls.append(1)
        if len(calls) == 2:
            token.cancel("test")

    hook = model.model.decoder.register_forward_pre_hook(count, with_kwargs=True)
    try:
        with pytest.raises(Cancelled):
            denoise(
                model,
                encode_tokens(model, None, prompt, 0),
                [Row([0] * 8, [True] * 8, 0)],
                s,
                full_schedule(s, STEPS),
                token,
            )
    finally:
        hook.remove()
    assert len(calls) == 2


# -- the prompt cache ---------------------------------------------------------------------------------


@pytest.mark.parametrize("split", [3, 20, 37])
def test_appending_to_a_cache_equals_encoding_from_scratch(tiny, prompt, split):
    model, _ = tiny
    whole = encode_tokens(model, None, prompt, 0)
    parts = encode_tokens(model, None, prompt[:split], 0)
    parts = encode_tokens(model, parts, prompt[split:], split)
    assert parts.get_seq_length() == whole.get_seq_length() == len(prompt)
    assert_same_cache(snapshot(parts), snapshot(whole), atol=1e-5)


def test_forks_and_batch_views_never_write_the_original(tiny, prompt):
    model, _ = tiny
    base = encode_tokens(model, None, prompt[:30], 0)
    before = snapshot(base)
    child = encode_tokens(model, fork(base), prompt[30:], 30)
    assert child.get_seq_length() == len(prompt) and base.get_seq_length() == 30
    assert_same_cache(snapshot(base), before)
    view = expand(base, 3)
    assert (
        view.layers[0].keys.shape[0] == 3
        and view.layers[0].keys.data_ptr() == base.layers[0].keys.data_ptr()
    )


def test_a_prompt_that_extends_a_cached_one_encodes_only_the_difference(tiny, prompt):
    model, _ = tiny
    pc = PromptCache()
    first, stats = pc.encode(model, prompt[:25], stable=20, key="a")
    assert (stats.reused, stats.encoded) == (0, 25)
    assert pc.cached_ids("a") == [prompt[:20]]  # the stable part is kept, the tail is the caller's

    cache, stats = pc.encode(model, prompt, stable=len(prompt) - 4, key="a")
    assert (stats.reused, stats.encoded) == (20, len(prompt) - 20)
    assert pc.cached_ids("a") == [prompt[: len(prompt) - 4]]
    assert_same_cache(snapshot(cache), snapshot(encode_tokens(model, None, prompt, 0)), atol=1e-5)


def test_a_diverging_prompt_is_encoded_afresh_never_cropped(tiny, prompt):
    model, _ = tiny
    pc = PromptCache()
    pc.encode(model, prompt, key="a")
    edited = prompt[:10] + [prompt[10] + 1] + prompt[11:]
    cache, stats = pc.encode(model, edited, key="a")
    assert (stats.reused, stats.encoded) == (0, len(edited))
    assert pc.cached_ids("a") == [edited]  # the document's old entry was replaced
    assert_same_cache(snapshot(cache), snapshot(encode_tokens(model, None, edited, 0)))


def test_documents_keep_their_own_entries(tiny, prompt):
    model, _ = tiny
    pc = PromptCache(max_entries=2)
    pc.encode(model, prompt[:30], key="a")
    pc.encode(model, prompt[5:40], key="b")
    _, stats = pc.encode(model, prompt[:35], key="a")
    assert stats.reused == 30
    assert sorted(map(len, pc.cached_ids())) == [35, 35]
    pc.encode(model, prompt[1:9], key="c")  # a third document evicts the least recently used
    assert pc.cached_ids("b") == [] and len(pc) == 2

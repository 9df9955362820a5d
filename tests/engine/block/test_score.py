"""``BlockDiffusionEngine.score`` (the warm start) and the preamble in DiffusionGemma's prompts, on
the tiny random checkpoint."""

from __future__ import annotations

import math

import pytest

from diffusion_lsp.engine.api import (
    Cancelled,
    CancelToken,
    EngineError,
    EngineInfo,
    InfillRequest,
    ModelSpec,
    RefineRequest,
    ScoreRequest,
)
from diffusion_lsp.engine.block.engine import BlockDiffusionEngine
from diffusion_lsp.engine.block.prompt import PREAMBLE_HEADING, instruct_prompt

TEXT = "import os\n\ndef add(a, b):\n    return a + b\n\nprint(add(1, 2))\n"
RET = TEXT.index("return")
PREAMBLE = "# edited: add(a, b) now returns a + b\n"


def load(path, mode="inpaint"):
    from transformers import AutoTokenizer, DiffusionGemmaForBlockDiffusion

    model = DiffusionGemmaForBlockDiffusion.from_pretrained(path).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    info = EngineInfo(model=str(path), family="block", device="cpu", dtype="float32")
    return BlockDiffusionEngine(
        model, tokenizer, info, ModelSpec(model=str(path), infill_mode=mode)
    )


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from diffusion_lsp.engine.testing.tiny_gemma import build

    return build(tmp_path_factory.mktemp("tiny-gemma"))


@pytest.fixture(scope="module")
def engine(tiny_dir):
    return load(tiny_dir)


def forwards(engine):
    """Count the canvas decoder's and the encoder's forwards; returns (counts, remove)."""
    counts = {"decoder": 0, "encoder": 0}

    def count(name):
        return lambda *_: counts.__setitem__(name, counts[name] + 1)

    hooks = [
        engine.model.model.decoder.register_forward_hook(count("decoder")),
        engine.model.model.encoder.register_forward_hook(count("encoder")),
    ]
    return counts, lambda: [h.remove() for h in hooks]


@pytest.mark.parametrize("mode", ["inpaint", "instruct"])
def test_one_window_scores_in_one_forward_within_bounds(tiny_dir, mode):
    eng = load(tiny_dir, mode)
    counts, remove = forwards(eng)
    try:
        result = eng.score(ScoreRequest(TEXT, ((RET, RET + 12),)))
    finally:
        remove()
    assert counts == {"decoder": 1, "encoder": 1} and result.nfe == 2  # prefill + the forward
    (window,) = result.windows
    ids = eng.tokenizer(TEXT[RET : RET + 12], add_special_tokens=False).input_ids
    assert len(window.tokens) == len(ids)
    assert "".join(TEXT[t.start : t.end] for t in window.tokens) == TEXT[RET : RET + 12]
    assert all(0.0 <= t.disagreement <= 1.0 for t in window.tokens)
    assert window.score == max(t.disagreement for t in window.tokens)
    assert all(t.top not in ("<mask>", "<bos>", "<start_of_turn>") for t in window.tokens)


def test_windows_with_one_prompt_share_a_forward_and_padding_changes_nothing(engine):
    windows = ((RET, RET + 6), (RET, RET + 16))  # the same prefix: the same prompt
    counts, remove = forwards(engine)
    try:
        together = engine.score(ScoreRequest(TEXT, windows))
    finally:
        remove()
    assert counts["decoder"] == 1 and together.nfe == 2
    for w, window in zip(windows, together.windows):
        alone = engine.score(ScoreRequest(TEXT, (w,))).windows[0]
        assert [t.top for t in alone.tokens] == [t.top for t in window.tokens]
        assert [t.disagreement for t in alone.tokens] == pytest.approx(
            [t.disagreement for t in window.tokens], abs=1e-5
        )
    counts, remove = forwards(engine)
    try:
        apart = engine.score(ScoreRequest(TEXT, ((0, 9), (RET, RET + 6), (RET, RET))))
    finally:
        remove()
    assert counts["decoder"] == 2 and apart.nfe == 4  # two prompts; the empty window needs none
    assert apart.windows[2].score == 0.0 and apart.windows[2].tokens == ()


def test_the_warm_start_reads_what_refine_scores(engine):
    from diffusion_lsp.engine.block.loop import score_tokens

    window = (RET, RET + 16)
    text = TEXT[window[0] : window[1]]
    prompt = engine._prompt(RefineRequest(TEXT[: window[0]], text, TEXT[window[1] :]), 64)
    ids = engine.tokenizer(text, add_special_tokens=False).input_ids
    cache, _ = engine._prefill(prompt, None, None)
    p = score_tokens(engine.model, cache, ids + prompt.suffix_ids, engine.settings)[: len(ids)]
    tokens = engine.score(ScoreRequest(TEXT, (window,))).windows[0].tokens
    for t, p_current in zip(tokens, p):
        assert t.disagreement <= 1.0 - p_current + 1e-6  # p(top) - p(token) <= 1 - p(token)
        assert -1e4 <= t.logprob <= 0 and t.disagreement <= 1.0 - math.exp(t.logprob) + 1e-6


def test_scoring_is_cancelled_and_refuses_a_window_longer_than_the_canvas(engine):
    cancel = CancelToken()
    cancel.cancel("typed")
    with pytest.raises(Cancelled):
        engine.score(ScoreRequest(TEXT, ((RET, RET + 6),)), cancel)
    long = "x = 1\n" * 100
    with pytest.raises(EngineError, match="canvas"):
        engine.score(ScoreRequest(long, ((0, len(long)),)))


def test_scoring_leaves_the_prompt_cache_alone(engine):
    engine.infill(InfillRequest(TEXT[:RET], TEXT[RET:], lengths=(4,), steps=1, document="a.py"))
    before = engine.prompt_cache.cached_ids()
    engine.score(ScoreRequest(TEXT, ((0, 9), (RET, RET + 6)), document="a.py"))
    assert engine.prompt_cache.cached_ids() == before


# -- the preamble ------------------------------------------------------------------------------------


def test_the_instruct_prompt_carries_the_preamble_after_the_code(engine):
    tok = engine.tokenizer
    with_it = instruct_prompt(tok, TEXT[:RET], TEXT[RET:], 2048, preamble=PREAMBLE)
    without = instruct_prompt(tok, TEXT[:RET], TEXT[RET:], 2048)
    text = tok.decode(with_it.ids)
    assert f"{PREAMBLE_HEADING}\n{PREAMBLE.rstrip()}" in text
    assert text.index(PREAMBLE_HEADING) > text.index("print(add")  # after the code
    assert with_it.ids[: without.stable] == without.ids[: without.stable]  # the cached start kept


def test_the_inpaint_prompt_puts_the_preamble_after_the_bos_and_never_trims_it(engine):
    tok = engine.tokenizer
    far = "".join(f"v{i} = {i}\n" for i in range(100))
    request = InfillRequest(far + TEXT[:RET], TEXT[RET:], context_tokens=8, preamble=PREAMBLE)
    prompt = engine._prompt(request, 16)
    extra = tok(PREAMBLE, add_special_tokens=False).input_ids
    assert prompt.ids[: 1 + len(extra)] == [engine.settings.bos_id, *extra]
    plain = engine._prompt(InfillRequest(far + TEXT[:RET], TEXT[RET:], context_tokens=8), 16)
    assert prompt.ids == [plain.ids[0], *extra, *plain.ids[1:]]
    assert prompt.stable == plain.stable + len(extra)


@pytest.mark.parametrize("mode", ["inpaint", "instruct"])
def test_infill_and_refine_send_the_preamble_to_the_encoder(tiny_dir, mode):
    eng = load(tiny_dir, mode)
    seen = []
    hook = eng.model.model.encoder.register_forward_pre_hook(
        lambda mod, args, kwargs: seen.extend(kwargs["input_ids"][0].tolist()), with_kwargs=True
    )
    requests = [
        lambda p: eng.infill(
            InfillRequest(TEXT[:RET], TEXT[RET:], lengths=(4,), steps=1, preamble=p)
        ),
        lambda p: eng.refine(
            RefineRequest(TEXT[:RET], "return a", TEXT[RET + 8 :], steps=1, preamble=p)
        ),
    ]
    try:
        for run in requests:
            for preamble in ("", PREAMBLE):
                seen.clear()
                eng.prompt_cache.clear()
                run(preamble)
                assert (PREAMBLE.strip() in eng.tokenizer.decode(seen)) == bool(preamble)
    finally:
        hook.remove()

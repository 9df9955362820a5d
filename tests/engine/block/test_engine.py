"""The DiffusionGemma engine's requests on a tiny random checkpoint saved to disk and loaded back:
defaults and special ids from the checkpoint, length search in one batch, per-document prompt reuse,
context windows, both infill modes, refine, cancellation and bad input."""

import json
import shutil

import pytest

from diffusion_lsp.engine.api import (
    Cancelled,
    CancelToken,
    EngineError,
    EngineInfo,
    InfillRequest,
    ModelSpec,
    RefineRequest,
)
from diffusion_lsp.engine.block.engine import BlockDiffusionEngine
from diffusion_lsp.engine.block.prompt import HOLE, instruct_prompt, resolve_mode, strip_fences

PREFIX = (
    "import os\n\ndef add(a, b):\n    return a + b\n\nclass Point:\n    def norm(self):\n        "
)
SUFFIX = "\n        return total\n\nprint(Point())\n"
STEPS = 3


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


def decoder_inputs(engine):
    """Record every canvas the decoder sees; returns (list, remove)."""
    seen = []
    hook = engine.model.model.decoder.register_forward_pre_hook(
        lambda mod, args, kwargs: seen.append(kwargs["decoder_input_ids"].clone()), with_kwargs=True
    )
    return seen, hook.remove


# -- the checkpoint decides ---------------------------------------------------------------------------


def test_defaults_and_special_ids_come_from_the_checkpoint(tiny_dir, tmp_path):
    changed = tmp_path / "changed"
    shutil.copytree(tiny_dir, changed)
    gen_path = changed / "generation_config.json"
    gen = json.loads(gen_path.read_text())
    gen.update(max_denoising_steps=5, eos_token_id=[6], t_min=0.3, t_max=0.9)
    gen_path.write_text(json.dumps(gen))
    eng = load(changed)
    s = eng.settings
    assert (s.steps, s.eos_ids, s.t_min, s.t_max, s.entropy_bound) == (5, (6,), 0.3, 0.9, 0.1)
    assert (s.pad_id, s.bos_id, s.canvas_length) == (0, 2, eng.model.config.canvas_length)
    assert eng.stop_ids == {6} and 1 in eng.filler_ids  # <eos> is no longer a stop id, only filler
    result = eng.infill(InfillRequest(PREFIX, SUFFIX, lengths=(4,)))
    assert result.nfe == 5 + 1  # the checkpoint's steps plus the prefill


def test_load_engine_builds_the_block_diffusion_engine_from_the_checkpoint(tiny_dir):
    from diffusion_lsp.engine import load_engine

    eng = load_engine(ModelSpec(model=str(tiny_dir), device="cpu", dtype="float32"))
    assert isinstance(eng, BlockDiffusionEngine) and eng.info.family == "block"
    assert eng.settings.steps == 12 and eng.mode == "inpaint"
    result = eng.infill(InfillRequest(PREFIX, SUFFIX, lengths=(4, 8), steps=STEPS, alternatives=2))
    assert result.nfe == STEPS + 1 and 1 <= len(result.alternatives) <= 2


def test_the_tiny_checkpoint_has_gemma_like_special_tokens(engine):
    tok = engine.tokenizer
    assert tok.vocab_size <= engine.model.config.text_config.vocab_size
    assert len(tok) == engine.model.config.text_config.vocab_size
    assert tok.convert_ids_to_tokens([0, 1, 2]) == ["<pad>", "<eos>", "<bos>"]
    assert engine.settings.eos_ids == (1, tok.convert_tokens_to_ids("<end_of_turn>"))
    assert tok("x").input_ids[0] == engine.settings.bos_id


# -- infill -------------------------------------------------------------------------------------------


def test_infill_denoises_every_candidate_length_in_one_batch(engine):
    seen, remove = decoder_inputs(engine)
    try:
        result = engine.infill(
            InfillRequest(PREFIX, SUFFIX, lengths=(4, 8, 16), steps=STEPS, alternatives=5)
        )
    finally:
        remove()
    assert result.nfe == STEPS + 1 == len(seen) + 1
    assert seen[0].shape[0] == 3  # one row per candidate length, in one batch
    assert {c.length for c in result.alternatives} <= {4, 8, 16}
    assert result.text == result.alternatives[0].text
    assert result.confidence == result.alternatives[0].confidence
    scores = [c.score for c in result.alternatives if c.text.strip()]
    assert scores == sorted(scores, reverse=True)
    t = result.timings
    assert t.total_ms >= t.tokenize_ms + t.prefill_ms + t.denoise_ms > 0


def test_batched_candidates_equal_one_length_at_a_time(engine):
    request = InfillRequest(PREFIX, SUFFIX, lengths=(4, 8), steps=STEPS, seed=9, alternatives=2)
    together = {c.length: c for c in engine.infill(request).alternatives}
    for n, cand in together.items():
        (alone,) = engine.infill(
            InfillRequest(PREFIX, SUFFIX, lengths=(n,), steps=STEPS, seed=9)
        ).alternatives
        assert alone.text == cand.text
        assert alone.confidence == pytest.approx(cand.confidence, abs=1e-5)


def test_the_inpaint_canvas_is_free_slots_then_the_clamped_suffix(engine):
    suffix_ids = engine.tokenizer(SUFFIX, add_special_tokens=False).input_ids
    seen, remove = decoder_inputs(engine)
    try:
        engine.infill(InfillRequest(PREFIX, SUFFIX, lengths=(6,), steps=STEPS))
    finally:
        remove()
    for canvas in seen:
        assert canvas[0, 6:].tolist() == suffix_ids


def test_typing_reuses_the_documents_prompt_cache_exactly(engine, tiny_dir):
    engine.prompt_cache.clear()
    typed = PREFIX + "total = sum"
    engine.infill(InfillRequest(PREFIX, SUFFIX, lengths=(4,), steps=STEPS, document="file:///a.py"))
    first = engine.last_prefill
    warm = engine.infill(
        InfillRequest(typed, SUFFIX, lengths=(4,), steps=STEPS, document="file:///a.py")
    )
    again = engine.last_prefill
    assert first.reused == 0
    assert again.reused > 0 and again.encoded < first.encoded
    assert again.reused + again.encoded == len(engine.tokenizer(typed).input_ids)
    cold = load(tiny_dir).infill(InfillRequest(typed, SUFFIX, lengths=(4,), steps=STEPS))
    assert warm.text == cold.text
    assert warm.confidence == pytest.approx(cold.confidence, abs=1e-5)


def test_the_context_is_windowed_to_the_token_budget(engine):
    engine.prompt_cache.clear()
    far = "".join(f"value_{i} = {i}\n" for i in range(200))
    engine.infill(InfillRequest(far + PREFIX, SUFFIX, lengths=(4,), steps=1, context_tokens=100))
    assert 50 < engine.last_prefill.encoded <= 100 + 1  # + <bos>
    (ids,) = engine.prompt_cache.cached_ids()
    kept = engine.tokenizer.decode(ids[1:])
    full = far + PREFIX
    start = full.index(kept)
    assert start > 0 and full[start - 1] == "\n"  # the window starts at a whole line
    assert "value_199 = 199\n" in kept  # and holds the lines nearest the hole


def test_typing_new_lines_in_a_long_file_keeps_the_window_start_and_the_cache(engine):
    engine.prompt_cache.clear()
    far = "".join(f"value_{i} = {i}\n" for i in range(200))
    doc = "file:///long.py"

    def request(prefix):
        return InfillRequest(
            prefix, SUFFIX, lengths=(4,), steps=1, context_tokens=100, document=doc
        )

    engine.infill(request(far + PREFIX))
    first = engine.last_prefill
    typed = PREFIX + "total = 0\n        total += self.x\n        "
    engine.infill(request(far + typed))
    again = engine.last_prefill
    assert again.reused > first.encoded // 2  # the window did not move: its head is reused
    assert again.encoded < first.encoded
    # without a document there is no remembered start: the window moves and all is encoded anew
    engine.prompt_cache.clear()
    engine.infill(InfillRequest(far + typed, SUFFIX, lengths=(4,), steps=1, context_tokens=100))
    assert engine.last_prefill.reused == 0


def test_single_line_infill_stops_at_the_first_newline(engine):
    result = engine.infill(
        InfillRequest(PREFIX, SUFFIX, lengths=(16,), steps=STEPS, single_line=True, alternatives=3)
    )
    assert all("\n" not in c.text for c in result.alternatives)


def test_a_cancelled_request_never_reaches_the_model(engine):
    token = CancelToken()
    token.cancel("superseded")
    seen, remove = decoder_inputs(engine)
    try:
        with pytest.raises(Cancelled):
            engine.infill(InfillRequest(PREFIX, SUFFIX, lengths=(4,)), token)
    finally:
        remove()
    assert seen == []


# -- instruct mode ------------------------------------------------------------------------------------


def test_auto_mode_picks_instruct_only_for_instruction_tuned_checkpoints_with_a_template(engine):
    tok = engine.tokenizer
    assert resolve_mode("auto", tok, ["google/diffusiongemma-26B-A4B-it"]) == "instruct"
    assert resolve_mode("auto", tok, ["/models/tiny-instruct/"]) == "instruct"
    assert resolve_mode("auto", tok, ["google/diffusiongemma-26B-A4B", None]) == "inpaint"
    assert resolve_mode("auto", tok, ["/models/split/"]) == "inpaint"
    assert resolve_mode("inpaint", tok, ["x-it"]) == "inpaint"

    class NoTemplate:
        chat_template = None

    assert resolve_mode("auto", NoTemplate(), ["google/diffusiongemma-26B-A4B-it"]) == "inpaint"
    assert engine.mode == "inpaint"  # the tiny checkpoint's directory name says nothing


def test_instruct_prompt_holds_prefix_hole_and_suffix_in_a_user_turn(engine):
    tok = engine.tokenizer
    prompt = instruct_prompt(tok, PREFIX, SUFFIX, 2048)
    text = tok.decode(prompt.ids)
    assert text.startswith("<bos><start_of_turn>user\n")
    assert text.endswith("<end_of_turn>\n<start_of_turn>model\n")
    assert PREFIX + HOLE + SUFFIX in text
    assert prompt.suffix_ids == []
    # the stable part ends before the line being typed
    stable = tok.decode(prompt.ids[: prompt.stable])
    assert PREFIX.rsplit("\n", 1)[0] in text and len(stable) < text.index(PREFIX) + len(PREFIX)


def test_instruct_mode_denoises_a_free_canvas(tiny_dir):
    eng = load(tiny_dir, mode="instruct")
    seen, remove = decoder_inputs(eng)
    try:
        result = eng.infill(InfillRequest(PREFIX, SUFFIX, lengths=(4, 8), steps=STEPS))
    finally:
        remove()
    assert seen[0].shape == (2, 8)  # free slots only: no suffix in the canvas
    assert result.nfe == STEPS + 1
    typed = eng.infill(InfillRequest(PREFIX + "x", SUFFIX, lengths=(4,), steps=1))
    assert eng.last_prefill.reused > len(eng.tokenizer(PREFIX).input_ids) // 2
    assert typed.nfe == 2


def test_fences_are_stripped_from_instruct_replies():
    assert strip_fences("```python\nx = 1\n```") == "x = 1"
    assert strip_fences("```\nreturn a\n```\n") == "return a"
    assert strip_fences("x = `y`") == "x = `y`"


# -- refine -------------------------------------------------------------------------------------------


def test_refine_renoises_the_least_confident_fraction_and_clamps_the_rest(engine):
    text = "total = self.x * self.x + self.y * self.y"
    ids = engine.tokenizer(text, add_special_tokens=False).input_ids
    seen, remove = decoder_inputs(engine)
    try:
        result = engine.refine(
            RefineRequest(PREFIX, text, SUFFIX, fraction=0.25, steps=8, alternatives=2)
        )
    finally:
        remove()
    scoring, steps = seen[0], seen[1:]
    assert (
        scoring[0, : len(ids)].tolist() == ids
    )  # one pass over the clean text picks what to renoise
    assert len(steps) == 2  # the schedule starts at noise 0.25 of 8 steps
    assert result.nfe == 1 + 2 + 1
    changed = [{i for i in range(len(ids)) if canvas[0, i].item() != ids[i]} for canvas in steps]
    free = max(len(c) for c in changed)
    assert 0 < free <= round(0.25 * len(ids))
    assert len(result.alternatives) <= 2 and all(c.length == len(ids) for c in result.alternatives)


def test_bad_requests_get_clear_errors(engine):
    with pytest.raises(EngineError, match="fraction"):
        engine.refine(RefineRequest(PREFIX, "x = 1", SUFFIX, fraction=0.0))
    with pytest.raises(EngineError, match="no text"):
        engine.refine(RefineRequest(PREFIX, "", SUFFIX))
    with pytest.raises(EngineError, match="at most"):
        engine.refine(RefineRequest(PREFIX, "x = 1\n" * 200, SUFFIX))
    with pytest.raises(EngineError, match="steps"):
        engine.infill(InfillRequest(PREFIX, SUFFIX, steps=0))
    with pytest.raises(EngineError, match="lengths"):
        engine.infill(InfillRequest(PREFIX, SUFFIX, lengths=(0, 4)))
    with pytest.raises(EngineError, match="temperature"):
        engine.infill(InfillRequest(PREFIX, SUFFIX, temperature=-1.0))

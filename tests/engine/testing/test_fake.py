"""The fake engine's score and its rename option (what the next-edit protocol tests rely on)."""

from __future__ import annotations

import math

import pytest

from diffusion_lsp.engine import api
from diffusion_lsp.engine.testing.fake import load_fake_engine

TEXT = "def f(count):\n    y = x + 1\n    return y * x\n"


def engine(model: str):
    return load_fake_engine(api.ModelSpec(model=model))


def test_score_marks_each_old_token_with_the_new_name():
    fake = engine("fake:rename=x>count")
    body = TEXT.index("    y")
    (window,) = fake.score(api.ScoreRequest(text=TEXT, windows=((body, len(TEXT)),))).windows
    hits = [t for t in window.tokens if t.disagreement > 0]
    assert [(TEXT[t.start : t.end], t.disagreement, t.top) for t in hits] == [
        ("x", 0.95, "count"),
        ("x", 0.95, "count"),
    ]
    assert window.score == 0.95
    assert [TEXT[t.start : t.end] for t in window.tokens[:4]] == ["y", "=", "x", "+"]
    assert all(t.top == TEXT[t.start : t.end] for t in window.tokens if t.disagreement == 0)


def test_score_is_zero_without_the_option_or_without_old():
    text_windows = ((0, len(TEXT)), (0, TEXT.index("\n")))
    plain = engine("").score(api.ScoreRequest(text=TEXT, windows=text_windows))
    assert [w.score for w in plain.windows] == [0.0, 0.0]
    renamed = engine("fake:rename=x>count").score(api.ScoreRequest(text=TEXT, windows=text_windows))
    assert [w.score for w in renamed.windows] == [0.95, 0.0]  # the def line has no x


def test_infill_answers_new_in_the_hole_where_old_stood():
    fake = engine("fake:rename=x>count")
    at = TEXT.index("x")
    hole = api.InfillRequest(prefix=TEXT[:at], suffix=TEXT[at + 1 :], alternatives=2)
    assert [c.text for c in fake.infill(hole).alternatives] == ["count", "count"]
    mid_word = api.InfillRequest(prefix="def f(co", suffix="nt):\n")
    assert fake.infill(mid_word).text == "v0_8"
    assert engine("").infill(hole).text == f"v0_{at}"


def test_a_rename_without_both_names_does_not_load():
    with pytest.raises(api.ModelLoadError, match="rename=OLD>NEW"):
        engine("fake:rename=x")


def test_the_old_name_is_unlikely_only_where_the_new_one_is_in_the_text():
    fake = engine("fake:rename=x>count")
    at = TEXT.index("x")
    renamed = fake.score(api.ScoreRequest(text=TEXT, windows=((at, at + 1),))).windows[0]
    before = TEXT.replace("count", "n")
    plain = fake.score(api.ScoreRequest(text=before, windows=((at - 4, at - 3),)))
    assert "count" in TEXT and renamed.tokens[0].logprob == pytest.approx(math.log(0.05))
    assert before[at - 4] == "x" and plain.windows[0].tokens[0].logprob == 0.0

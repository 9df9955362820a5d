"""CAL: a per-length bias fitted on held-out holes moves the engine's ranking away from the lengths
that its confidence favours wrongly, and the engine applies the bias a checkpoint's config carries."""

import json
import shutil

import pytest

from diffusion_lsp.engine.api import Candidate
from diffusion_lsp.engine.candidates import rank
from diffusion_lsp.eval.calibrate import (
    candidate_sets,
    fit_length_bias,
    mean_utility,
    measure,
    write_length_bias,
)
from diffusion_lsp.eval.holes import Hole


def _cand(text, score, length):
    return Candidate(text, (score,), length)


def test_the_fit_penalises_a_length_whose_confidence_is_inflated():
    # a long hole is always more confident, but only the short one is right
    answers = [f"x + {i}" for i in range(20)]
    sets = [
        (_cand(a, 0.60, 4), _cand(a + " + junk", 0.75, 8), _cand(a + " or more junk", 0.80, 16))
        for a in answers
    ]
    assert all(rank(s)[0].length == 16 for s in sets)  # uncalibrated: the wrong length wins
    bias = fit_length_bias(sets, answers)
    assert bias[4] == 0.0
    assert bias[16] > 0.2 - 1e-9 and bias[8] > 0.15 - 1e-9, bias
    assert all(rank(s, bias)[0].length == 4 for s in sets)
    assert mean_utility(sets, answers, bias) > mean_utility(sets, answers, {})


def test_the_fit_leaves_a_ranking_alone_that_is_already_right():
    answers = [f"y{i}" for i in range(10)]
    sets = [(_cand(a, 0.9, 4), _cand(a + " + z", 0.5, 8)) for a in answers]
    assert fit_length_bias(sets, answers) == {4: 0.0, 8: 0.0}


@pytest.fixture(scope="module")
def calibrated_dir(tiny_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("calibrated") / "model"
    shutil.copytree(tiny_dir, out)
    return out


def _load(path):
    from diffusion_lsp.engine import load_engine
    from diffusion_lsp.engine.api import ModelSpec

    return load_engine(ModelSpec(model=str(path), device="cpu"))


HOLES = [
    Hole(
        "single-line", "python", "a.py", "def f(x):\n    total = ", "x + 1", "\n    return total\n"
    ),
    Hole(
        "single-line",
        "python",
        "b.py",
        "class Box:\n    def get(self):\n        ",
        "return self.value",
        "\n",
    ),
    Hole("single-line", "python", "c.py", "def g(a, b):\n    return ", "a + b", "\n"),
]


def test_the_engine_applies_the_bias_its_checkpoint_config_carries(tiny_dir, calibrated_dir):
    plain = _load(tiny_dir)
    assert plain.length_bias is None
    sets = candidate_sets(plain, HOLES)
    # penalise, for each hole, the length the engine picks today: the pick moves to another length
    moved = 0
    for cands in sets:
        if len({c.text for c in cands}) < 2:
            continue
        winner = rank(cands)[0].length
        bias = {c.length: 0.0 for c in cands} | {winner: 1.0}
        write_length_bias(str(calibrated_dir), bias)
        engine = _load(calibrated_dir)
        assert engine.length_bias == bias
        result = engine.infill(
            __import__("diffusion_lsp.engine.api", fromlist=["InfillRequest"]).InfillRequest(
                HOLES[sets.index(cands)].prefix,
                HOLES[sets.index(cands)].suffix,
                max_tokens=32,
                single_line=True,
                context_tokens=1000,
            )
        )
        assert result.alternatives[0].length != winner
        assert result.text == rank(cands, bias)[0].text
        moved += 1
    assert moved, "the tiny model gave one text per hole at every length"


def test_measure_runs_every_setting_through_the_engine(tiny_dir, tokenizer):
    from diffusion_lsp.eval.run_holes import oracle_tokens

    engine = _load(tiny_dir)
    count = oracle_tokens(tokenizer)
    sets = candidate_sets(engine, HOLES)
    bias = fit_length_bias(sets, [h.answer for h in HOLES])
    report = measure(engine, HOLES, bias, lambda h: count(h.prefix, h.answer))
    names = set(report["settings"])
    assert names == {"oracle", "fixed-4", "fixed-8", "fixed-16", "search", "calibrated"}
    assert all(m["n"] == len(HOLES) for m in report["settings"].values())
    assert engine.length_bias is None  # measure restores the engine
    assert set(report["gap_closed"]) == {"exact_match", "edit_similarity"}


def test_the_calibrate_command_fits_measures_and_writes_the_bias(calibrated_dir, tmp_path):
    from diffusion_lsp.cli import main
    from diffusion_lsp.eval.holes import save_holes

    holes = tmp_path / "holes.jsonl"
    save_holes(HOLES * 2, str(holes))
    out = tmp_path / "cal.json"
    rc = main(
        [
            "eval",
            "calibrate",
            "--model",
            str(calibrated_dir),
            "--device",
            "cpu",
            "--holes",
            str(holes),
            "--write",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    report = json.loads(out.read_text())
    assert report["fit_holes"] == report["test_holes"] == 3
    written = json.loads((calibrated_dir / "config.json").read_text())["diffusion_lsp"]
    assert written["length_bias"] == {k: round(v, 4) for k, v in report["length_bias"].items()}
    assert _load(calibrated_dir).length_bias == {
        int(k): v for k, v in written["length_bias"].items()
    }

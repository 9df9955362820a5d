"""The infill, refine and doctor commands on a file, with a tiny checkpoint saved by save_pretrained."""

from __future__ import annotations

import json

import pytest

from diffusion_lsp.cli import main

SOURCE = "def add(a, b):\n    \n\nprint(add(1, 2))\n"


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "demo.py"
    path.write_text(SOURCE)
    return path


def test_infill_json_holds_text_span_confidence_nfe_timings(source, masked_dir, capsys):
    rc = main(
        [
            "infill",
            str(source),
            "--at",
            "2:5",
            "--model",
            str(masked_dir),
            "--json",
            "--max-tokens",
            "8",
            "--steps",
            "3",
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["range"] == {"start": {"line": 2, "column": 5}, "end": {"line": 2, "column": 5}}
    assert isinstance(out["text"], str) and 0.0 <= out["confidence"] <= 1.0
    assert out["nfe"] == 3 and out["timings"]["denoise_ms"] > 0
    assert out["alternatives"][0]["text"] == out["text"]


def test_refine_prints_the_new_text_of_the_span(source, shifted_dir, capsys):
    rc = main(
        [
            "refine",
            str(source),
            "--range",
            "4:1-4:17",
            "--model",
            str(shifted_dir),
            "--json",
            "--steps",
            "2",
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["range"] == {"start": {"line": 4, "column": 1}, "end": {"line": 4, "column": 17}}
    assert out["nfe"] == 3  # the scoring forward and two steps


@pytest.mark.parametrize(
    "argv, message",
    [
        (["infill", "{src}", "--at", "9:1"], "line 9 is outside the file"),
        (["infill", "{src}", "--at", "1:99"], "column 99 is outside line 1"),
        (["infill", "{src}", "--at", "two"], "is not LINE:COL"),
        (["refine", "{src}", "--range", "4:5-4:1"], "end comes before the start"),
        (["infill", "{missing}", "--at", "1:1"], "no such file"),
        (["infill", "{src}", "--at", "1:1", "--model", "{missing}"], "no model directory"),
    ],
)
def test_user_errors_are_one_line_and_exit_1(source, tmp_path, capsys, argv, message):
    argv = [a.format(src=source, missing=tmp_path / "missing") for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_doctor_reports_torch_dtype_model_and_grammars(masked_dir, capsys):
    assert main(["doctor", "--model", str(masked_dir)]) == 0
    out = capsys.readouterr().out
    for key in ("torch:", "dtype:", "model:", "model files:", "grammars:"):
        assert key in out
    assert "local directory, 1 weight file(s)" in out
    assert "cpu linear layers:" in out  # packed where this torch has oneDNN, else plain


def test_doctor_load_says_how_a_step_runs(masked_dir, tmp_path, capsys):
    from diffusion_lsp.engine.testing.tiny_gemma import build

    assert main(["doctor", "--model", str(masked_dir), "--load"]) == 0
    out = capsys.readouterr().out
    assert "fast path:" in out and "dual KV cache (no graphs" in out  # ModernBERT on the CPU
    gemma = build(tmp_path / "gemma")
    assert main(["doctor", "--model", str(gemma), "--load"]) == 0
    out = capsys.readouterr().out
    assert "DiffusionGemma decoder step, eager (CUDA graphs need a CUDA device)" in out


def test_cli_positions_count_lines_as_lsp_does():
    from diffusion_lsp.cli.common import line_col, parse_position

    text = "x = 1\f# form feed\nlast\n"
    at = parse_position(text, "2:1", "--at")
    assert text[at:].startswith("last")
    assert line_col(text, at) == {"line": 2, "column": 1}

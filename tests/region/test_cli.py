"""`diffusion-lsp regions`: whole-file listings, plain output, and clear errors for bad input."""

from __future__ import annotations

import json

import pytest

from diffusion_lsp.cli import main as cli_main

SOURCE = "def f(x):\n    pass\n\ndef g(:\n    return 1\n\n# TODO: more\n"


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(SOURCE, encoding="utf-8")
    return str(path)


def test_hole_without_at_lists_every_hole(source, capsys):
    assert cli_main(["regions", source, "--intent", "hole", "--json"]) == 0
    holes = json.loads(capsys.readouterr().out)
    assert [(h["start"], h["end"], h["node_type"], h["text"]) for h in holes] == [
        ("2:5", "2:9", "pass_statement", "pass"),
        ("7:1", "7:13", "comment", "# TODO: more"),
    ]
    assert holes[0]["group"] == "func@0:0" and holes[1]["group"] is None


def test_fix_without_at_lists_every_error(source, capsys):
    assert cli_main(["regions", source, "--intent", "fix", "--json"]) == 0
    (fix,) = json.loads(capsys.readouterr().out)
    assert fix["intent"] == "fix" and fix["start"].startswith("4:")


def test_plain_output_shows_span_type_and_text(source, capsys):
    assert cli_main(["regions", source, "--intent", "inline", "--at", "1:10"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "inline 1:10-1:10 function_definition max_lines=12"
    assert "(insertion)" in out


def test_no_region_is_not_an_error(source, capsys):
    assert cli_main(["regions", source, "--intent", "inline", "--at", "1:3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []  # 1:3 is inside the keyword `def`


@pytest.mark.parametrize(
    "args, message",
    [
        (["--intent", "inline", "--at", "99:1"], "line 99 is past the end"),
        (["--intent", "inline", "--at", "1:40"], "column 40 is past the end of line 1"),
        (["--intent", "inline"], "needs --at"),
        (["--intent", "refine", "--at", "1:1"], "needs --range"),
        (["--intent", "hole", "--range", "1:1-1:2"], "--range goes with --intent refine"),
    ],
)
def test_bad_positions_get_a_clear_error(source, capsys, args, message):
    assert cli_main(["regions", source, *args]) == 2
    assert message in capsys.readouterr().err


def test_malformed_position_is_a_usage_error(source, capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(["regions", source, "--intent", "inline", "--at", "0:1"])
    assert exc.value.code == 2
    assert "LINE:COL" in capsys.readouterr().err


def test_missing_file(tmp_path, capsys):
    assert cli_main(["regions", str(tmp_path / "nope.py"), "--intent", "hole"]) == 2
    assert "cannot read" in capsys.readouterr().err

"""Next-edit cases from a user's before/after (and edit) files."""

import pytest

from diffusion_lsp.eval.next_edit import Site, apply_sites
from diffusion_lsp.eval.next_edit_pairs import hunks, load_pairs

BEFORE = "def area(w, h):\n    return w * h\n\n\nprint(area(2, 3))\nprint(area(4, 5))\n"
AFTER = "def area(w, h, d):\n    return w * h * d\n\n\nprint(area(2, 3, 1))\nprint(area(4, 5, 1))\n"


def test_hunks_are_the_changed_characters_of_each_group_of_changed_lines():
    assert hunks(BEFORE, AFTER) == [
        Site(13, 13, ", d"),  # n lines replaced by n lines: one hunk a line
        Site(32, 32, " * d"),
        Site(50, 50, ", 1"),
        Site(68, 68, ", 1"),
    ]
    assert hunks("a = 1\n", "a = 1\nb = 2\nc = 3\n") == [Site(6, 6, "b = 2\nc = 3\n")]
    assert apply_sites(BEFORE, hunks(BEFORE, AFTER)) == AFTER
    assert hunks(BEFORE, BEFORE) == []


def _write(tmp_path, name, **texts):
    for part, text in texts.items():
        (tmp_path / f"{name}.{part}.py").write_text(text)


def test_without_an_edit_file_the_first_hunk_is_the_users_edit(tmp_path):
    _write(tmp_path, "area", before=BEFORE, after=AFTER)
    (case,) = load_pairs(str(tmp_path))
    assert (case.name, case.kind, case.language) == ("area", "pair", "python")
    assert case.edited == BEFORE.replace("(w, h)", "(w, h, d)")
    assert (case.last_edit.start, case.last_edit.before, case.last_edit.after) == (13, "", ", d")
    assert case.expected == (Site(35, 35, " * d"), Site(53, 53, ", 1"), Site(71, 71, ", 1"))
    assert apply_sites(case.edited, case.expected) == AFTER


def test_an_edit_file_names_the_users_edit(tmp_path):
    edit = BEFORE.replace("(w, h)", "(w, h, d)")
    _write(tmp_path, "area", before=BEFORE, after=AFTER, edit=edit)
    (case,) = load_pairs(str(tmp_path))
    assert case.edited == edit
    assert (case.last_edit.start, case.last_edit.before, case.last_edit.after) == (13, "", ", d")
    assert [s.new_text for s in case.expected] == [" * d", ", 1", ", 1"]
    assert apply_sites(case.edited, case.expected) == AFTER


def test_a_pair_of_one_hunk_is_a_no_edit_case(tmp_path):
    _write(tmp_path, "msg", before='print("hi")\n', after='print("hello")\n')
    (case,) = load_pairs(str(tmp_path))
    assert case.kind == "no-edit" and case.expected == () and case.edited == 'print("hello")\n'


def test_bad_pairs_are_refused(tmp_path):
    _write(tmp_path, "lonely", before=BEFORE)
    with pytest.raises(ValueError, match="no lonely.after.py"):
        load_pairs(str(tmp_path))
    (tmp_path / "lonely.before.py").unlink()
    _write(tmp_path, "same", before=BEFORE, after=BEFORE)
    with pytest.raises(ValueError, match="the same"):
        load_pairs(str(tmp_path))


def test_eval_next_edit_refuses_an_unknown_kind(capsys):
    from diffusion_lsp.cli import main

    assert main(["eval", "next-edit", "--kinds", "rename-local,typo"]) == 2
    assert "unknown kind 'typo'" in capsys.readouterr().err


def test_eval_next_edit_runs_the_pairs_of_a_folder_through_the_engine(tmp_path, tiny_dir):
    pytest.importorskip("diffusion_lsp.engine.masked.score")  # piece B: Engine.score
    from diffusion_lsp.region import next_edit

    if not hasattr(next_edit, "suggest"):  # piece C
        pytest.skip("needs region.next_edit.suggest")
    import json

    from diffusion_lsp.cli import main

    _write(tmp_path, "area", before=BEFORE, after=AFTER)
    _write(tmp_path, "msg", before='print("hi")\n', after='print("hello")\n')
    out = tmp_path / "report.json"
    argv = ["eval", "next-edit", "--pairs", str(tmp_path), "--model", str(tiny_dir)]
    assert main([*argv, "--device", "cpu", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["cases"] == 2 and [r["name"] for r in report["results"]] == ["area", "msg"]
    assert report["summary"]["pair"]["n"] == 1 and report["summary"]["no-edit"]["n"] == 1
    assert all(r["ms"] > 0 for r in report["results"])

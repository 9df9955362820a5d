"""The next-edit case builders on a small module: valid edits, and exactly the sites that follow."""

import re

import pytest

from diffusion_lsp.eval.metrics import parses
from diffusion_lsp.eval.next_edit import apply_sites
from diffusion_lsp.eval.next_edit_cases import KINDS, cases_of_file, make_cases

SOURCE = '''"""A small module for the next-edit builders."""

import os


def scale(values, factor):
    total = 0
    for v in values:
        total += v * factor
    return total / len(values) if values else factor


def describe(path):
    name = os.path.basename(path)
    # without its folder
    label = name.upper()
    print("found a file", label)
    return label + name + name


def nested(items):
    hidden = 1
    fn = lambda: hidden
    return [hidden for _ in items] + [fn(), hidden]


def main():
    a = scale([1, 2, 3], 2)
    b = scale([4], 3)
    describe("x")
    os.path.join("a", "b")
    os.path.join("c", "d")
    return a + b + 42
'''


def _cases(kind):
    return {c.last_edit.before: c for c in cases_of_file(SOURCE, "pkg/mod.py", kind)}


def _valid(case):
    """The edit is what the case says, in ``edited``'s offsets, and both texts parse."""
    e = case.last_edit
    assert case.edited[e.start : e.end] == e.after
    assert case.before[: e.start] + e.after + case.before[e.start + len(e.before) :] == case.edited
    assert parses(case.edited, "python") and parses(
        apply_sites(case.edited, case.expected), "python"
    )


def _function(text, name):
    return re.search(rf"def {name}\(.*?(?=\n\n\ndef |\Z)", text, re.S).group(0)


@pytest.mark.parametrize(
    "kind, old, function",
    [
        ("rename-local", "total", "scale"),
        ("rename-local", "name", "describe"),
        ("rename-local", "label", "describe"),
        ("rename-param", "factor", "scale"),
        ("rename-param", "values", "scale"),
    ],
)
def test_a_rename_renames_every_other_use_of_the_name_in_its_function(kind, old, function):
    case = _cases(kind)[old]
    _valid(case)
    new = case.last_edit.after
    assert new != old and new.isidentifier() and not re.search(rf"\b{new}\b", SOURCE)
    assert all(case.edited[s.start : s.end] == old and s.new_text == new for s in case.expected)
    done = apply_sites(case.edited, case.expected)
    want = SOURCE.replace(
        _function(SOURCE, function), re.sub(rf"\b{old}\b", new, _function(SOURCE, function))
    )
    assert done == want


def test_renames_skip_single_uses_nested_scopes_and_the_other_kind():
    local, param = _cases("rename-local"), _cases("rename-param")
    assert set(local) == {"total", "name", "label"}  # v: one use; hidden: seen in a lambda
    assert set(param) == {"factor", "values"}  # path: one use; items: one use


def test_add_param_gives_every_call_the_parameter_as_a_keyword_argument():
    cases = {c.name: c for c in cases_of_file(SOURCE, "pkg/mod.py", "add-param")}
    assert set(cases) == {"add-param:pkg/mod.py:6", "add-param:pkg/mod.py:13"}
    case = cases["add-param:pkg/mod.py:6"]
    _valid(case)
    p = case.last_edit.after.removeprefix(", ")
    assert case.edited.count(f"def scale(values, factor, {p}):") == 1
    done = apply_sites(case.edited, case.expected)
    assert f"scale([1, 2, 3], 2, {p}={p})" in done and f"scale([4], 3, {p}={p})" in done
    assert len(case.expected) == 2


def test_change_call_gives_the_other_calls_the_same_keyword_argument():
    (case,) = [
        c
        for c in cases_of_file(SOURCE, "pkg/mod.py", "change-call")
        if c.edited[: c.last_edit.start].rsplit("\n", 1)[1].lstrip().startswith("os.path.join")
    ]
    _valid(case)
    arg = case.last_edit.after  # ", key=value"
    assert arg.startswith(", ") and "=" in arg
    done = apply_sites(case.edited, case.expected)
    assert f'os.path.join("a", "b"{arg})' in done and f'os.path.join("c", "d"{arg})' in done
    assert len(case.expected) == 1


def test_no_edit_cases_change_a_comment_a_message_or_a_lone_number_and_expect_nothing():
    cases = cases_of_file(SOURCE, "pkg/mod.py", "no-edit")
    for case in cases:
        _valid(case)
        assert case.expected == ()
    changed = {
        case.last_edit.before or case.edited[case.last_edit.start - 5 : case.last_edit.start]
        for case in cases
    }
    assert "42" in changed and "4" in changed  # lone integers
    assert "1" not in changed and "2" not in changed  # too small, or repeated
    assert any(c.edited.count("# without its folder" + c.last_edit.after) for c in cases)
    assert any(c.edited.count('"found a file' + c.last_edit.after + '"') for c in cases)


def test_make_cases_is_deterministic_and_balanced():
    files = [(f"m{i}.py", "python", SOURCE) for i in range(3)] + [("x.c", "c", "int x;")]
    one = make_cases(files, KINDS, 2, seed=1)
    assert one == make_cases(list(reversed(files)), KINDS, 2, seed=1)
    assert [c.kind for c in one] == [k for k in KINDS for _ in range(2)]
    assert make_cases(files, KINDS, 2, seed=2) != one


def test_a_file_that_does_not_parse_yields_nothing():
    assert cases_of_file("def f(:\n", "bad.py", "rename-local") == []

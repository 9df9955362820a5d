"""The HumanEval-Infilling runner: a right completion passes, a wrong one fails, a loop times out."""

import json

import pytest

from diffusion_lsp.eval.humaneval import execute, load_problems, pass_at_1, program, run_problems

PROBLEM = {
    "task_id": "SingleLineInfilling/HumanEval/0/L0",
    "prompt": "def add(a, b):\n",
    "suffix": "\n",
    "canonical_solution": "    return a + b",
    "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n",
    "entry_point": "add",
}


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "infill.jsonl"
    other = dict(PROBLEM, task_id="MultiLineInfilling/HumanEval/0/L0_L0")
    path.write_text(json.dumps(PROBLEM) + "\n" + json.dumps(other) + "\n")
    return str(path)


def test_load_problems_reads_splits(data_file):
    problems = load_problems(data_file)
    assert [p.split for p in problems] == ["SingleLineInfilling", "MultiLineInfilling"]


def test_bad_line_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"task_id": "x"}\n')
    with pytest.raises(ValueError, match="missing"):
        load_problems(str(path))


def test_right_passes_wrong_fails_loop_times_out(data_file):
    problem = load_problems(data_file)[0]
    assert execute(program(problem, "    return a + b"), timeout_s=10) == "passed"
    assert execute(program(problem, "    return a - b"), timeout_s=10) == "failed"
    assert execute(program(problem, "    while True:\n        pass"), timeout_s=1) == "timeout"


def test_memory_limit_stops_a_hog(data_file):
    problem = load_problems(data_file)[0]
    hog = "    x = bytearray(4 * 1024 ** 3)\n    return a + b"
    assert execute(program(problem, hog), timeout_s=10, memory_mb=512).startswith("error")


def test_pass_at_1_per_split(data_file):
    problems = load_problems(data_file)
    answers = {"SingleLineInfilling": "    return a + b", "MultiLineInfilling": "    return 0"}
    outcomes = run_problems(problems, lambda p: answers[p.split], timeout_s=10)
    table = pass_at_1(outcomes)
    assert table["SingleLineInfilling"]["pass@1"] == 1.0
    assert table["MultiLineInfilling"]["pass@1"] == 0.0
    assert table["all"] == {"n": 2, "pass@1": 0.5}

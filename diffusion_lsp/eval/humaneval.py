"""HumanEval-Infilling runner (Bavarian et al. 2022, "Efficient Training of Language Models to Fill
in the Middle"): fill each problem's hole, execute prompt + completion + suffix + test in a
subprocess with a timeout and a memory limit, and report pass@1 per split.

The data file is the user's (JSONL, optionally gzipped), one problem per line with ``task_id``,
``prompt``, ``suffix``, ``canonical_solution``, ``test`` and ``entry_point``. The split is the first
part of ``task_id`` (``SingleLineInfilling/HumanEval/0/L0`` -> ``SingleLineInfilling``), or the file
name when the id has no ``/``.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass

REQUIRED = ("task_id", "prompt", "suffix", "canonical_solution", "test", "entry_point")


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    suffix: str
    canonical_solution: str
    test: str
    entry_point: str
    split: str


@dataclass(frozen=True)
class Outcome:
    task_id: str
    split: str
    completion: str
    passed: bool
    status: str  # "passed", "failed", "timeout" or "error: ..."


def load_problems(path: str) -> list[Problem]:
    """Read a HumanEval-Infilling JSONL file; a malformed line raises ValueError naming it."""
    opener = gzip.open if path.endswith(".gz") else open
    default_split = os.path.basename(path).split(".")[0]
    problems = []
    with opener(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not JSON ({exc.msg})") from None
            missing = [k for k in REQUIRED if k not in item]
            if missing:
                raise ValueError(f"{path}:{lineno}: missing {', '.join(missing)}")
            split = item["task_id"].split("/")[0] if "/" in item["task_id"] else default_split
            problems.append(Problem(**{k: item[k] for k in REQUIRED}, split=split))
    return problems


def program(problem: Problem, completion: str) -> str:
    """The program that passes iff the completion is right."""
    return (
        problem.prompt
        + completion
        + problem.suffix
        + "\n\n"
        + problem.test
        + "\n\n"
        + f"check({problem.entry_point})\n"
    )


def _limits(memory_mb: int, cpu_seconds: int) -> Callable[[], None]:
    def apply() -> None:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
        os.setsid()

    return apply


def execute(source: str, *, timeout_s: float = 10.0, memory_mb: int = 1024) -> str:
    """Run ``source`` with a fresh isolated Python in a temporary directory; returns the status."""
    with tempfile.TemporaryDirectory(prefix="dlsp-humaneval-") as tmp:
        path = os.path.join(tmp, "program.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(source)
        try:
            proc = subprocess.run(
                [sys.executable, "-I", path],
                cwd=tmp,
                capture_output=True,
                timeout=timeout_s,
                preexec_fn=_limits(memory_mb, int(timeout_s) + 1) if os.name == "posix" else None,
                env={"PATH": os.environ.get("PATH", ""), "PYTHONHASHSEED": "0"},
            )
        except subprocess.TimeoutExpired:
            return "timeout"
    if proc.returncode == 0:
        return "passed"
    err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    return (
        "failed"
        if err and "AssertionError" in err[-1]
        else f"error: {err[-1] if err else proc.returncode}"
    )


def run_problems(
    problems: Iterable[Problem],
    fill: Callable[[Problem], str],
    *,
    timeout_s: float = 10.0,
    memory_mb: int = 1024,
    progress: Callable[[int], None] | None = None,
) -> list[Outcome]:
    """Fill and execute every problem, one at a time (greedy: pass@1 is the share passed)."""
    outcomes = []
    for problem in problems:
        completion = fill(problem)
        status = execute(program(problem, completion), timeout_s=timeout_s, memory_mb=memory_mb)
        outcomes.append(
            Outcome(problem.task_id, problem.split, completion, status == "passed", status)
        )
        if progress:
            progress(1)
    return outcomes


def pass_at_1(outcomes: Iterable[Outcome]) -> dict[str, dict[str, float]]:
    """{split: {n, pass@1}} and "all"."""
    groups: dict[str, list[bool]] = {}
    for o in outcomes:
        groups.setdefault(o.split, []).append(o.passed)
        groups.setdefault("all", []).append(o.passed)
    return {k: {"n": len(v), "pass@1": sum(v) / len(v)} for k, v in sorted(groups.items())}

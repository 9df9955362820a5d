"""bench_cpu_floor.py runs end to end at a tiny size: the product's engine, the floor, the table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location(
        "bench_cpu_floor", ROOT / "benchmarks" / "bench_cpu_floor.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_floor_benchmark_runs_at_a_tiny_size(capsys):
    _bench().main(["--preset", "tiny", "--context", "60", "--repeats", "1", "--threads", "1"])
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split(" | ") for line in lines if line.startswith("| random tiny")]
    assert [r[1] for r in rows] == ["bfloat16", "float32"]
    for r in rows:
        p50, floor, ratio = float(r[5]), float(r[8]), float(r[9])
        assert p50 > 0 and floor > 0 and abs(ratio - p50 / floor) <= 0.03 * ratio + 0.1
        tokenize, prefill, steps, rest = (float(x.strip(" |")) for x in r[10:14])
        assert prefill > 0 and steps > 0  # the dual cache's phases were timed
        assert rest >= 0 and tokenize + prefill + steps <= p50  # the phases lie inside the request


def test_the_matmul_rate_is_positive_at_the_model_shapes():
    import torch

    rate = _bench().matmul_rate([(64, 192), (64, 64)], 32, torch.float32, repeats=1)
    assert rate > 0

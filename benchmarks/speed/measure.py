"""Timing and bookkeeping shared by every measurement: a device-synchronised clock, percentiles, the
``Run`` (results, log, time budget, phases), random prompt tokens and the crossover against AR.
"""

from __future__ import annotations

import contextlib
import json
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class Clock:
    """Wall time of a callable, synchronised with the device."""

    def __init__(self, device: Any) -> None:
        self.device = device

    def sync(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def ms(self, fn: Callable[[], Any]) -> float:
        self.sync()
        t0 = time.perf_counter()
        fn()
        self.sync()
        return (time.perf_counter() - t0) * 1000

    def series(self, fn: Callable[[], Any], reps: int, warmup: int = 1) -> list[float]:
        for _ in range(warmup):
            fn()
        return [self.ms(fn) for _ in range(reps)]


def p50(xs: list[float]) -> float:
    return statistics.median(xs)


def p95(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, math.ceil(0.95 * len(s)) - 1)]


def summary(xs: list[float]) -> dict[str, float]:
    return {"p50": round(p50(xs), 3), "p95": round(p95(xs), 3), "n": len(xs)}


class Run:
    """Results, log and the time budget of one benchmark run; results are flushed after each phase."""

    def __init__(self, out: Path, budget_s: float, name: str = "speed") -> None:
        self.out = out
        self.name = name
        self.start = time.perf_counter()
        self.budget_s = budget_s
        self.results: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S")}
        out.mkdir(parents=True, exist_ok=True)
        self.log_file = (out / "speed.log").open("a")

    def log(self, msg: str) -> None:
        line = f"[{time.perf_counter() - self.start:7.1f}s] {msg}"
        print(line, flush=True)
        self.log_file.write(line + "\n")
        self.log_file.flush()

    def left(self) -> float:
        return self.budget_s - (time.perf_counter() - self.start)

    def save(self) -> None:
        self.results["elapsed_s"] = round(time.perf_counter() - self.start, 1)
        (self.out / f"{self.name}.json").write_text(json.dumps(self.results, indent=1))

    @contextlib.contextmanager
    def phase(self, name: str, need_s: float = 0.0):
        if self.left() < need_s:
            self.log(f"SKIP {name}: {self.left():.0f}s left, needs about {need_s:.0f}s")
            self.results.setdefault("skipped", []).append(name)
            self.save()
            yield False
            return
        self.log(f"== {name}")
        try:
            yield True
        except Exception as exc:  # a failed phase is reported, and the run goes on
            import traceback

            self.log(f"FAILED {name}: {exc!r}\n{traceback.format_exc()}")
            self.results.setdefault("failed", {})[name] = repr(exc)
        finally:
            self.save()


def random_tokens(n: int, vocab: int, seed: int, device: Any) -> Any:
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randint(10, min(vocab - 10, 150000), (n,), generator=g).to(device)


def crossover(sweep: list[dict[str, float]], tok_ms: float, context: int) -> dict[str, Any]:
    """Smallest canvas length at which S denoising steps cost less than that many AR tokens."""
    out: dict[str, Any] = {
        "context": context,
        "ar_token_ms": round(tok_ms, 3),
        "sweep": sweep,
        "at_steps": {},
    }
    for steps in (4, 8, 16, 48):
        found = None
        for e in sweep:
            if steps * e["step_ms"] < e["tokens"] * tok_ms:
                found = e["tokens"]
                break
        out["at_steps"][str(steps)] = found
    return out

"""Hole length calibration, CAL (arXiv 2602.00476), fitted and measured through the product engine.

A searched hole is denoised at every length of the ladder and the engine keeps the candidate of
highest mean confidence; that ranking favours some lengths whatever the hole. CAL subtracts a
per-length bias fitted on held-out holes. Here the bias is fitted on the candidates the engine
itself returns for a realistic request (one per distinct text, each with the length it was
denoised at and its mean confidence over the whole denoising: the paper scores the first step's
confidence, the engine keeps only the final one, so the fit uses that), by coordinate search for the
biases that make the engine's top candidate best on the fitting holes (exact match, then edit
similarity). The result goes into the checkpoint's config as ``diffusion_lsp.length_bias``, which
``engine.candidates.rank`` applies.

``measure`` then scores held-out holes the fit never saw, all through ``engine.infill``: the oracle
length, each fixed length of the ladder, the searched length as the engine ranks it today, and the
searched length with the bias; the share of the oracle-versus-search gap the bias closes is the
figure to report.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from diffusion_lsp.engine.api import Candidate, InfillRequest
from diffusion_lsp.engine.candidates import default_lengths, rank
from diffusion_lsp.eval.holes import Hole
from diffusion_lsp.eval.metrics import edit_similarity, exact_match
from diffusion_lsp.eval.run_holes import MAX_TOKENS, request_for, score

GRID = tuple(round(-0.3 + 0.01 * i, 2) for i in range(61))  # candidate biases, -0.3 .. 0.3


def ladder(hole: Hole) -> tuple[int, ...]:
    """The lengths a realistic request for ``hole`` searches."""
    return default_lengths(MAX_TOKENS[hole.kind], hole.kind == "single-line")


def candidate_sets(
    engine: Any,
    holes: Sequence[Hole],
    *,
    context_tokens: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> list[tuple[Candidate, ...]]:
    """The engine's candidates for each hole's realistic request, with no bias applied."""
    saved = getattr(engine, "length_bias", None)
    engine.length_bias = None
    out = []
    try:
        for hole in holes:
            request = InfillRequest(
                hole.prefix,
                hole.suffix,
                max_tokens=MAX_TOKENS[hole.kind],
                single_line=hole.kind == "single-line",
                context_tokens=context_tokens,
                temperature=0.0,
                alternatives=len(ladder(hole)),
            )
            out.append(tuple(engine.infill(request).alternatives))
            if progress:
                progress(1)
    finally:
        engine.length_bias = saved
    return out


def utility(candidate: Candidate, answer: str) -> float:
    """What a pick is worth: exact match counts most, edit similarity breaks ties."""
    return float(exact_match(candidate.text, answer)) + 0.5 * edit_similarity(
        candidate.text, answer
    )


def mean_utility(
    sets: Sequence[Sequence[Candidate]], answers: Sequence[str], bias: Mapping[int, float]
) -> float:
    """Mean utility of the engine's top candidate under ``bias`` over the holes."""
    return _scorer(sets, answers)(bias)


def _scorer(
    sets: Sequence[Sequence[Candidate]], answers: Sequence[str]
) -> Callable[[Mapping[int, float]], float]:
    """``mean_utility`` with each candidate's utility computed once (the fit calls it often)."""
    kept = [(tuple(c), a) for c, a in zip(sets, answers, strict=True) if c]
    worth = {id(c): utility(c, a) for cands, a in kept for c in cands}

    def mean(bias: Mapping[int, float]) -> float:
        return sum(worth[id(rank(cands, bias)[0])] for cands, _ in kept) / max(1, len(kept))

    return mean


def fit_length_bias(
    sets: Sequence[Sequence[Candidate]],
    answers: Sequence[str],
    *,
    grid: Sequence[float] = GRID,
    rounds: int = 3,
) -> dict[int, float]:
    """Per-length biases (the shortest length fixed at 0) that maximise ``mean_utility``.

    With up to two other lengths (the single-line ladder) every pair of ``grid`` values is tried;
    with more, coordinate search from the best of that over the first two. Among equals the bias
    nearest 0 wins (no evidence, no bias).
    """
    import itertools

    lengths = sorted({c.length for cands in sets for c in cands})
    bias = {n: 0.0 for n in lengths}
    if len(lengths) < 2:
        return bias
    mean = _scorer(sets, answers)
    order = sorted(grid, key=abs)
    free = lengths[1:]
    head = free[:2]
    best_u, best_norm = mean(bias), 0.0
    for values in itertools.product(order, repeat=len(head)):
        trial = {**bias, **dict(zip(head, values, strict=True))}
        u, norm = mean(trial), sum(abs(v) for v in values)
        if u > best_u + 1e-12 or (abs(u - best_u) <= 1e-12 and norm < best_norm):
            best_u, best_norm, chosen = u, norm, trial
            bias = chosen
    for _ in range(rounds if len(free) > 2 else 0):
        changed = False
        for n in free:
            best_v = bias[n]
            for v in order:
                u = mean({**bias, n: v})
                if u > best_u + 1e-12:
                    best_v, best_u = v, u
            if best_v != bias[n]:
                bias[n], changed = best_v, True
        if not changed:
            break
    return bias


def measure(
    engine: Any,
    holes: Sequence[Hole],
    bias: Mapping[int, float],
    oracle_tokens: Callable[[Hole], int],
    *,
    context_tokens: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """{setting: {n, exact_match, edit_similarity}} for oracle, fixed-N, search, calibrated, and
    the gap the bias closes: (calibrated - search) / (oracle - search), per metric."""
    settings: dict[str, list[Any]] = {}
    saved = getattr(engine, "length_bias", None)

    def run(name: str, request: InfillRequest, hole: Hole) -> None:
        result = engine.infill(request)
        settings.setdefault(name, []).append(score(hole, name, result.text, 0.0))
        if progress:
            progress(1)

    try:
        for hole in holes:
            engine.length_bias = None
            run("oracle", request_for(hole, "oracle", oracle_tokens, context_tokens), hole)
            realistic = request_for(hole, "realistic", oracle_tokens, context_tokens)
            for n in ladder(hole):
                fixed = InfillRequest(
                    hole.prefix,
                    hole.suffix,
                    lengths=(n,),
                    max_tokens=realistic.max_tokens,
                    single_line=realistic.single_line,
                    context_tokens=context_tokens,
                )
                run(f"fixed-{n}", fixed, hole)
            run("search", realistic, hole)
            engine.length_bias = dict(bias)
            run("calibrated", realistic, hole)
    finally:
        engine.length_bias = saved
    table: dict[str, Any] = {}
    for name, items in settings.items():
        table[name] = {
            "n": len(items),
            "exact_match": sum(s.exact for s in items) / len(items),
            "edit_similarity": sum(s.similarity for s in items) / len(items),
        }
    gap = {}
    for metric in ("exact_match", "edit_similarity"):
        o, s, c = (table[k][metric] for k in ("oracle", "search", "calibrated"))
        gap[metric] = (c - s) / (o - s) if abs(o - s) > 1e-12 else float("nan")
    fixed = [k for k in table if k.startswith("fixed-")]
    best_fixed = max(fixed, key=lambda k: table[k]["edit_similarity"]) if fixed else None
    return {"settings": table, "gap_closed": gap, "best_fixed": best_fixed}


def write_length_bias(model_dir: str, bias: Mapping[int, float]) -> str:
    """Store ``bias`` in ``model_dir``'s config.json as ``diffusion_lsp.length_bias``."""
    path = os.path.join(model_dir, "config.json")
    with open(path) as f:
        config = json.load(f)
    config.setdefault("diffusion_lsp", {})["length_bias"] = {
        str(n): round(float(v), 4) for n, v in sorted(bias.items())
    }
    with open(path, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    return path


def format_report(report: Mapping[str, Any]) -> str:
    lines = ["| setting | n | exact match | edit similarity |", "| --- | ---: | ---: | ---: |"]
    for name, m in report["settings"].items():
        lines.append(f"| {name} | {m['n']} | {m['exact_match']:.1%} | {m['edit_similarity']:.3f} |")
    gap = report["gap_closed"]
    lines.append(
        "gap closed (calibrated - search) / (oracle - search): "
        + ", ".join(f"{k} {'n/a' if math.isnan(v) else f'{v:.0%}'}" for k, v in gap.items())
    )
    return "\n".join(lines)

"""The next-edit benchmark (``diffusion-lsp eval next-edit``): cases, scores, the run, the table.

A ``Case`` is a file before the user's one edit (``before``), after it (``edited``, ``last_edit``
in its offsets) and the sites that should change next (``expected``, ``Site`` in ``edited``'s
offsets; none for the no-edit kind). ``run`` puts every case through the product's pipeline,
``region.next_edit.suggest``, and scores the one suggestion it returns (or none):

- location: the suggestion overlaps an expected site (``next_edit_metrics.overlaps``);
- exact: applying it gives exactly ``edited`` with the expected sites it touches applied (one
  or more: a statement that uses a renamed name twice is renamed in one suggestion);
- delta-chrF: Zed's edit-prediction score (``next_edit_metrics.delta_chr_f``) of the suggestion's
  edit against each site's edit (and the touched sites' together), the best of them (for a no-edit case, against no edit at all);
- latency: the ``suggest`` call in ms.

Aggregates, per kind and over all edit cases: location accuracy, exact match, mean delta-chrF, the
share with a suggestion; for the no-edit cases precision, the share with no suggestion; p50
latency. Cases come from ``next_edit_cases`` (held-out files) or ``next_edit_pairs`` (a user's
before/after pairs).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from diffusion_lsp.eval.metrics import percentile
from diffusion_lsp.eval.next_edit_metrics import delta_chr_f, overlaps
from diffusion_lsp.region.next_edit import LastEdit

NO_EDIT = "no-edit"


@dataclass(frozen=True, order=True)
class Site:
    """``edited[start:end]`` should become ``new_text``."""

    start: int
    end: int
    new_text: str


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    before: str
    edited: str
    last_edit: LastEdit
    expected: tuple[Site, ...]
    language: str


def apply_sites(text: str, sites: Iterable[Site]) -> str:
    """``text`` with every (disjoint) site applied."""
    for site in sorted(sites, reverse=True):
        text = text[: site.start] + site.new_text + text[site.end :]
    return text


@dataclass(frozen=True)
class CaseResult:
    case: Case
    suggested: bool
    location: bool
    exact: bool
    delta_chr_f: float
    latency_ms: float
    suggestion: tuple[int, int, str] | None  # (start, end, new_text) in ``edited``'s offsets


def score(case: Case, suggestion: Any | None, latency_ms: float = 0.0) -> CaseResult:
    """The scores of one suggestion (anything with ``start``, ``end``, ``new_text``; None for no
    suggestion) on ``case``."""
    text = case.edited
    if suggestion is None:
        actual = text
        location = exact = False
        span = None
    else:
        s, e, new = suggestion.start, suggestion.end, suggestion.new_text
        actual = text[:s] + new + text[e:]
        location = any(overlaps(s, e, site.start, site.end) for site in case.expected)
        touched = [site for site in case.expected if site.start <= e and s <= site.end]
        exact = bool(touched) and actual == apply_sites(text, touched)
        span = (s, e, new)
    targets = [apply_sites(text, [site]) for site in case.expected] or [text]
    if suggestion is not None and len(touched) > 1:
        targets.append(apply_sites(text, touched))
    chrf = max(delta_chr_f(text, target, actual) for target in targets)
    return CaseResult(case, suggestion is not None, location, exact, chrf, latency_ms, span)


def run(
    engine: Any,
    cases: Sequence[Case],
    options: Any = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Every case through ``region.next_edit.suggest`` (the product's path) with ``options``
    (default: the server's); the report: ``summary`` (``summarize``) and per-case ``results``."""
    results = run_cases(engine, cases, options, progress)
    return {"summary": summarize(results), "results": [result_json(r) for r in results]}


def run_cases(
    engine: Any,
    cases: Sequence[Case],
    options: Any = None,
    progress: Callable[[int], None] | None = None,
) -> list[CaseResult]:
    from diffusion_lsp.region import Document
    from diffusion_lsp.region.next_edit import Options, suggest

    options = options or Options()
    out = []
    for case in cases:
        doc = Document(case.edited, case.language)
        t0 = time.perf_counter()
        suggestion = suggest(engine, doc, [case.last_edit], options, None, case.language)
        out.append(score(case, suggestion, (time.perf_counter() - t0) * 1e3))
        if progress:
            progress(1)
    return out


def summarize(results: Sequence[CaseResult]) -> dict[str, dict[str, float]]:
    """{kind, "edit cases" or "all": {n, suggested, location, exact, delta_chr_f, p50_ms}}, and for
    the no-edit kind (and "all") ``precision``: the share of no-edit cases left without a
    suggestion."""
    groups: dict[str, list[CaseResult]] = {}
    for r in results:
        groups.setdefault(r.case.kind, []).append(r)
    for r in results:
        if r.case.kind != NO_EDIT:
            groups.setdefault("edit cases", []).append(r)
    if results:
        groups["all"] = list(results)
    table: dict[str, dict[str, float]] = {}
    for name, items in groups.items():
        edits = [r for r in items if r.case.kind != NO_EDIT]
        quiet = [r for r in items if r.case.kind == NO_EDIT]
        row: dict[str, float] = {
            "n": len(items),
            "suggested": sum(r.suggested for r in items) / len(items),
            "p50_ms": percentile([r.latency_ms for r in items], 50),
        }
        if edits:
            row["location"] = sum(r.location for r in edits) / len(edits)
            row["exact"] = sum(r.exact for r in edits) / len(edits)
            row["delta_chr_f"] = sum(r.delta_chr_f for r in edits) / len(edits)
        if quiet:
            row["precision"] = sum(not r.suggested for r in quiet) / len(quiet)
        table[name] = row
    return table


def result_json(r: CaseResult) -> dict[str, Any]:
    c = r.case
    return {
        "name": c.name,
        "kind": c.kind,
        "last_edit": {
            "start": c.last_edit.start,
            "before": c.last_edit.before,
            "after": c.last_edit.after,
        },
        "expected": [[s.start, s.end, s.new_text] for s in c.expected],
        "suggestion": list(r.suggestion) if r.suggestion else None,
        "location": r.location,
        "exact": r.exact,
        "delta_chr_f": round(r.delta_chr_f, 2),
        "ms": round(r.latency_ms, 1),
    }


def format_table(table: dict[str, dict[str, float]]) -> str:
    def pct(row: dict[str, float], key: str) -> str:
        return f"{row[key]:.0%}" if key in row else "-"

    lines = [
        "| kind | n | suggested | location | exact | delta-chrF | precision (no-edit) | p50 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, m in table.items():
        chrf = f"{m['delta_chr_f']:.1f}" if "delta_chr_f" in m else "-"
        lines.append(
            f"| {kind} | {int(m['n'])} | {m['suggested']:.0%} | {pct(m, 'location')} | "
            f"{pct(m, 'exact')} | {chrf} | {pct(m, 'precision')} | {m['p50_ms']:.0f} |"
        )
    return "\n".join(lines)

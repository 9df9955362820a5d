"""Score a filler on held-out holes, in the oracle-length and the realistic (searched-length) setting.

Oracle: the hole gets exactly as many slots as its answer has tokens. Realistic: the filler searches
the length itself (a ladder of candidate lengths; the model's null token closes a hole longer than
its answer). Latency is measured one request at a time, as an editor would send them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from diffusion_lsp.engine.api import InfillRequest
from diffusion_lsp.eval.holes import Hole
from diffusion_lsp.eval.metrics import edit_similarity, exact_match, parses, percentile

SETTINGS = ("oracle", "realistic")
MAX_TOKENS = {"single-line": 32, "expression": 32, "multi-line": 128, "block": 128}


@dataclass(frozen=True)
class Scored:
    hole: Hole
    setting: str
    prediction: str
    exact: bool
    similarity: float
    parsed: bool | None  # None: the original file does not parse, or no grammar
    latency_ms: float


def request_for(
    hole: Hole, setting: str, oracle_tokens: Callable[[Hole], int], context_tokens: int = 1000
) -> InfillRequest:
    """The engine request for ``hole`` in ``setting``."""
    single = hole.kind == "single-line"
    if setting == "oracle":
        n = max(1, oracle_tokens(hole))
        return InfillRequest(
            hole.prefix,
            hole.suffix,
            lengths=(n,),
            max_tokens=n,
            single_line=single,
            context_tokens=context_tokens,
        )
    return InfillRequest(
        hole.prefix,
        hole.suffix,
        lengths=None,
        max_tokens=MAX_TOKENS[hole.kind],
        single_line=single,
        context_tokens=context_tokens,
    )


def score(hole: Hole, setting: str, prediction: str, latency_ms: float) -> Scored:
    parsed = None
    if parses(hole.prefix + hole.answer + hole.suffix, hole.language):
        parsed = parses(hole.prefix + prediction + hole.suffix, hole.language)
    return Scored(
        hole,
        setting,
        prediction,
        exact_match(prediction, hole.answer),
        edit_similarity(prediction, hole.answer),
        parsed,
        latency_ms,
    )


def run_engine(
    engine: Any,
    holes: Sequence[Hole],
    settings: Sequence[str],
    oracle_tokens: Callable[[Hole], int],
    *,
    context_tokens: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> list[Scored]:
    """One request at a time through ``engine.infill`` (the product's engine, or the reference)."""
    out: list[Scored] = []
    for setting in settings:
        for hole in holes:
            request = request_for(hole, setting, oracle_tokens, context_tokens)
            t0 = time.perf_counter()
            result = engine.infill(request)
            ms = (time.perf_counter() - t0) * 1e3
            out.append(score(hole, setting, result.text, ms))
            if progress:
                progress(1)
    return out


def summarize(scored: Sequence[Scored]) -> dict[str, dict[str, dict[str, float]]]:
    """{setting: {kind: {n, exact_match, edit_similarity, parse_rate, p50_ms, p90_ms}}}, kind "all" too."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    groups: dict[tuple[str, str], list[Scored]] = {}
    for s in scored:
        groups.setdefault((s.setting, s.hole.kind), []).append(s)
        groups.setdefault((s.setting, "all"), []).append(s)
    for (setting, kind), items in sorted(groups.items()):
        parsed = [s.parsed for s in items if s.parsed is not None]
        lat = [s.latency_ms for s in items]
        table.setdefault(setting, {})[kind] = {
            "n": len(items),
            "exact_match": sum(s.exact for s in items) / len(items),
            "edit_similarity": sum(s.similarity for s in items) / len(items),
            "parse_rate": (sum(parsed) / len(parsed)) if parsed else float("nan"),
            "p50_ms": percentile(lat, 50),
            "p90_ms": percentile(lat, 90),
        }
    return table


def format_table(summary: dict[str, dict[str, dict[str, float]]]) -> str:
    """A markdown table of ``summarize``'s result."""
    lines = [
        "| setting | kind | n | exact match | edit similarity | parse rate | p50 ms | p90 ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for setting, kinds in summary.items():
        for kind, m in kinds.items():
            lines.append(
                f"| {setting} | {kind} | {int(m['n'])} | {m['exact_match']:.1%} | {m['edit_similarity']:.3f} | "
                f"{m['parse_rate']:.1%} | {m['p50_ms']:.0f} | {m['p90_ms']:.0f} |"
            )
    return "\n".join(lines)


def run_reference_batched(
    infiller: Any,
    holes: Sequence[Hole],
    settings: Sequence[str],
    oracle_tokens: Callable[[Hole], int],
    *,
    batch: int = 64,
    context_tokens: int = 1000,
) -> list[Scored]:
    """Many holes per forward pass through the reference infiller (for quick GPU evaluation during
    training; latency is the batch's time per hole, not an editor's latency)."""
    from diffusion_lsp.eval.reference import default_ladder

    out: list[Scored] = []
    for setting in settings:
        for i in range(0, len(holes), batch):
            chunk = holes[i : i + batch]
            reqs = [request_for(h, setting, oracle_tokens, context_tokens) for h in chunk]
            lengths = [r.lengths or default_ladder(r.max_tokens, r.single_line) for r in reqs]
            t0 = time.perf_counter()
            filled = infiller.fill_many(
                [(r.prefix, r.suffix) for r in reqs],
                lengths,
                single_line=[r.single_line for r in reqs],
                context_tokens=context_tokens,
            )
            ms = (time.perf_counter() - t0) * 1e3 / len(chunk)
            out += [
                score(h, setting, text, ms) for h, (text, _, _) in zip(chunk, filled, strict=True)
            ]
    return out

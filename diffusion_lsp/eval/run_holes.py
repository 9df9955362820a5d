"""Score the product's engine on held-out holes, in the oracle-length and the realistic setting.

Oracle: the request names one length, exactly as many tokens as the answer has. Realistic: the
request names none, so the engine searches its own ladder (``engine.candidates.default_lengths``;
the model's null token closes a hole longer than its answer). There is no denoising loop here: every
prediction is ``engine.infill``'s text. Latency is measured one request at a time, as an editor
sends them.
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


def oracle_tokens(tokenizer: Any) -> Callable[[str, str], int]:
    """Tokens of ``answer`` as the engine sees it after ``prefix``: the oracle hole length.

    The engine moves a prefix's trailing space into the hole (``engine.tokens.heal``), so the answer
    is counted with that space in front.
    """
    from diffusion_lsp.engine.tokens import heal

    def count(prefix: str, answer: str) -> int:
        _, healed = heal(prefix)
        text = (" " if healed else "") + answer
        return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    return count


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
    """One request at a time through the product engine's ``infill``, as an editor sends them."""
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

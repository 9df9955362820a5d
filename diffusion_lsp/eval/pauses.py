"""The "editor pauses" set: 50 cursor positions in realistic modules where a person stops typing and
waits for a suggestion, scored through the server's own inline-completion path.

The modules (``data/pauses/*.py``, written for this set) are whole; ``positions.json`` names, for
each pause, a position (0-based line and character) and the code that was there from the cursor to
the end of its line (``expected``). The document the person has at the pause is the module with that
code removed: the rest of the line after an identifier or an operator, or a whole line (the first
body line of a function, the line after a block header, the next statement), leaving the cursor on
the indented empty line. Every pause goes through what ``textDocument/inlineCompletion`` runs: the
region at the cursor (``region.inline_region``), the engine request the feature builds
(``lsp.features.inline_completion.infill_request``, an automatic trigger), ``engine.infill``, and the
feature's cleaning, ranking and confidence floor (``candidate_texts``).

Scores per pause: whether anything is shown (the floor may hide every candidate), exact match of the
shown suggestion's first line with ``expected`` (whitespace-trimmed), its edit similarity, and
whether the module with the suggestion inserted parses. ``top`` repeats them for the best candidate
without the floor (what an invoked trigger would show first).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from diffusion_lsp.eval.metrics import edit_similarity, parses, percentile

DATA = os.path.join(os.path.dirname(__file__), "data", "pauses")
KINDS = ("def-body", "after-header", "rest-of-line", "next-line")


@dataclass(frozen=True)
class Pause:
    file: str
    line: int
    character: int
    kind: str
    expected: str
    text: str  # the whole module

    def document(self) -> tuple[str, int]:
        """The module as the person has it at the pause, and the cursor's str offset in it."""
        lines = self.text.split("\n")
        start = sum(len(line) + 1 for line in lines[: self.line]) + self.character
        if self.text[start : start + len(self.expected)] != self.expected:
            raise ValueError(
                f"{self.file}:{self.line + 1}: the module does not hold {self.expected!r}"
            )
        return self.text[:start] + self.text[start + len(self.expected) :], start


@dataclass(frozen=True)
class PauseResult:
    pause: Pause
    shown: str  # the first suggestion the editor shows ("" when none passes the floor)
    top: str  # the best suggestion without the confidence floor
    latency_ms: float

    @staticmethod
    def _exact(text: str, expected: str) -> bool:
        return bool(text) and text.split("\n", 1)[0].strip() == expected.strip()

    @property
    def exact(self) -> bool:
        return self._exact(self.shown, self.pause.expected)

    @property
    def top_exact(self) -> bool:
        return self._exact(self.top, self.pause.expected)


def load_pauses(directory: str = DATA) -> list[Pause]:
    with open(os.path.join(directory, "positions.json")) as f:
        items = json.load(f)
    texts: dict[str, str] = {}
    out = []
    for item in items:
        name = item["file"]
        if name not in texts:
            with open(os.path.join(directory, name)) as f:
                texts[name] = f.read()
        out.append(
            Pause(
                name, item["line"], item["character"], item["kind"], item["expected"], texts[name]
            )
        )
    return out


def run_pauses(
    engine: Any,
    pauses: Sequence[Pause],
    settings: Any = None,
    progress: Callable[[int], None] | None = None,
) -> list[PauseResult]:
    """Each pause through the inline-completion path with ``settings`` (default: the server's)."""
    from diffusion_lsp.lsp.features.inline_completion import candidate_texts, infill_request
    from diffusion_lsp.lsp.settings import Settings
    from diffusion_lsp.region import Document, inline_region

    settings = settings or Settings()
    out = []
    for pause in pauses:
        text, cursor = pause.document()
        doc = Document(text, "python", pause.file)
        t0 = time.perf_counter()
        region = inline_region(doc, doc.index.position(cursor), max_lines=settings.inline.max_lines)
        shown = top = ""
        if region is not None:
            request = infill_request(doc, region, settings, automatic=True)
            result = engine.infill(request)
            floor = settings.inline.min_confidence
            shown_texts = candidate_texts(result, region, request.suffix, floor)
            all_texts = candidate_texts(result, region, request.suffix, 0.0)
            shown = shown_texts[0] if shown_texts else ""
            top = all_texts[0] if all_texts else ""
        out.append(PauseResult(pause, shown, top, (time.perf_counter() - t0) * 1e3))
        if progress:
            progress(1)
    return out


def _parses_with(result: PauseResult, text: str) -> bool | None:
    doc, cursor = result.pause.document()
    if not text:
        return None
    return parses(doc[:cursor] + text + doc[cursor:], "python")


def summarize(results: Sequence[PauseResult]) -> dict[str, dict[str, float]]:
    """{kind or "all": {n, shown, exact, top_exact, edit_similarity, parse_rate, p50_ms}}."""
    groups: dict[str, list[PauseResult]] = {}
    for r in results:
        groups.setdefault(r.pause.kind, []).append(r)
        groups.setdefault("all", []).append(r)
    table = {}
    for kind, items in groups.items():
        parsed = [p for p in (_parses_with(r, r.shown) for r in items) if p is not None]
        table[kind] = {
            "n": len(items),
            "shown": sum(bool(r.shown) for r in items) / len(items),
            "exact": sum(r.exact for r in items) / len(items),
            "top_exact": sum(r.top_exact for r in items) / len(items),
            "edit_similarity": sum(
                edit_similarity(r.top.split("\n", 1)[0].strip(), r.pause.expected.strip())
                for r in items
            )
            / len(items),
            "parse_rate": sum(parsed) / len(parsed) if parsed else float("nan"),
            "p50_ms": percentile([r.latency_ms for r in items], 50),
        }
    return table


def format_table(table: dict[str, dict[str, float]]) -> str:
    lines = [
        "| kind | n | shown | exact (shown) | exact (top, no floor) | edit similarity (top) | parses (shown) | p50 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, m in table.items():
        lines.append(
            f"| {kind} | {int(m['n'])} | {m['shown']:.0%} | {m['exact']:.0%} | {m['top_exact']:.0%} | "
            f"{m['edit_similarity']:.3f} | {m['parse_rate']:.0%} | {m['p50_ms']:.0f} |"
        )
    return "\n".join(lines)

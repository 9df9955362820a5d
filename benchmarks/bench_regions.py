"""Benchmark region selection and incremental reparse on a large generated file (default 5,000 lines).

Prints a markdown table (median and p90 per operation, in milliseconds) for docs/benchmarks.md.
Not a test: run it by hand, `python benchmarks/bench_regions.py [--lines 5000] [--repeat 200]`.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time
from collections.abc import Callable

from diffusion_lsp.region import (
    Document,
    available_languages,
    fix_regions,
    hole_regions,
    inline_region,
    refine_region,
)
from diffusion_lsp.textops import Position, Range

PYTHON_UNIT = '''\
def handler_{i}(request, retries=3):
    """Handle request {i} and return a response."""
    payload = {{"id": {i}, "name": "item-{i}", "tags": ["a", "b"]}}
    for attempt in range(retries):
        result = process(payload, attempt=attempt)
        if result.ok:
            return result.value
    # TODO: report the failure
    raise NotImplementedError("handler_{i}")


class Model{i}:
    def __init__(self, value):
        self.value = value

    def score(self, other):
        return (self.value - other.value) ** 2 / max(1, {i})

'''

TYPESCRIPT_UNIT = """\
export function handler{i}(request: Request, retries = 3): Response {{
  const payload = {{ id: {i}, name: `item-{i}`, tags: ["a", "b"] }};
  for (let attempt = 0; attempt < retries; attempt++) {{
    const result = process(payload, attempt);
    if (result.ok) {{
      return result.value;
    }}
  }}
  // TODO: report the failure
  throw new Error("not implemented: handler{i}");
}}

export class Model{i} {{
  constructor(private value: number) {{}}

  score(other: Model{i}): number {{
    return (this.value - other.value) ** 2 / Math.max(1, {i});
  }}
}}

"""


def build(unit: str, lines: int) -> str:
    parts, count, i = [], 0, 0
    while count < lines:
        block = unit.format(i=i)
        parts.append(block)
        count += block.count("\n")
        i += 1
    return "".join(parts)


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    fn()  # warm-up: grammar load, query compile
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.9 * (len(samples) - 1))]


def bench(
    language: str, unit: str, lines: int, repeat: int, seed: int = 0
) -> list[tuple[str, float, float]]:
    rng = random.Random(seed)
    text = build(unit, lines)
    doc = Document(text, language_id=language)
    n_lines = doc.index.line_count
    code_lines = [i for i in range(n_lines) if doc.index.line_text(i).strip()]

    def random_pos() -> Position:
        line = rng.choice(code_lines)
        return Position(line, rng.randint(0, len(doc.index.line_text(line))))

    def line_end(line: int) -> Position:
        return Position(line, len(doc.index.line_text(line)))

    results = []
    results.append(
        (
            "full parse (Document)",
            *timed(lambda: Document(text, language_id=language), max(5, repeat // 10)),
        )
    )
    results.append(
        ("inline_region, random cursor", *timed(lambda: inline_region(doc, random_pos()), repeat))
    )
    results.append(
        (
            "inline_region, end of a random line",
            *timed(lambda: inline_region(doc, line_end(rng.choice(code_lines))), repeat),
        )
    )
    results.append(
        ("inline_region, end of header", *timed(lambda: inline_region(doc, line_end(0)), repeat))
    )
    results.append(
        (
            "hole_regions at a cursor (its function)",
            *timed(lambda: hole_regions(doc, random_pos()), repeat),
        )
    )
    results.append(
        ("hole_regions, whole file", *timed(lambda: hole_regions(doc), max(5, repeat // 10)))
    )

    def random_range() -> Range:
        a = random_pos()
        return Range(a, Position(a.line + rng.randint(0, 3), rng.randint(0, 20)))

    results.append(
        (
            "refine_region, random selection",
            *timed(lambda: refine_region(doc, random_range()), repeat),
        )
    )

    # Incremental reparse, realistic: type a new statement into a function body, one key at a time.
    results.append(("apply_change, typing a line key by key", *typing(doc, language)))

    # Incremental reparse, stress: one character at a random place (often a transient syntax error
    # that tree-sitter must recover from), then delete it again; the time is per change.
    def edit_cycle() -> None:
        pos = random_pos()
        doc.apply_change(Range(pos, pos), "x")
        doc.apply_change(Range(pos, Position(pos.line, pos.character + 1)), "")

    median, p90 = timed(edit_cycle, repeat)
    results.append(("apply_change, random 1-char insert or delete", median / 2, p90 / 2))

    def rebuild_index() -> None:
        doc._index = None  # what apply_change does
        _ = doc.index

    results.append(
        ("LineIndex rebuild after a change (lazy, once per burst)", *timed(rebuild_index, repeat))
    )

    broken = Document(text, language_id=language)
    middle = n_lines // 2
    broken.apply_change(Range(line_end(middle), line_end(middle)), " +(")
    results.append(
        ("fix_regions, one error, whole file", *timed(lambda: fix_regions(broken), repeat))
    )
    holes = hole_regions(doc, Position(1, 4))
    results.append(
        ("validate a hole candidate", *timed(lambda: holes[0].validate("return 1"), repeat))
    )
    return results


def typing(doc: Document, language: str) -> tuple[float, float]:
    """Median and p90 ms of apply_change while typing one statement into the middle of the file."""
    line = doc.index.line_count // 2
    while "result = process" not in doc.index.line_text(line):
        line += 1
    indent = doc.index.line_text(line)[
        : len(doc.index.line_text(line)) - len(doc.index.line_text(line).lstrip())
    ]
    statement = "value = compute(payload, attempt) + 1" + (";" if language != "python" else "")
    if language != "python":
        statement = "const " + statement
    target = line + 1
    doc.apply_change(Range(Position(target, 0), Position(target, 0)), indent + "\n")
    samples = []
    for i, ch in enumerate(statement):
        pos = Position(target, len(indent) + i)
        t0 = time.perf_counter()
        doc.apply_change(Range(pos, pos), ch)
        samples.append((time.perf_counter() - t0) * 1000)
    end = Position(target + 1, 0)
    doc.apply_change(Range(Position(target, 0), end), "")  # restore the file
    samples.sort()
    return statistics.median(samples), samples[int(0.9 * (len(samples) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    versions = available_languages()
    print(
        f"Machine: {platform.machine()}, Python {platform.python_version()}, {platform.processor() or 'cpu'}; "
        f"{args.lines}-line generated files, {args.repeat} runs per operation (p90 over the same runs).\n"
    )
    for language, unit in (("python", PYTHON_UNIT), ("typescript", TYPESCRIPT_UNIT)):
        print(f"**{language}** (grammar {versions.get(language, '?')})\n")
        print("| operation | median ms | p90 ms |")
        print("|---|---:|---:|")
        for name, median, p90 in bench(language, unit, args.lines, args.repeat):
            print(f"| {name} | {median:.3f} | {p90:.3f} |")
        print()


if __name__ == "__main__":
    main()

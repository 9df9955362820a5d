"""Inline confidence on held-out holes: which floor drops junk and keeps correct suggestions.

The embedded model (or ``--model``) through the product's path for an automatic inline completion:
each held-out single-line hole (``eval/holes.py``: one line's code cut from a file the training run
held out) becomes a document with the cursor where the user would type, at two places: ``line``
(after the indentation: the whole line's code is missing) and ``rest`` (about a third of the line's
code typed, cut at a word boundary). The server's own code then picks the INLINE region, builds the
request with the automatic budget (``lsp/features/inline_completion.infill_request``), runs the engine and cleans and
ranks the candidates (``lsp/features/inline_completion.suggestions``). Every suggestion the server would show is recorded
with its candidate's mean and minimum token confidence, whether it is the missing text exactly and
whether the file parses with it; then every floor from 0 to 0.95 is tabulated for both measures.

    python benchmarks/bench_inline_confidence.py --n 100 --languages python,c --threads 1 \\
        --json /tmp/inline-confidence.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

FLOORS = [round(0.05 * i, 2) for i in range(20)]


def word_cut(answer: str) -> int:
    """About a third into ``answer``, moved forward to a word boundary (0 if there is none)."""
    cut = max(1, len(answer) // 3)
    while (
        cut < len(answer)
        and (answer[cut - 1].isalnum() or answer[cut - 1] == "_")
        and (answer[cut].isalnum() or answer[cut] == "_")
    ):
        cut += 1
    return cut if cut < len(answer) else 0


def cases(holes):
    """(hole, place, prefix, expected, suffix) for both cursor places of each hole."""
    for hole in holes:
        yield hole, "line", hole.prefix, hole.answer, hole.suffix
        cut = word_cut(hole.answer)
        if cut:
            yield hole, "rest", hole.prefix + hole.answer[:cut], hole.answer[cut:], hole.suffix


def run(args: argparse.Namespace) -> list[dict]:
    import torch

    from diffusion_lsp.engine import load_engine
    from diffusion_lsp.engine.api import ModelSpec
    from diffusion_lsp.eval.holes import make_holes
    from diffusion_lsp.eval.metrics import parses
    from diffusion_lsp.lsp.features import inline_completion as inline
    from diffusion_lsp.lsp.settings import Settings
    from diffusion_lsp.region import Document, inline_region
    from diffusion_lsp.train.corpus import build_corpus, default_roots

    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    corpus = build_corpus(default_roots(), heldout_permille=10, max_bytes=2_000_000_000)
    print(f"corpus: {len(corpus.heldout)} held-out files ({time.perf_counter() - t0:.0f} s)")
    engine = load_engine(ModelSpec(model=args.model or None, device="cpu"))
    settings = Settings()
    rows: list[dict] = []
    for language in args.languages.split(","):
        files = [(f.path, f.language, f.text) for f in corpus.heldout if f.language == language]
        holes = make_holes(files, ["single-line"], args.n, seed=args.seed)
        print(f"{language}: {len(files)} held-out files, {len(holes)} holes")
        for hole, place, prefix, expected, suffix in cases(holes):
            doc = Document(prefix + suffix, language)
            region = inline_region(doc, doc.index.position(len(prefix)), settings.inline.max_lines)
            row = {"language": language, "place": place, "path": hole.path, "expected": expected}
            if region is None:
                rows.append({**row, "region": False, "shown": []})
                continue
            request = inline.infill_request(doc, region, settings, automatic=True)
            t = time.perf_counter()
            result = engine.infill(request)
            ms = (time.perf_counter() - t) * 1000
            start = doc.index.str_offset(region.start_byte)
            end = doc.index.str_offset(region.end_byte)
            original_parses = parses(prefix + expected + suffix, language)
            shown = []
            for rank, (text, cand) in enumerate(inline.suggestions(result, region, request.suffix)):
                filled = doc.text[:start] + text + doc.text[end:]
                shown.append(
                    {
                        "rank": rank,
                        "text": text,
                        "mean": cand.score,
                        "min": min(cand.confidence) if cand.confidence else 0.0,
                        "exact": filled == prefix + expected + suffix
                        or (start == end == len(prefix) and text.strip() == expected.strip()),
                        "parses": parses(filled, language) if original_parses else None,
                    }
                )
            rows.append({**row, "region": True, "ms": round(ms, 1), "shown": shown})
    return rows


def table(rows: list[dict], measure: str, language: str) -> list[str]:
    """Per floor: suggestions kept, exact kept, non-parsing dropped, first ghost's exact rate."""
    rows = [r for r in rows if r["language"] == language and r["region"]]
    shown = [s for r in rows for s in r["shown"]]
    exact = [s for s in shown if s["exact"]]
    junk = [s for s in shown if s["parses"] is False]
    out = [
        f"{language}, {measure} confidence: {len(rows)} requests, {len(shown)} suggestions shown "
        f"without a floor ({len(exact)} exact, {len(junk)} do not parse)",
        "| floor | shown | kept | exact kept | non-parsing dropped | requests with a ghost | "
        "first ghost exact | exact among shown |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for floor in FLOORS:
        kept = [s for s in shown if s[measure] >= floor]
        firsts = [next((s for s in r["shown"] if s[measure] >= floor), None) for r in rows]
        firsts = [s for s in firsts if s is not None]
        out.append(
            f"| {floor:.2f} | {len(kept)} | {len(kept) / max(1, len(shown)):.0%} | "
            f"{sum(s['exact'] for s in kept)}/{len(exact)} | "
            f"{sum(s['parses'] is False for s in shown if s[measure] < floor)}/{len(junk)} | "
            f"{len(firsts)}/{len(rows)} | "
            f"{sum(s['exact'] for s in firsts) / max(1, len(firsts)):.1%} | "
            f"{sum(s['exact'] for s in kept) / max(1, len(kept)):.1%} |"
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--model", default="", help="checkpoint directory (default: the embedded model)"
    )
    ap.add_argument("--n", type=int, default=100, help="held-out single-line holes per language")
    ap.add_argument("--languages", default="python")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write every request and suggestion to this file")
    ap.add_argument("--rows", help="tabulate a saved --json file instead of running the model")
    args = ap.parse_args()
    if args.rows:
        rows = json.loads(Path(args.rows).read_text())["rows"]
    else:
        rows = run(args)
        if args.json:
            Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    ms = [r["ms"] for r in rows if r.get("ms") is not None]
    if ms:
        print(f"latency p50 {statistics.median(ms):.0f} ms over {len(ms)} requests")
    for language in dict.fromkeys(r["language"] for r in rows):
        for measure in ("mean", "min"):
            print("\n".join(table(rows, measure, language)), end="\n\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

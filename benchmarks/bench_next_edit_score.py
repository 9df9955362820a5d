"""Next edit's scoring on the CPU: windows sharing canvases against a canvas per window, in one run.

The request is what ``region.next_edit.suggest`` sends for a rename of a local in a real module
(``diffusion_lsp/region/repair.py``, the local ``trial`` renamed at its definition): its candidate
windows (``region.next_edit.windows``), their scored spans, and the edit note as the preamble. It
goes to the product's engine loaded with ``load_engine`` as the server loads it (the embedded model
unless ``--model``), two ways, interleaved so both see the same load:

- shared: one ``score`` call with every window (close windows share a canvas: ``stride`` rows);
- apart: one ``score`` call per window (a canvas each, ``stride`` rows each: the layout before).

The figures are wall milliseconds per request, p50 over ``--repeats``, at each ``--context``.

    python benchmarks/bench_next_edit_score.py --context 1024,256
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))


def request_parts():
    """(document, windows' scored spans, preamble) of the rename in ``region/repair.py``."""
    from diffusion_lsp.region import Document, next_edit

    original = (ROOT / "diffusion_lsp" / "region" / "repair.py").read_text(encoding="utf-8")
    at = original.index("    trial = ")
    text = original[:at] + "    attempt = " + original[at + len("    trial = ") :]
    doc = Document(text, "python")
    edit = next_edit.LastEdit(at + 4, "trial", "attempt")
    windows = next_edit.windows(doc, [edit])
    spans = tuple(next_edit.scoring_span(text, w) for w in windows)
    return text, spans, next_edit.history_note(doc, [edit], "python")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="a checkpoint directory (default: the embedded model)")
    ap.add_argument("--context", default="1024,256", help="comma-separated context_tokens")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    import torch

    from diffusion_lsp.engine import load_engine
    from diffusion_lsp.engine.api import ModelSpec, ScoreRequest

    torch.set_num_threads(args.threads)
    engine = load_engine(ModelSpec(model=args.model, device="cpu"))
    text, spans, preamble = request_parts()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {args.threads} threads; "
        f"{engine.info.model} ({engine.info.dtype}); {len(spans)} windows; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(
        "| context tokens | shared p50 ms | nfe | apart p50 ms | nfe | apart / shared | same scores |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for context in (int(c) for c in args.context.split(",")):
        together = ScoreRequest(text, spans, context_tokens=context, preamble=preamble)
        alone = [ScoreRequest(text, (s,), context_tokens=context, preamble=preamble) for s in spans]
        engine.score(together)  # warm up
        shared, apart = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            joint = engine.score(together)
            shared.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            each = [engine.score(r) for r in alone]
            apart.append((time.perf_counter() - t0) * 1000)
        best_joint = max(range(len(spans)), key=lambda w: joint.windows[w].score)
        best_each = max(range(len(spans)), key=lambda w: each[w].windows[0].score)
        a, b = statistics.median(shared), statistics.median(apart)
        print(
            f"| {context} | {a:.0f} | {joint.nfe} | {b:.0f} | {sum(r.nfe for r in each)} | "
            f"{b / a:.1f} | best window {'same' if best_joint == best_each else 'differs'} |"
        )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``diffusion-lsp eval``: infill quality and latency on held-out holes, HumanEval-Infilling, the
editor-pauses set; ``eval calibrate`` fits the hole-length bias (CAL) and measures what it gains;
``eval next-edit`` scores the next-edit pipeline on refactorings of held-out files."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="suite", required=True)
    for name, help_ in (
        ("holes", "syntax-aware holes from held-out files"),
        ("humaneval", "HumanEval-Infilling (pass@1 per split)"),
        (
            "calibrate",
            "fit the per-length bias of the searched hole length (CAL) on held-out holes",
        ),
        ("pauses", "50 cursor positions where a person pauses, through the inline-completion path"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument(
            "--model", help="checkpoint directory or hub id (default: the embedded model)"
        )
        p.add_argument("--device", default="auto")
        p.add_argument(
            "--threads", type=int, default=0, help="torch CPU threads (0: torch's default)"
        )
        p.add_argument(
            "--settings", default="oracle,realistic", help="comma list of oracle, realistic"
        )
        p.add_argument("--context-tokens", type=int, default=1000)
        p.add_argument("--json", help="write the summary (and per-hole results) to this file")
        p.add_argument("--limit", type=int, default=0, help="use at most this many holes/problems")
    for name, kinds in (
        ("holes", "single-line,multi-line,expression,block"),
        ("calibrate", "single-line"),
    ):
        h = sub.choices[name]
        h.add_argument(
            "--holes",
            help="a holes file (JSONL, .gz ok) such as a training run's heldout_holes.jsonl.gz",
        )
        h.add_argument(
            "folders",
            nargs="*",
            help="make holes from the held-out files of these folders (default: the standard library and installed packages)",
        )
        h.add_argument("--kinds", default=kinds)
        h.add_argument("--n", type=int, default=100, help="holes per kind")
        h.add_argument("--heldout-permille", type=int, default=10)
        h.add_argument("--seed", type=int, default=0)
    c = sub.choices["calibrate"]
    c.add_argument(
        "--write",
        action="store_true",
        help="store the fitted bias in the checkpoint's config.json (diffusion_lsp.length_bias)",
    )
    e = sub.choices["humaneval"]
    e.add_argument(
        "--data",
        required=True,
        help="HumanEval-Infilling JSONL file (e.g. HumanEval-SingleLineInfilling.jsonl.gz)",
    )
    e.add_argument("--timeout", type=float, default=10.0, help="seconds per program")
    e.add_argument("--memory-mb", type=int, default=1024, help="address-space limit per program")
    _add_next_edit(sub)


def _add_next_edit(sub: Any) -> None:
    from diffusion_lsp.eval.next_edit_cases import KINDS

    n = sub.add_parser(
        "next-edit",
        help="next-edit suggestions on refactorings of held-out files (or your before/after pairs)",
    )
    n.add_argument("--model", help="checkpoint directory or hub id (default: the embedded model)")
    n.add_argument("--device", default="auto")
    n.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    n.add_argument("--cases", type=int, default=20, help="cases per kind")
    n.add_argument("--kinds", default=",".join(KINDS), help="comma list of " + ", ".join(KINDS))
    n.add_argument(
        "--pairs",
        help="a directory of NAME.before.EXT / NAME.after.EXT (and NAME.edit.EXT) files: "
        "use these cases instead (docs/benchmarks.md)",
    )
    n.add_argument(
        "folders",
        nargs="*",
        help="make cases from the held-out Python files of these folders (default: the standard library and installed packages)",
    )
    n.add_argument("--heldout-permille", type=int, default=10)
    n.add_argument("--seed", type=int, default=0)
    n.add_argument("--context-tokens", type=int, default=1024)
    n.add_argument(
        "--threshold", type=float, help="a window's score to reach (default: the server's)"
    )
    n.add_argument("--json", help="write the summary and per-case results to this file")


def _load(args: argparse.Namespace) -> tuple[Any, Any]:
    """(the product's engine, as the server loads it; its tokenizer, to count oracle lengths)."""
    from transformers import AutoTokenizer

    from diffusion_lsp.engine import load_engine
    from diffusion_lsp.engine.api import ModelSpec
    from diffusion_lsp.models import embedded_model_path

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    engine = load_engine(ModelSpec(model=args.model, device=args.device))
    return engine, AutoTokenizer.from_pretrained(args.model or str(embedded_model_path()))


def run(args: argparse.Namespace) -> int:
    if args.suite == "next-edit":
        from diffusion_lsp.engine.api import EngineError

        try:
            return _next_edit(args)
        except (OSError, ValueError, EngineError) as exc:
            print(f"diffusion-lsp eval: {exc}", file=sys.stderr)
            return 2
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    bad = [s for s in settings if s not in ("oracle", "realistic")]
    if bad:
        print(
            f"diffusion-lsp eval: unknown setting {bad[0]!r} (oracle, realistic)", file=sys.stderr
        )
        return 2
    from diffusion_lsp.engine.api import EngineError

    try:
        if args.suite == "humaneval":
            return _humaneval(args, settings)
        if args.suite == "calibrate":
            return _calibrate(args)
        if args.suite == "pauses":
            return _pauses(args)
        return _holes(args, settings)
    except (OSError, ValueError, EngineError) as exc:
        print(f"diffusion-lsp eval: {exc}", file=sys.stderr)
        return 2


def _select_holes(args: argparse.Namespace) -> list:
    """The holes named by ``--holes``, or made from the held-out files of the folders."""
    from diffusion_lsp.eval.holes import load_holes, make_holes

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if args.holes:
        holes = [h for h in load_holes(args.holes) if h.kind in kinds]
    else:
        from diffusion_lsp.train.corpus import build_corpus, default_roots

        roots = args.folders or default_roots()
        corpus = build_corpus(
            roots, heldout_permille=args.heldout_permille, max_bytes=2_000_000_000
        )
        holes = make_holes(
            [(f.path, f.language, f.text) for f in corpus.heldout], kinds, args.n, seed=args.seed
        )
    if args.limit:
        holes = _balanced(holes, kinds, args.limit)
    return holes


def _holes(args: argparse.Namespace, settings: list[str]) -> int:
    from tqdm.auto import tqdm

    from diffusion_lsp.eval.run_holes import format_table, oracle_tokens, run_engine, summarize

    holes = _select_holes(args)
    if not holes:
        print("diffusion-lsp eval: no holes to evaluate", file=sys.stderr)
        return 2
    engine, tokenizer = _load(args)
    count = oracle_tokens(tokenizer)
    with tqdm(total=len(holes) * len(settings), desc="eval", disable=None) as bar:
        scored = run_engine(
            engine,
            holes,
            settings,
            lambda h: count(h.prefix, h.answer),
            context_tokens=args.context_tokens,
            progress=bar.update,
        )
    summary = summarize(scored)
    print(format_table(summary))
    _write_json(
        args,
        {
            "summary": summary,
            "results": [
                {
                    "kind": s.hole.kind,
                    "setting": s.setting,
                    "answer": s.hole.answer,
                    "prediction": s.prediction,
                    "exact": s.exact,
                    "parsed": s.parsed,
                    "ms": round(s.latency_ms, 1),
                }
                for s in scored
            ],
        },
    )
    return 0


def _write_json(args: argparse.Namespace, report: dict[str, Any]) -> None:
    """With ``--json PATH``: ``report``, with the model it was measured on, to PATH."""
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model or "embedded", **report}, f, indent=1)


def _balanced(holes, kinds, limit):
    per = max(1, limit // max(1, len(kinds)))
    out, count = [], {}
    for h in holes:
        if count.get(h.kind, 0) < per:
            out.append(h)
            count[h.kind] = count.get(h.kind, 0) + 1
    return out


def _humaneval(args: argparse.Namespace, settings: list[str]) -> int:
    from tqdm.auto import tqdm

    from diffusion_lsp.engine.api import InfillRequest
    from diffusion_lsp.eval.humaneval import load_problems, pass_at_1, run_problems
    from diffusion_lsp.eval.run_holes import oracle_tokens

    if not os.path.exists(args.data):
        print(f"diffusion-lsp eval: no such data file: {args.data}", file=sys.stderr)
        return 2
    problems = load_problems(args.data)
    if args.limit:
        problems = problems[: args.limit]
    engine, tokenizer = _load(args)
    count = oracle_tokens(tokenizer)
    report: dict[str, Any] = {}
    for setting in settings:

        def fill(p, setting=setting):
            if setting == "oracle":
                n = max(1, count(p.prompt, p.canonical_solution))
                request = InfillRequest(
                    p.prompt,
                    p.suffix,
                    lengths=(n,),
                    max_tokens=n,
                    context_tokens=args.context_tokens,
                )
            else:
                request = InfillRequest(
                    p.prompt, p.suffix, max_tokens=128, context_tokens=args.context_tokens
                )
            return engine.infill(request).text

        with tqdm(total=len(problems), desc=f"humaneval {setting}", disable=None) as bar:
            outcomes = run_problems(
                problems,
                fill,
                timeout_s=args.timeout,
                memory_mb=args.memory_mb,
                progress=bar.update,
            )
        report[setting] = pass_at_1(outcomes)
        for split, m in report[setting].items():
            print(f"{setting:<10} {split:<28} n={int(m['n']):<5} pass@1={m['pass@1']:.1%}")
    _write_json(args, {"pass@1": report})
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    """Fit the bias on half of the holes (alternate ones), measure on the other half, report."""
    from tqdm.auto import tqdm

    from diffusion_lsp.eval.calibrate import (
        candidate_sets,
        fit_length_bias,
        format_report,
        measure,
        write_length_bias,
    )
    from diffusion_lsp.eval.run_holes import oracle_tokens

    holes = _select_holes(args)
    fit, test = holes[0::2], holes[1::2]
    if not fit or not test:
        print("diffusion-lsp eval: calibrate needs at least two holes", file=sys.stderr)
        return 2
    engine, tokenizer = _load(args)
    count = oracle_tokens(tokenizer)
    with tqdm(total=len(fit), desc="fit", disable=None) as bar:
        sets = candidate_sets(engine, fit, context_tokens=args.context_tokens, progress=bar.update)
    bias = fit_length_bias(sets, [h.answer for h in fit])
    print("length bias:", json.dumps({str(k): v for k, v in bias.items()}))
    with tqdm(total=len(test), desc="measure", disable=None) as bar:
        report = measure(
            engine,
            test,
            bias,
            lambda h: count(h.prefix, h.answer),
            context_tokens=args.context_tokens,
            progress=lambda _: bar.update(1),
        )
    print(f"fit on {len(fit)} holes, measured on {len(test)} others")
    print(format_report(report))
    if args.write:
        from diffusion_lsp.models import embedded_model_path

        path = write_length_bias(args.model or str(embedded_model_path()), bias)
        print(f"wrote diffusion_lsp.length_bias to {path}")
    _write_json(
        args,
        {
            "fit_holes": len(fit),
            "test_holes": len(test),
            "length_bias": {str(k): v for k, v in bias.items()},
            **report,
        },
    )
    return 0


def _pauses(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from diffusion_lsp.eval.pauses import format_table, load_pauses, run_pauses, summarize

    pauses = load_pauses()
    if args.limit:
        pauses = pauses[: args.limit]
    engine, _ = _load(args)
    from diffusion_lsp.lsp.settings import Settings

    settings = Settings(context_tokens=args.context_tokens)
    with tqdm(total=len(pauses), desc="pauses", disable=None) as bar:
        results = run_pauses(engine, pauses, settings, progress=bar.update)
    table = summarize(results)
    print(format_table(table))
    _write_json(
        args,
        {
            "summary": table,
            "results": [
                {
                    "file": r.pause.file,
                    "line": r.pause.line + 1,
                    "kind": r.pause.kind,
                    "expected": r.pause.expected,
                    "shown": r.shown,
                    "top": r.top,
                    "exact": r.exact,
                    "ms": round(r.latency_ms, 1),
                }
                for r in results
            ],
        },
    )
    return 0


def _next_edit(args: argparse.Namespace) -> int:
    from dataclasses import asdict, replace

    from tqdm.auto import tqdm

    from diffusion_lsp.eval.next_edit import format_table, run
    from diffusion_lsp.eval.next_edit_cases import KINDS, make_cases
    from diffusion_lsp.eval.next_edit_pairs import load_pairs
    from diffusion_lsp.region.next_edit import Options

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        print(f"diffusion-lsp eval: unknown kind {bad[0]!r} ({', '.join(KINDS)})", file=sys.stderr)
        return 2
    if args.pairs:
        cases = load_pairs(args.pairs)
    else:
        from diffusion_lsp.train.corpus import build_corpus, default_roots

        corpus = build_corpus(
            args.folders or default_roots(),
            heldout_permille=args.heldout_permille,
            max_bytes=2_000_000_000,
        )
        files = [(f.path, f.language, f.text) for f in corpus.heldout]
        cases = make_cases(files, kinds, args.cases, seed=args.seed)
    if not cases:
        print("diffusion-lsp eval: no next-edit cases", file=sys.stderr)
        return 2
    engine, _ = _load(args)
    options = replace(Options(), context_tokens=args.context_tokens)
    if args.threshold is not None:
        options = replace(options, threshold=args.threshold)
    with tqdm(total=len(cases), desc="next-edit", disable=None) as bar:
        report = run(engine, cases, options, progress=bar.update)
    print(format_table(report["summary"]))
    _write_json(args, {"cases": len(cases), "options": asdict(options), **report})
    return 0

"""``diffusion-lsp train``: run the recipe that makes the embedded code model."""

from __future__ import annotations

import argparse
import os
import sys

from diffusion_lsp.engine.api import WEIGHT_DTYPES
from diffusion_lsp.train.loop import TrainConfig
from diffusion_lsp.train.model import PRESETS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = TrainConfig(out_dir="", work_dir="")
    parser.add_argument("folders", nargs="*", help="more source folders for the corpus")
    parser.add_argument("--out", required=True, help="directory for the exported checkpoint")
    parser.add_argument(
        "--work-dir", help="data, resume state and log (default: OUT/../OUTNAME-work)"
    )
    parser.add_argument(
        "--no-default-corpus",
        action="store_true",
        help="skip the standard library and installed packages",
    )
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default=d.preset, help="model size (train/model.py)"
    )
    parser.add_argument("--vocab-size", type=int, default=d.vocab_size)
    parser.add_argument(
        "--max-mb", type=float, default=d.max_bytes / 1e6, help="cap on corpus text (MB)"
    )
    parser.add_argument(
        "--tokenizer-mb",
        type=float,
        default=d.tokenizer_bytes / 1e6,
        help="text sample for the tokenizer (MB)",
    )
    parser.add_argument("--heldout-permille", type=int, default=d.heldout_permille)
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    parser.add_argument(
        "--hole-fraction", type=float, default=d.hole_fraction, help="share of hole rows per batch"
    )
    parser.add_argument(
        "--noise-share",
        type=float,
        default=d.noise_share,
        help="corrective noise: share of corrupted positions shown a random token, not the mask",
    )
    parser.add_argument(
        "--time-budget",
        type=float,
        default=d.time_budget_s,
        help="training seconds (resume counts time spent)",
    )
    parser.add_argument(
        "--stop-by",
        type=float,
        default=0.0,
        help="epoch seconds by which training must stop (a hard deadline; the schedule fits it)",
    )
    parser.add_argument(
        "--max-steps", type=int, default=0, help="stop after this many steps (0: time budget only)"
    )
    parser.add_argument(
        "--eval-every", type=float, default=d.eval_every_s, help="seconds between held-out losses"
    )
    parser.add_argument(
        "--eval-holes",
        type=int,
        default=d.eval_holes,
        help="held-out holes per kind at the end (0: none)",
    )
    parser.add_argument("--device", default=d.device)
    parser.add_argument(
        "--dtype",
        choices=WEIGHT_DTYPES,
        default=d.dtype,
        help="autocast dtype",
    )
    parser.add_argument("--export-dtype", choices=WEIGHT_DTYPES, default=d.export_dtype)
    parser.add_argument(
        "--workers", type=int, default=0, help="processes for data preparation (0: all cores)"
    )
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument(
        "--resume", action="store_true", help="continue from WORK_DIR's data and resume state"
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")


def run(args: argparse.Namespace) -> int:
    for folder in args.folders:
        if not os.path.exists(folder):
            print(f"diffusion-lsp train: no such folder: {folder}", file=sys.stderr)
            return 2
    if args.no_default_corpus and not args.folders:
        print("diffusion-lsp train: --no-default-corpus needs at least one folder", file=sys.stderr)
        return 2
    out = os.path.abspath(args.out)
    cfg = TrainConfig(
        out_dir=out,
        work_dir=os.path.abspath(args.work_dir or out.rstrip("/") + "-work"),
        roots=[os.path.abspath(f) for f in args.folders],
        default_roots=not args.no_default_corpus,
        preset=args.preset,
        vocab_size=args.vocab_size,
        max_bytes=int(args.max_mb * 1e6),
        tokenizer_bytes=int(args.tokenizer_mb * 1e6),
        heldout_permille=args.heldout_permille,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_steps=args.warmup_steps,
        hole_fraction=args.hole_fraction,
        noise_share=args.noise_share,
        time_budget_s=args.time_budget,
        max_steps=args.max_steps,
        stop_by=args.stop_by,
        eval_every_s=args.eval_every,
        eval_holes=args.eval_holes,
        device=args.device,
        dtype=args.dtype,
        export_dtype=args.export_dtype,
        workers=args.workers,
        seed=args.seed,
        resume=args.resume,
        compile=args.compile,
    )
    from diffusion_lsp.train.loop import train

    train(cfg)
    return 0

"""Kept for old command lines: the speed benchmark is the package ``benchmarks/speed``; this runs
``python -m benchmarks.speed`` with the same arguments."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.speed.__main__ import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())

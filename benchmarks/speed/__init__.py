"""The speed benchmark (``python -m benchmarks.speed``): the engine's infill latency on one GPU
against named baselines and the memory-bandwidth floor. Modules by role: ``configs`` (plans, model
configurations), ``measure`` (clock, run, percentiles), ``device`` (ceilings, fused sampler),
``dense`` and ``gemma`` (each model through the engine), ``baselines``, ``report``, ``__main__``.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for _p in (ROOT, ROOT / "kernels"):  # run from a checkout without installing
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

"""Kernel tests run the Triton kernels on the CPU through Triton's interpreter unless a GPU is there.

``diffusion_lsp_kernels`` lives in ``kernels/`` and is installed under that name; in a source checkout
that is not installed, the ``kernels/`` folder itself is put on the path (it holds only that package,
never a ``kernels`` module).
"""

import importlib.util
import os
import sys
from pathlib import Path

os.environ.setdefault("TRITON_INTERPRET", "1")

if importlib.util.find_spec("diffusion_lsp_kernels") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "kernels"))

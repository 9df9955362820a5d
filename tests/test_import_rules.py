"""Layering: region selection and the engine API import neither pygls nor torch."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "diffusion_lsp.textops",
        "diffusion_lsp.engine.api",
        "diffusion_lsp.region",
        "diffusion_lsp.cli",
    ],
)
def test_light_modules_load_neither_torch_nor_pygls(module):
    code = (
        f"import sys, {module}\n"
        "heavy = [m for m in ('torch', 'pygls', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_top_level_kernels_module_is_installed():
    # transformers imports Hugging Face's `kernels` by that name; ours must never shadow it.
    code = "import importlib.util, sys; sys.path = [p for p in sys.path if p not in ('', '.')]; print(importlib.util.find_spec('kernels'))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/"
    )
    assert out.stdout.strip() == "None"

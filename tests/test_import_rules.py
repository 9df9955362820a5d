"""Layering: region selection and the engine API import neither pygls nor torch."""

import os
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
        "diffusion_lsp.cli.regions",
    ],
)
def test_light_modules_load_neither_torch_nor_pygls(module):
    code = (
        f"import sys, {module}\n"
        "heavy = [m for m in ('torch', 'pygls', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_regions_command_runs_without_torch_or_pygls(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f(x):\n    pass\n", encoding="utf-8")
    code = (
        "import sys\n"
        "from diffusion_lsp.cli import main\n"
        f"assert main(['regions', {str(source)!r}, '--intent', 'hole', '--json']) == 0\n"
        "heavy = [m for m in ('torch', 'pygls', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert '"pass_statement"' in out.stdout


def test_no_top_level_kernels_module_is_installed():
    # transformers imports Hugging Face's `kernels` by that name; ours must never shadow it.
    code = "import importlib.util, sys; sys.path = [p for p in sys.path if p not in ('', '.')]; print(importlib.util.find_spec('kernels'))"
    # What is installed, not a checkout put on PYTHONPATH (its root holds the kernels/ folder).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/", env=env
    )
    assert out.stdout.strip() == "None"

"""Tiny random checkpoints, built once per session and saved with plain ``save_pretrained``."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def masked_dir(tmp_path_factory):
    from diffusion_lsp.engine.testing.tiny import build_masked

    return build_masked(tmp_path_factory.mktemp("tiny-masked"), seed=0)


@pytest.fixture(scope="session")
def shifted_dir(tmp_path_factory):
    from diffusion_lsp.engine.testing.tiny import build_shifted

    return build_shifted(tmp_path_factory.mktemp("tiny-shifted"), seed=0)


@pytest.fixture(scope="session")
def masked_engine(masked_dir):
    from diffusion_lsp.engine import load_engine
    from diffusion_lsp.engine.api import ModelSpec

    return load_engine(ModelSpec(model=str(masked_dir)))


@pytest.fixture(scope="session")
def shifted_engine(shifted_dir):
    from diffusion_lsp.engine import load_engine
    from diffusion_lsp.engine.api import ModelSpec

    return load_engine(ModelSpec(model=str(shifted_dir)))

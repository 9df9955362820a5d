"""The embedded default model: shipped in the package, loaded offline when no model is set."""

from __future__ import annotations

import dataclasses
import json

import pytest

from diffusion_lsp.engine.api import InfillRequest, ModelSpec
from diffusion_lsp.models import embedded_model_path

MODEL_DIR = embedded_model_path()
pytestmark = pytest.mark.skipif(
    not (MODEL_DIR / "config.json").exists(), reason="the embedded checkpoint is not in this build"
)


@pytest.fixture(scope="module")
def engine():
    import os

    os.environ["HF_HUB_OFFLINE"] = "1"  # it must never need the network
    from diffusion_lsp.engine import load_engine

    return load_engine(ModelSpec())


def test_the_checkpoint_fits_the_package_limits():
    shards = sorted(MODEL_DIR.glob("*.safetensors"))
    assert shards and all(p.stat().st_size <= 15_000_000 for p in shards)
    assert sum(p.stat().st_size for p in MODEL_DIR.iterdir()) <= 40_000_000


def test_no_model_setting_loads_the_embedded_model(engine):
    assert engine.info.family == "masked"
    assert engine.info.model.endswith("code-small")


def test_the_null_token_is_filler_and_never_reaches_the_text(engine):
    config = json.loads((MODEL_DIR / "config.json").read_text())
    assert config["null_token_id"] in engine.special.filler
    assert config["mask_token_id"] == engine.special.mask
    result = engine.infill(
        InfillRequest("import os\n\n\ndef exists(path):\n    return os.path.", "\n", steps=8)
    )
    null = engine.tokenizer.convert_ids_to_tokens(config["null_token_id"])
    assert all(null not in c.text for c in result.alternatives)
    assert result.text.strip()  # a trained model fills a plain attribute access with something


def test_without_length_search_the_embedded_model_denoises_one_hole(engine):
    """Its null token ends an answer inside a longer hole, so the automatic trigger's request runs
    one row (the ladder's longest) instead of three; the length search still runs on request."""
    prefix, suffix = "import os\n\n\ndef exists(path):\n    return os.path.", "\n"
    request = InfillRequest(
        prefix, suffix, max_tokens=24, steps=8, alternatives=3, single_line=True
    )
    one = engine.infill(dataclasses.replace(request, search_length=False))
    assert engine.denoiser._layout.batch == 1
    assert [c.length for c in one.alternatives] == [16]
    searched = engine.infill(request)
    assert engine.denoiser._layout.batch == 3
    assert {c.length for c in searched.alternatives} <= {4, 8, 16}


def test_a_space_after_code_is_healed_into_the_hole():
    from diffusion_lsp.engine.tokens import heal, unheal

    assert heal("x = ") == ("x =", True)
    assert heal("    ") == ("    ", False)  # indentation is not a word's space
    assert heal("x =") == ("x =", False)
    assert unheal(" y", True) == "y" and unheal("y", True) == "y" and unheal(" y", False) == " y"

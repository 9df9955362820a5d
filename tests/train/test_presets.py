"""The presets' sizes: the next embedded model must fit the package as the shipped one does."""

from __future__ import annotations

import pytest

from diffusion_lsp.train.model import PRESETS, build_config, build_model, count_parameters, export


@pytest.mark.parametrize("name", ["small", "base"])
def test_the_embedded_presets_export_within_the_package_limits(name, tmp_path):
    """At most 40 MB in all with the tokenizer, shards of at most 15 MB, in bfloat16: the limits
    ``tests/engine/test_embedded_model.py`` holds the shipped checkpoint to."""
    import torch
    from transformers import AutoTokenizer

    from diffusion_lsp.models import embedded_model_path
    from diffusion_lsp.train.tokenizer import special_ids

    tokenizer = AutoTokenizer.from_pretrained(str(embedded_model_path()))
    config = build_config(PRESETS[name], special_ids(tokenizer), len(tokenizer))
    model = build_model(config).to(torch.bfloat16)
    export(model, tokenizer, str(tmp_path))
    shards = sorted(tmp_path.glob("*.safetensors"))
    assert shards and all(p.stat().st_size <= 15_000_000 for p in shards)
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 40_000_000


def test_base_is_the_larger_preset_the_training_run_makes():
    from diffusion_lsp.train.loop import TrainConfig

    assert TrainConfig(out_dir="", work_dir="").preset == "base"
    small, base = (
        build_model(build_config(PRESETS[n], _special(), 16384)) for n in ("small", "base")
    )
    assert count_parameters(base)[1] > 3 * count_parameters(small)[1]


def _special() -> dict[str, int]:
    return {"pad_token_id": 0, "eos_token_id": 1, "mask_token_id": 2, "null_token_id": 3}

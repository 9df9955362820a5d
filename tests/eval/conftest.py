"""A tokenizer trained on a few lines of code and a tiny model exported with it, for the harness."""

import pytest

CODE = "def f(x):\n    total = x + 1\n    return total\n\n\nclass Box:\n    def get(self):\n        return self.value\n"


@pytest.fixture(scope="session")
def tokenizer():
    from diffusion_lsp.train.tokenizer import train_tokenizer

    return train_tokenizer([CODE] * 20, vocab_size=300)


@pytest.fixture(scope="session")
def tiny_dir(tokenizer, tmp_path_factory):
    """The project's tiny model preset, random weights, exported as the training run exports."""
    import torch

    from diffusion_lsp.train.model import PRESETS, build_config, build_model, export
    from diffusion_lsp.train.tokenizer import special_ids

    torch.manual_seed(0)
    model = build_model(build_config(PRESETS["tiny"], special_ids(tokenizer), len(tokenizer)))
    out = tmp_path_factory.mktemp("tiny-eval")
    export(model, tokenizer, str(out))
    return out

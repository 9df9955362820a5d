"""A tokenizer trained on a few lines of code, for the harness's tests."""

import pytest

CODE = "def f(x):\n    total = x + 1\n    return total\n\n\nclass Box:\n    def get(self):\n        return self.value\n"


@pytest.fixture(scope="session")
def tokenizer():
    from diffusion_lsp.train.tokenizer import train_tokenizer

    return train_tokenizer([CODE] * 20, vocab_size=300)

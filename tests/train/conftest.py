"""Shared tiny fixtures for the training recipe's tests: a small code corpus and a tokenizer."""

import pytest

SOURCES = {
    "pkg/a.py": 'import os\n\n\ndef add(a, b):\n    """Add two numbers."""\n    total = a + b\n    return total\n\n\nclass Box:\n    def __init__(self, value):\n        self.value = value\n\n    def get(self):\n        if self.value is None:\n            return 0\n        return self.value * 2\n'
    * 3,
    "pkg/b.py": "def loop(n):\n\tout = []\n\tfor i in range(n):\n\t\tout.append(i ** 2)\n\treturn out\n\n\nprint(loop(3))\n"
    * 4,
    "pkg/dup.py": "def loop(n):\n\tout = []\n\tfor i in range(n):\n\t\tout.append(i ** 2)\n\treturn out\n\n\nprint(loop(3))\n"
    * 4
    + "\n\n",
    "pkg/c.js": "function sum(xs) {\n  let s = 0;\n  for (const x of xs) {\n    s += x;\n  }\n  return s;\n}\nconsole.log(sum([1, 2, 3]));\n"
    * 4,
    "pkg/tiny.py": "x = 1\n",
    "pkg/notes.txt": "not code " * 100,
}


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    for rel, text in SOURCES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture(scope="session")
def tokenizer():
    from diffusion_lsp.train.tokenizer import train_tokenizer

    texts = list(SOURCES.values()) * 3
    return train_tokenizer(texts, vocab_size=400)

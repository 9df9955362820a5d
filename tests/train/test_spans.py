"""Span masking picks tree-sitter spans (expressions, statements, blocks) and whole lines."""

import random

import numpy as np

from diffusion_lsp.eval.spans import (
    BLOCK,
    EXPRESSION,
    LINE,
    MULTILINE,
    STATEMENT,
    line_spans,
    syntax_spans,
)
from diffusion_lsp.train.data import encode_files, token_spans

SRC = "def f(a, b):\n    total = a + b\n    if total > 3:\n        return g(total)\n    return 0\n"


def test_syntax_spans_are_tree_sitter_nodes():
    found = {(SRC[s.start : s.end], s.kind) for s in syntax_spans(SRC, "python")}
    assert ("a + b", EXPRESSION) in found
    assert ("g(total)", EXPRESSION) in found
    assert ("total = a + b", STATEMENT) in found or ("total = a + b", EXPRESSION) in found
    assert ("return g(total)", STATEMENT) in found
    assert any(kind == BLOCK and text.startswith("total = a + b") for text, kind in found)


def test_unknown_language_gives_no_syntax_spans():
    assert syntax_spans(SRC, "cobol") == []


def test_line_spans_skip_indentation():
    lines = [SRC[s.start : s.end] for s in line_spans(SRC) if s.kind == LINE]
    assert lines == [
        "def f(a, b):",
        "total = a + b",
        "if total > 3:",
        "return g(total)",
        "return 0",
    ]
    multi = [
        SRC[s.start : s.end] for s in line_spans(SRC, rng=random.Random(0)) if s.kind == MULTILINE
    ]
    assert all("\n" in m for m in multi)


def test_token_spans_fall_on_token_boundaries(tokenizer):
    enc = tokenizer.backend_tokenizer.encode(SRC)
    offs = np.asarray(enc.offsets)
    spans = token_spans(SRC, offs[:, 0], offs[:, 1], "python", random.Random(0))
    assert len(spans)
    texts = {(tokenizer.decode(enc.ids[a:b]), k) for a, b, k in spans}
    # " g(total)" glues the space to the identifier: the hole takes the space with it
    assert (" g(total)", EXPRESSION) in texts or ("g(total)", EXPRESSION) in texts
    assert ("return 0", LINE) in texts


def test_encode_files_joins_files_with_eos(tokenizer):
    data = encode_files([(SRC, "python"), ("x = 1\n", "python")], tokenizer)
    eos = tokenizer.eos_token_id
    assert list(data.tokens).count(eos) == 2
    assert tokenizer.decode(data.tokens[: list(data.tokens).index(eos)].tolist()) == SRC
    assert (data.spans[:, 1] <= len(data.tokens)).all()

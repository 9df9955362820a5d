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


PAUSE_SRC = '''import os


def total_size(paths):
    sizes = [os.path.getsize(p) for p in paths]
    return sum(sizes)


def documented(x):
    """Has a docstring."""
    return x


class Store:
    def get(self, key):
        if key in self.cache:
            return self.cache[key]
        result = total / count
        return result
'''


def _pauses(rest_share):
    from diffusion_lsp.eval.spans import PAUSE, pause_spans

    spans = pause_spans(PAUSE_SRC, "python", rng=random.Random(0), rest_share=rest_share)
    assert all(s.kind == PAUSE for s in spans)
    return [PAUSE_SRC[s.start : s.end] for s in spans]


def test_pause_spans_take_the_first_body_line_of_a_def_without_docstring():
    texts = _pauses(0.0)
    assert "sizes = [os.path.getsize(p) for p in paths]" in texts
    # a def that opens with a docstring is not a pause: neither its docstring nor the line after it
    assert '"""Has a docstring."""' not in texts
    assert "return x" not in texts


def test_pause_spans_take_the_line_after_a_block_header():
    texts = _pauses(0.0)
    assert "return self.cache[key]" in texts  # after `if ...:`
    assert "def get(self, key):" in texts  # after `class Store:`
    # lines that follow no header are not pause spans without the rest-of-line share
    assert "return sum(sizes)" not in texts and "return result" not in texts


def test_pause_spans_take_the_rest_of_a_line_after_an_identifier_or_operator():
    texts = _pauses(1.0)
    lines = [line.strip() for line in PAUSE_SRC.splitlines()]
    rests = [t for t in texts if t not in lines]
    assert rests, texts
    for rest in rests:
        line = next(line for line in lines if line.endswith(rest))
        head = line[: len(line) - len(rest)].rstrip()
        # the cut follows an identifier, a keyword or an operator, and leaves code to write
        assert head[-1].isalnum() or head[-1] in "=+-*/%<>!&|^~,.:([{_", (line, rest)
        assert any(ch.isalnum() for ch in rest)
    # rest_share 1: every line with a cut point gives one (the source has 9 such lines)
    assert len(rests) >= 6, rests


def test_all_spans_include_pause_spans():
    from diffusion_lsp.eval.spans import PAUSE, all_spans

    assert any(s.kind == PAUSE for s in all_spans(PAUSE_SRC, "python", rng=random.Random(0)))

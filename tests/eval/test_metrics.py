"""Infill metrics on synthetic cases."""

import math

from diffusion_lsp.eval.holes import Hole, make_holes
from diffusion_lsp.eval.metrics import edit_similarity, exact_match, levenshtein, parses, percentile
from diffusion_lsp.eval.run_holes import score, summarize


def test_exact_match_ignores_surrounding_whitespace_only():
    assert exact_match(" return x \n", "return x")
    assert not exact_match("return  x", "return x")


def test_edit_similarity():
    assert levenshtein("kitten", "sitting") == 3
    assert edit_similarity("abc", "abc") == 1.0
    assert edit_similarity("", "abcd") == 0.0
    assert math.isclose(edit_similarity("abcd", "abed"), 0.75)


def test_parse_rate_uses_tree_sitter():
    assert parses("x = f(1)\n", "python") is True
    assert parses("x = f(1\n", "python") is False
    assert parses("x", "cobol") is None


def test_score_and_summary_on_a_synthetic_case():
    hole = Hole("single-line", "python", "a.py", "def f():\n    ", "return 1", "\n")
    good = score(hole, "oracle", "return 1", 10.0)
    bad = score(hole, "oracle", "return (", 30.0)
    assert good.exact and good.parsed and good.similarity == 1.0
    assert not bad.exact and bad.parsed is False
    table = summarize([good, bad])["oracle"]["single-line"]
    assert table["n"] == 2 and table["exact_match"] == 0.5 and table["parse_rate"] == 0.5
    assert table["p50_ms"] == 20.0
    assert percentile([1, 2, 3, 4], 50) == 2.5


def test_holes_come_from_the_files_and_rebuild_them():
    text = (
        "import os\n\n\ndef f(a, b):\n    total = a + b\n    if total:\n        return os.path.join(a, b)\n    return None\n"
        * 3
    )
    holes = make_holes(
        [("x.py", "python", text)], ["single-line", "multi-line", "expression", "block"], 2
    )
    kinds = {h.kind for h in holes}
    assert kinds == {"single-line", "multi-line", "expression", "block"}
    for h in holes:
        assert (h.prefix + h.answer + h.suffix) in text
        assert h.answer.strip()
        if h.kind == "single-line":
            assert "\n" not in h.answer

"""delta-chrF (Zed's edit-prediction score) on hand-computed examples, and span overlap."""

import random
from collections import Counter

import pytest

from diffusion_lsp.eval.next_edit_metrics import collapse_whitespace, delta_chr_f, overlaps


@pytest.mark.parametrize(
    "original, expected, actual, score",
    [
        ("a", "b", "b", 100.0),  # the same edit
        ("x = 1", "x = 1", "x = 1", 100.0),  # no edit wanted, none made
        # order 1: want {b, ¬a}, got {c, ¬a}: P = R = 1/2; orders 2-6 have no n-grams: 1 each
        ("a", "b", "c", 100 * 5.5 / 6),
        # orders 1-3: nothing wanted, something made: P = R = 0; orders 4-6 empty: 1
        ("ab", "ab", "abc", 50.0),
        # orders 1-3: P = 1/2, R = 1; order 4: got {abcd}, wanted none: 0, 0; orders 5, 6: 1
        # P = 3.5/6, R = 5/6, F2 = 5PR / (4P + R) = 350/456
        ("ab", "abc", "abcd", 100 * 350 / 456),
        # a change where none was wanted: orders 1-5 score 0, order 6 (5 characters) 1
        ("x = 1", "x = 1", "x = 2", 100 / 6),
        ("def f(a, b):", "def f(a, b, c):", "def f(a, b):", 0.0),  # the edit not made
    ],
)
def test_delta_chr_f_hand_computed(original, expected, actual, score):
    assert delta_chr_f(original, expected, actual) == pytest.approx(score)


def test_whitespace_runs_collapse_before_counting():
    assert collapse_whitespace("a \t b\n\n\nc") == "a b\nc"
    assert collapse_whitespace("a \n b") == "a \n b"
    assert delta_chr_f("a  b", "a b", "a\tb") == 100.0  # all three collapse to "a b"


def _reference(original, expected, actual, order=6, beta=2.0):
    """The definition on the whole texts (no changed-region trimming)."""
    if original == expected == actual:
        return 100.0
    o, e, a = (collapse_whitespace(t) for t in (original, expected, actual))

    def grams(t, n):
        return Counter(t[i : i + n] for i in range(len(t) - n + 1))

    def delta(t, n):
        d = Counter(grams(t, n))
        d.subtract(grams(o, n))
        return Counter({(g if v > 0 else "¬" + g): abs(v) for g, v in d.items() if v})

    ps = rs = 0.0
    for n in range(1, order + 1):
        w, g = delta(e, n), delta(a, n)
        if not w and not g:
            ps, rs = ps + 1, rs + 1
            continue
        tp = sum((w & g).values())
        fp, fn = sum(g.values()) - tp, sum(w.values()) - tp
        ps += tp / (tp + fp) if tp + fp else 0.0
        rs += tp / (tp + fn) if tp + fn else 0.0
    p, r = ps / order, rs / order
    return 0.0 if p + r == 0 else (1 + beta**2) * p * r / (beta**2 * p + r) * 100


def test_counting_the_changed_region_only_gives_the_whole_text_score():
    rng = random.Random(0)
    base = "def total(values):\n    return sum(v * 2 for v in values)\n" * 3
    for _ in range(200):
        texts = []
        for _ in range(2):
            i, j = sorted(rng.randrange(len(base)) for _ in range(2))
            texts.append(base[:i] + rng.choice(["", "x", "  ", "values", "\n"]) + base[j:])
        assert delta_chr_f(base, *texts) == pytest.approx(_reference(base, *texts))


def test_overlaps():
    assert overlaps(0, 5, 4, 8) and not overlaps(0, 4, 4, 8)
    assert overlaps(4, 4, 4, 8) and overlaps(8, 8, 4, 8) and overlaps(5, 5, 4, 8)  # insertions
    assert overlaps(2, 6, 6, 6) and not overlaps(2, 5, 6, 6)


@pytest.mark.parametrize(
    "original, expected, actual, low, high",
    [
        ("hello", "hello", "goodbye", 0, 0),
        ("test", "test", "different", 0, 0),
        ("hello", "goodbye", "hello", 0, 10),
        ("old", "new", "old", 0, 60),
        ("let x = 42;", "let x = 100;", "let x = 99;", 40, 60),
        ("one two three", "one three", "one two four", 20, 40),
        ("", "hello", "", 0, 20),
        ("hello", "", "", 100, 100),
        ("hello", "", "hello", 0, 20),
        ("prefix old suffix", "prefix new suffix", "prefix old suffix", 0, 20),
        ("helloworld", "helloworld", "helloextraworld", 0, 20),
    ],
)
def test_delta_chr_f_within_the_bounds_zeds_own_tests_set(original, expected, actual, low, high):
    assert low <= delta_chr_f(original, expected, actual) <= high

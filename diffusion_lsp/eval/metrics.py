"""Infill metrics: exact match, edit similarity, parse rate, latency percentiles."""

from __future__ import annotations

from collections.abc import Sequence

from diffusion_lsp.eval.languages import parser_for


def exact_match(prediction: str, answer: str) -> bool:
    """Equal once surrounding whitespace is ignored."""
    return prediction.strip() == answer.strip()


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions) between two strings."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def edit_similarity(prediction: str, answer: str) -> float:
    """1 - Levenshtein distance / length of the longer string (CrossCodeEval's ES), on stripped text."""
    p, a = prediction.strip(), answer.strip()
    if not p and not a:
        return 1.0
    return 1.0 - levenshtein(p, a) / max(len(p), len(a))


def parses(text: str, language: str) -> bool | None:
    """Whether ``text`` parses without ERROR or MISSING nodes; None without a grammar."""
    parser = parser_for(language)
    if parser is None:
        return None
    return not parser.parse(text.encode("utf-8", "surrogatepass")).root_node.has_error


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; nan for no values."""
    if not values:
        return float("nan")
    xs = sorted(values)
    k = (len(xs) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)

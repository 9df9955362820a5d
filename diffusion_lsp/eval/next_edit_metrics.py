"""Next-edit metrics: delta-chrF (Zed's edit-prediction score) and the per-case scores.

``delta_chr_f`` follows Zed's ``crates/edit_prediction_cli/src/metrics.rs`` (zed-industries/zed,
``delta_chr_f``, the version with ``CHR_F_WHITESPACE = Collapse``; ``score.rs`` there takes the best
score over the expected patches): character n-grams of orders 1 to 6 are counted in the original,
the expected and the actual text; the expected delta is expected minus original and the actual
delta actual minus original, a removed n-gram counted as a "¬"-marked one; per order, true
positives are the delta counts both share, false positives the actual's surplus, false negatives
the expected's; precision and recall are averaged over the orders (an order where neither delta has
anything scores 1 for both; an empty denominator scores 0) and combined as F-beta with beta 2
(recall weighs four times precision), times 100. Runs of whitespace other than newlines collapse to
one space and runs of newlines to one newline first. Only the changed region (common prefix and
suffix trimmed, 5 characters of context kept on each side) is counted, which leaves every delta as
it is on the whole texts.
"""

from __future__ import annotations

from collections import Counter

ORDER = 6
BETA = 2.0


def collapse_whitespace(text: str) -> str:
    """Zed's ``collapse_whitespace``: whitespace runs without newlines become one space, newline
    runs one newline (a space run and a newline run next to each other both stay)."""
    out: list[str] = []
    last = None
    for ch in text:
        if ch == "\n":
            if last != "\n":
                out.append(ch)
                last = "\n"
        elif ch.isspace():
            if last != " ":
                out.append(" ")
                last = " "
        else:
            out.append(ch)
            last = None
    return "".join(out)


def _changed_region(original: str, modified: str) -> tuple[str, str]:
    """Both texts cut to what differs, with ORDER - 1 characters of context on each side."""
    prefix = 0
    limit = min(len(original), len(modified))
    while prefix < limit and original[prefix] == modified[prefix]:
        prefix += 1
    suffix = 0
    limit = min(len(original), len(modified)) - prefix
    while suffix < limit and original[-1 - suffix] == modified[-1 - suffix]:
        suffix += 1
    o_end, m_end = len(original) - suffix, len(modified) - suffix
    if prefix >= o_end and prefix >= m_end:
        return "", ""
    c = ORDER - 1
    return (
        original[max(0, prefix - c) : min(len(original), o_end + c)],
        modified[max(0, prefix - c) : min(len(modified), m_end + c)],
    )


def _ngrams(text: str, n: int) -> Counter[str]:
    return Counter(text[i : i + n] for i in range(len(text) - n + 1))


def _delta(before: str, after: str, n: int) -> Counter[str]:
    """after minus before, a removed n-gram as "¬" + n-gram with a positive count."""
    a, b = _ngrams(after, n), _ngrams(before, n)
    out: Counter[str] = Counter()
    for gram in a.keys() | b.keys():
        d = a[gram] - b[gram]
        if d > 0:
            out[gram] = d
        elif d < 0:
            out["¬" + gram] = -d
    return out


def delta_chr_f(original: str, expected: str, actual: str) -> float:
    """0..100: how well the edit original -> actual matches the edit original -> expected."""
    if original == expected == actual:
        return 100.0
    o, e, a = (collapse_whitespace(t) for t in (original, expected, actual))
    o_e, e_region = _changed_region(o, e)
    o_a, a_region = _changed_region(o, a)
    total_p = total_r = 0.0
    for n in range(1, ORDER + 1):
        want, got = _delta(o_e, e_region, n), _delta(o_a, a_region, n)
        if not want and not got:
            total_p += 1.0
            total_r += 1.0
            continue
        tp = sum((want & got).values())
        fp = sum(got.values()) - tp
        fn = sum(want.values()) - tp
        total_p += tp / (tp + fp) if tp + fp else 0.0
        total_r += tp / (tp + fn) if tp + fn else 0.0
    p, r = total_p / ORDER, total_r / ORDER
    if p + r == 0:
        return 0.0
    return (1 + BETA**2) * p * r / (BETA**2 * p + r) * 100.0


def overlaps(start: int, end: int, site_start: int, site_end: int) -> bool:
    """Whether two spans share a character; an empty span (an insertion) counts when it touches
    the other one or lies inside it."""
    if start == end or site_start == site_end:
        return max(start, site_start) <= min(end, site_end)
    return max(start, site_start) < min(end, site_end)

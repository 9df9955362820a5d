"""The next-edit benchmark's scores on hand-made suggestions, its table, and the run through
``region.next_edit.suggest``."""

import pytest

from diffusion_lsp.eval.next_edit import Case, Site, apply_sites, format_table, score, summarize
from diffusion_lsp.eval.next_edit_metrics import delta_chr_f
from diffusion_lsp.region.next_edit import LastEdit, Suggestion, Window

BEFORE = "def f(n):\n    x = n + 1\n    return n * x\n"
EDITED = "def f(count):\n    x = n + 1\n    return n * x\n"
SITES = (Site(22, 23, "count"), Site(39, 40, "count"))
RENAME = Case("r", "rename-param", BEFORE, EDITED, LastEdit(6, "n", "count"), SITES, "python")
QUIET = Case("q", "no-edit", BEFORE, BEFORE.replace("1", "2"), LastEdit(22, "1", "2"), (), "python")


def _s(start, end, new_text):
    return Suggestion(start, end, new_text, Window(start, end, "use"), 0.9)


def test_the_case_is_consistent():
    assert [EDITED[s.start : s.end] for s in SITES] == ["n", "n"]
    assert apply_sites(EDITED, SITES) == "def f(count):\n    x = count + 1\n    return count * x\n"


def test_the_exact_site_edit_scores_everything():
    r = score(RENAME, _s(39, 40, "count"), 12.0)
    assert (r.suggested, r.location, r.exact, r.delta_chr_f, r.latency_ms) == (
        True,
        True,
        True,
        100.0,
        12.0,
    )


def test_a_wider_rewrite_that_yields_the_same_text_is_exact():
    line = EDITED.index("    x = n + 1")
    r = score(RENAME, _s(line, line + 13, "    x = count + 1"), 0.0)
    assert r.location and r.exact and r.delta_chr_f == 100.0


def test_one_suggestion_that_renames_two_uses_of_one_statement_is_exact():
    before = "def f(n):\n    return n * n\n"
    edited = before.replace("f(n)", "f(count)")
    sites = (Site(25, 26, "count"), Site(29, 30, "count"))
    case = Case("two", "rename-param", before, edited, LastEdit(6, "n", "count"), sites, "python")
    assert [edited[s.start : s.end] for s in sites] == ["n", "n"]
    r = score(case, _s(25, 30, "count * count"), 0.0)
    assert r.location and r.exact and r.delta_chr_f == 100.0
    half = score(case, _s(25, 29, "count * "), 0.0)  # touches the second use, leaves it stale
    assert half.location and not half.exact


def test_the_right_place_with_the_wrong_text():
    r = score(RENAME, _s(22, 23, "cnt"), 0.0)
    assert r.location and not r.exact
    actual = EDITED[:22] + "cnt" + EDITED[23:]
    best = max(delta_chr_f(EDITED, apply_sites(EDITED, [s]), actual) for s in SITES)
    assert r.delta_chr_f == best and 0 < best < 100


def test_elsewhere_and_nothing():
    r = score(RENAME, _s(43, 44, "y"), 0.0)  # the x of "n * x"
    assert r.suggested and not r.location and not r.exact
    none = score(RENAME, None, 0.0)
    assert (none.suggested, none.location, none.exact, none.delta_chr_f) == (
        False,
        False,
        False,
        0.0,
    )


def test_no_edit_cases_score_silence():
    assert score(QUIET, None).delta_chr_f == 100.0
    assert score(QUIET, _s(0, 3, "async def")).delta_chr_f < 50.0


def test_summary_per_kind_over_edit_cases_and_all():
    results = [
        score(RENAME, _s(22, 23, "count"), 10.0),
        score(RENAME, _s(43, 44, "y"), 30.0),
        score(RENAME, None, 20.0),
        score(QUIET, None, 5.0),
        score(QUIET, _s(0, 3, "async def"), 7.0),
    ]
    table = summarize(results)
    assert list(table) == ["rename-param", "no-edit", "edit cases", "all"]
    rename = table["rename-param"]
    assert (rename["n"], rename["location"], rename["exact"], rename["p50_ms"]) == (
        3,
        1 / 3,
        1 / 3,
        20.0,
    )
    assert rename["suggested"] == 2 / 3 and "precision" not in rename
    assert rename["delta_chr_f"] == pytest.approx(sum(r.delta_chr_f for r in results[:3]) / 3)
    assert table["no-edit"]["precision"] == 0.5 and "location" not in table["no-edit"]
    assert table["edit cases"] == rename
    assert table["all"]["n"] == 5 and table["all"]["p50_ms"] == 10.0
    text = format_table(table)
    assert (
        "| rename-param | 3 | 67% | 33% | 33% |" in text
        and "| no-edit | 2 | 50% | - | - | - | 50% | 6 |" in text
    )

"""The next-edit benchmark's mechanism, exactly: a masked engine whose denoiser knows each case's
answer (``TargetOracle``) scores every rename case located and exact, and, knowing that nothing
should change, leaves every no-edit case alone."""

import pytest

from diffusion_lsp.eval.next_edit import apply_sites, run_cases, summarize
from diffusion_lsp.eval.next_edit_cases import cases_of_file
from diffusion_lsp.region import Document
from diffusion_lsp.region.next_edit import Options

try:  # issue 16's pieces B (engine scoring) and C (the suggest pipeline)
    from diffusion_lsp.engine.testing.oracle import TargetOracle, with_denoiser
    from diffusion_lsp.region.next_edit import history_note, suggest  # noqa: F401
except ImportError:
    pytest.skip("needs TargetOracle and region.next_edit.suggest", allow_module_level=True)

from .test_next_edit_cases import SOURCE


@pytest.fixture(scope="module")
def masked_engine(tmp_path_factory):
    from diffusion_lsp.engine import load_engine
    from diffusion_lsp.engine.api import ModelSpec
    from diffusion_lsp.engine.testing.tiny import build_masked

    path = build_masked(tmp_path_factory.mktemp("tiny-masked"), seed=0)
    return load_engine(ModelSpec(model=str(path)))


def _oracle_engine(base, case, target):
    preamble = history_note(Document(case.edited, case.language), [case.last_edit])
    # the document before the user's edit is right as it was
    oracle = TargetOracle.for_engine(base, target, preamble=preamble, also=[case.before])
    return with_denoiser(base, oracle)


def _run(base, cases, target):
    results = []
    for case in cases:
        engine = _oracle_engine(base, case, target(case))
        results += run_cases(engine, [case], Options(context_tokens=4096))
    return results


def _renames():
    cases = [c for k in ("rename-local", "rename-param") for c in cases_of_file(SOURCE, "m.py", k)]
    assert len(cases) == 5
    return cases


def _extends(case):
    return case.last_edit.after.startswith(case.last_edit.before)


def test_an_oracle_that_knows_the_renamed_text_locates_and_makes_one_rename_exactly(masked_engine):
    cases = [c for c in _renames() if not _extends(c)]
    assert {c.kind for c in cases} == {"rename-local", "rename-param"}
    results = _run(masked_engine, cases, lambda c: apply_sites(c.edited, c.expected))
    table = summarize(results)
    for kind in ("rename-local", "rename-param", "edit cases"):
        row = table[kind]
        assert (row["location"], row["exact"], row["delta_chr_f"]) == (1.0, 1.0, 100.0)


def test_an_oracle_also_finds_a_rename_that_extends_the_name(masked_engine):
    # (total -> total_items): every old token is where the target has one, so masking the existing
    # tokens finds no disagreement; the rename judgement reads the names whole
    cases = [c for c in _renames() if _extends(c)]
    assert cases
    results = _run(masked_engine, cases, lambda c: apply_sites(c.edited, c.expected))
    row = summarize(results)["edit cases"]
    assert (row["location"], row["exact"], row["delta_chr_f"]) == (1.0, 1.0, 100.0)


def test_an_oracle_that_wants_the_text_as_it_is_suggests_nothing(masked_engine):
    cases = cases_of_file(SOURCE, "m.py", "no-edit")
    assert len(cases) >= 4
    table = summarize(_run(masked_engine, cases, lambda c: c.edited))
    assert table["no-edit"]["precision"] == 1.0 and table["no-edit"]["suggested"] == 0.0

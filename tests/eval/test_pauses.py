"""The editor-pauses set: 50 positions in the fixture modules, run through the inline-completion
path (region, the feature's request, engine.infill, the feature's cleaning and floor)."""

import json
from collections import Counter

import pytest

from diffusion_lsp.engine import api
from diffusion_lsp.eval.metrics import parses
from diffusion_lsp.eval.pauses import KINDS, load_pauses, run_pauses, summarize
from diffusion_lsp.eval.spans import pause_spans


def test_the_set_has_50_positions_of_each_kind_in_modules_that_parse():
    pauses = load_pauses()
    assert len(pauses) == 50
    assert set(Counter(p.kind for p in pauses)) == set(KINDS)
    assert len({(p.file, p.line, p.character) for p in pauses}) == 50
    for p in pauses:
        assert parses(p.text, "python") is True
        doc, cursor = p.document()
        line = p.text.split("\n")[p.line]
        assert line.rstrip().endswith(p.expected)  # the rest of the line from the cursor
        assert doc[cursor:].startswith("\n")
        if p.kind != "rest-of-line":
            assert doc[:cursor].split("\n")[-1].strip() == ""  # an indented empty line


def test_whole_line_pauses_are_where_the_training_pause_holes_are():
    # the objective's pause spans (first body line of a def without docstring, the line after a
    # block header) cover the set's pauses of those kinds
    for p in load_pauses():
        if p.kind not in ("def-body", "after-header"):
            continue
        _, cursor = p.document()
        spans = {(s.start, s.end) for s in pause_spans(p.text, "python", rest_share=0.0)}
        assert (cursor, cursor + len(p.expected)) in spans, (p.file, p.line, p.expected)


class Knows:
    """An engine that answers each pause's expected code at the cursor: the plumbing is exact."""

    def __init__(self, pauses):
        self.answers = {}
        for p in pauses:
            doc, cursor = p.document()
            self.answers[doc[:cursor]] = p.expected
        self.requests = []

    def infill(self, request, cancel=None):
        self.requests.append(request)
        text = self.answers[request.prefix]
        cand = api.Candidate(text, (0.9,) * 3, 8)
        return api.Result(text, cand.confidence, 1, api.Timings(0, 0, 0, 0), (cand,))


def test_an_engine_that_knows_the_answers_scores_every_pause_exact():
    pauses = load_pauses()
    engine = Knows(pauses)
    results = run_pauses(engine, pauses)
    assert len(engine.requests) == 50  # every position gets an inline region and a request
    table = summarize(results)
    assert table["all"]["exact"] == 1.0 and table["all"]["shown"] == 1.0
    assert table["all"]["parse_rate"] == 1.0
    # the requests are the feature's automatic ones: its token budget, its step count
    from diffusion_lsp.lsp.settings import Settings

    assert {r.steps for r in engine.requests} == {Settings().inline.automatic.steps}


def test_a_low_confidence_answer_is_not_shown_but_counts_as_top():
    pauses = load_pauses()[:3]

    class Unsure(Knows):
        def infill(self, request, cancel=None):
            text = self.answers[request.prefix]
            cand = api.Candidate(text, (0.1,), 8)
            return api.Result(text, cand.confidence, 1, api.Timings(0, 0, 0, 0), (cand,))

    table = summarize(run_pauses(Unsure(pauses), pauses))
    assert table["all"]["shown"] == 0.0 and table["all"]["exact"] == 0.0
    assert table["all"]["top_exact"] == 1.0


@pytest.mark.parametrize("limit", [4])
def test_the_pauses_command_runs_on_the_tiny_model(tiny_dir, tmp_path, limit):
    from diffusion_lsp.cli import main

    out = tmp_path / "pauses.json"
    rc = main(
        [
            "eval",
            "pauses",
            "--model",
            str(tiny_dir),
            "--device",
            "cpu",
            "--limit",
            str(limit),
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    report = json.loads(out.read_text())
    assert report["summary"]["all"]["n"] == limit
    assert len(report["results"]) == limit
    assert all(r["ms"] > 0 for r in report["results"])

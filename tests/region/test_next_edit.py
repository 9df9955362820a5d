"""Next edit without a model: the candidate windows per reason and language, the edit note, and the
``suggest`` pipeline against a scripted engine (its scores and infills are chosen by each test)."""

from __future__ import annotations

import re
import time

import pytest

from diffusion_lsp.engine.api import (
    Candidate,
    EngineInfo,
    InfillRequest,
    Result,
    ScoreRequest,
    ScoreResult,
    Timings,
    TokenScore,
    WindowScore,
)
from diffusion_lsp.region.document import Document
from diffusion_lsp.region.next_edit import (
    LastEdit,
    Options,
    Suggestion,
    Window,
    disputed_span,
    history_note,
    note,
    scoring_span,
    suggest,
    widened,
    windows,
)


def at(text: str, part: str, nth: int = 0) -> tuple[int, int]:
    """The str span of the ``nth`` occurrence of ``part`` in ``text``."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(part, start + 1)
    return start, start + len(part)


def edit_at(text: str, after: str, before: str, nth: int = 0) -> LastEdit:
    """The edit that left ``after`` (its ``nth`` occurrence) where ``before`` was."""
    return LastEdit(at(text, after, nth)[0], before, after)


def listed(text: str, ws: list[Window]) -> list[tuple[str, int, int, str]]:
    return [(w.reason, w.start, w.end, text[w.start : w.end]) for w in ws]


def expect(text: str, *rows: tuple[str, str] | tuple[str, str, int]) -> list:
    out = []
    for row in rows:
        reason, part = row[0], row[1]
        start, end = at(text, part, row[2] if len(row) > 2 else 0)
        out.append((reason, start, end, part))
    return out


PY = (
    "def f(count, y=1):\n"
    "    y = x + 1\n"
    "    z = x * 2\n"
    "    return y\n"
    "\n"
    "\n"
    "def x_user():\n"
    "    return x\n"
    "\n"
    "\n"
    "f(2)\n"
    "obj.f(3, 4)\n"
)


def test_python_rename_of_a_parameter_gives_its_uses_then_the_calls_then_the_lines_after():
    edit = edit_at(PY, "count", "x")
    got = windows(Document(PY, "python"), [edit])
    # the `x` in x_user is outside f: not a use; `after` lines already windows are not repeated
    assert listed(PY, got) == expect(
        PY,
        ("use", "y = x + 1"),
        ("use", "z = x * 2"),
        ("call", "f(2)"),
        ("call", "obj.f(3, 4)"),
        ("sibling", "def x_user():\n    return x"),
        ("after", "return y"),
    )


def test_a_renamed_function_name_has_its_uses_in_the_whole_file():
    text = "def g(a):\n    return a\n\n\ndef h():\n    return f(1) + f(2)\n\n\nprint(f)\n"
    got = windows(Document(text, "python"), [edit_at(text, "g", "f")])
    assert listed(text, got) == expect(
        text,
        ("use", "return f(1) + f(2)"),
        ("use", "print(f)"),
        ("sibling", "def h():\n    return f(1) + f(2)"),
        ("after", "return a"),
    )


def test_a_new_identifier_is_no_rename_its_other_uses_are_not_windows():
    text = "def f(x):\n    count = x\n    return count + count\n"
    got = windows(Document(text, "python"), [LastEdit(at(text, "count")[0], "", "count")])
    assert [w.reason for w in got] == ["after"]
    assert listed(text, got) == expect(text, ("after", "return count + count"))


def test_a_use_on_the_edited_line_is_narrowed_to_the_identifier():
    text = "def f(x):\n    y = count + x\n    return y\n"
    got = windows(Document(text, "python"), [edit_at(text, "count", "x")])
    assert listed(text, got)[0] == ("use", *at(text, "x", 1), "x")


def test_javascript_parameter_rename_uses_and_calls():
    text = (
        "function f(count) {\n"
        "  const y = x + 1;\n"
        "  return y;\n"
        "}\n"
        "const g = (a) => f(a);\n"
        "obj.f(1);\n"
    )
    got = windows(Document(text, "javascript"), [edit_at(text, "count", "x")])
    assert listed(text, got) == expect(
        text,
        ("use", "const y = x + 1;"),
        ("call", "f(a)"),
        ("call", "obj.f(1)"),
        ("after", "return y;"),
        ("after", "}"),
    )


def test_javascript_arrow_function_bound_to_a_name_has_its_calls():
    text = "const add = (a, b) => a + b;\nadd(1);\nconsole.log(add(2));\n"
    edit = LastEdit(at(text, ", b")[0], "", ", b")
    got = windows(Document(text, "javascript"), [edit])
    calls = [row for row in listed(text, got) if row[0] == "call"]
    assert calls == expect(text, ("call", "add(1)"), ("call", "add(2)"))


def test_go_parameter_rename_uses_and_calls():
    text = (
        "package main\n\n"
        "func f(count int) int {\n\ty := x + 1\n\treturn y\n}\n\n"
        "func main() {\n\tf(2)\n\tpkg.f(3)\n}\n"
    )
    got = windows(Document(text, "go"), [edit_at(text, "count", "x")])
    assert listed(text, got) == expect(
        text,
        ("use", "y := x + 1"),
        ("call", "f(2)"),
        ("call", "pkg.f(3)"),
        ("after", "return y"),
        ("after", "}"),
    )


def test_rust_parameter_rename_uses_and_calls():
    text = (
        "fn f(count: i32) -> i32 {\n    let y = x + 1;\n    y + x\n}\n"
        "fn main() {\n    f(2);\n    a.f(3);\n    A::f(4);\n}\n"
    )
    got = windows(Document(text, "rust"), [edit_at(text, "count", "x")])
    assert listed(text, got) == expect(
        text,
        ("use", "let y = x + 1;"),
        ("use", "y + x"),
        ("call", "f(2)"),
        ("call", "a.f(3)"),
        ("call", "A::f(4)"),
        ("after", "}"),
    )


def test_siblings_of_the_same_shape_nearest_first_at_most_four():
    text = "a = 10\nb = 2\nprint(a)\nc = 3\nd = f(1)\ne = 5\nf = 6\ng = 7\nh = 8\n"
    got = windows(Document(text, "python"), [edit_at(text, "10", "1")])
    assert listed(text, got) == expect(
        text,
        ("sibling", "b = 2"),
        ("sibling", "c = 3"),
        ("sibling", "e = 5"),
        ("sibling", "f = 6"),
        ("after", "print(a)"),
    )


def test_go_and_rust_siblings():
    go = "package main\n\nfunc main() {\n\ta := 10\n\tb := 2\n\tfmt.Println(a)\n}\n"
    got = windows(Document(go, "go"), [edit_at(go, "10", "1")])
    assert listed(go, got)[0] == ("sibling", *at(go, "b := 2"), "b := 2")
    rs = 'fn main() {\n    let a = 10;\n    let b = 2;\n    println!("{}", a);\n}\n'
    got = windows(Document(rs, "rust"), [edit_at(rs, "10", "1")])
    assert listed(rs, got)[0] == ("sibling", *at(rs, "let b = 2;"), "let b = 2;")


def test_without_a_tree_only_the_lines_after_are_windows():
    text = "def f(count):\n    y = x + 1\n\n    return y\n    z = x\n"
    doc = Document(text, None)
    assert doc.tree is None
    got = windows(doc, [edit_at(text, "count", "x")])
    assert listed(text, got) == expect(text, ("after", "y = x + 1"), ("after", "return y"))


@pytest.mark.parametrize(
    ("language", "text", "after", "before"),
    [
        ("python", PY, "count", "x"),
        ("python", PY, "return y", "return"),
        ("python", "a = 10\nb = 2\nc = 3\n", "10", "1"),
        ("javascript", "function f(a, b) {\n  return a;\n}\nf(1, 2);\n", "a, b", "a"),
        ("go", "package main\n\nfunc f(x int) {\n\tg(x)\n\tg(x)\n}\n", "g(x)", "h(x)"),
        ("rust", "fn f(x: u8) {\n    g(x);\n    g(x);\n}\n", "x: u8", "y: u8"),
        (None, "a\nb\nc\nd\n", "b\nc", "b"),
    ],
)
def test_no_window_overlaps_the_edit(language, text, after, before):
    edit = edit_at(text, after, before)
    got = windows(Document(text, language), [edit])
    assert got
    for w in got:
        assert w.end <= edit.start or w.start >= edit.end, (w, edit)
    assert len({(w.start, w.end) for w in got}) == len(got)


def test_the_cap_keeps_the_highest_ranked():
    body = "".join(f"    print(x, {i})\n" for i in range(30))
    text = "def f(count):\n" + body
    got = windows(Document(text, "python"), [edit_at(text, "count", "x")], max_windows=5)
    assert [w.reason for w in got] == ["use"] * 5
    assert [text[w.start : w.end] for w in got] == [f"print(x, {i})" for i in range(5)]


def test_an_edit_past_the_end_of_a_changed_text_gives_no_exception():
    text = "x = 1\n"
    assert windows(Document(text, "python"), [LastEdit(50, "a", "b")]) == []
    assert windows(Document(text, "python"), []) == []


@pytest.mark.parametrize(
    ("language", "marker"),
    [
        ("python", "#"),
        ("javascript", "//"),
        ("typescript", "//"),
        ("go", "//"),
        ("rust", "//"),
        ("java", "//"),
        ("lua", "--"),
        ("sql", "--"),
        ("shellscript", "#"),
        (None, "#"),
    ],
)
def test_note_in_the_language_line_comment(language, marker):
    edits = [LastEdit(0, "def f(x):\n    pass\n", "def f(count):\n    pass\n")]
    assert note(language, edits) == f'{marker} Recent edit: "def f(x):" -> "def f(count):"\n'


def test_note_keeps_the_last_three_oldest_first_and_cuts_long_sides():
    edits = [LastEdit(0, f"a{i}", f"b{i}") for i in range(5)]
    edits.append(LastEdit(0, "", "q" * 500))
    lines = note("python", edits).splitlines()
    assert lines[:2] == ['# Recent edit: "a3" -> "b3"', '# Recent edit: "a4" -> "b4"']
    assert len(lines) == 3 and len(lines[2]) < 260 and lines[2].endswith('..."')
    assert note("python", []) == ""
    multi = note("go", [LastEdit(0, "a\nx := 1\nb", "a\nx := 2\ny := 3\nb")])
    assert multi == '// Recent edit: "x := 1" -> "x := 2\\ny := 3"\n'


class ScriptedEngine:
    """A test double of ``engine.api.Engine``: ``score`` marks the tokens the test chose (each
    whitespace-free run of a window is a token; its disagreement is ``marks[run]`` or 0, its log
    probability ``logprob(text, run)``, by default -1 for a marked run in a text that holds
    ``count`` and 0 for the others),
    ``infill`` answers the texts the test chose, one list per call in turn."""

    info = EngineInfo(model="scripted", family="masked", device="cpu", dtype="float32")

    def __init__(
        self,
        marks: dict[str, float],
        infills: list[list[str]] | None = None,
        logprob=None,
    ) -> None:
        self.marks = marks
        # by default a token the test disputes is unlikely (log p = -1) in a text with the user's
        # edit (every test's edit writes `count`), every other token certain
        self.logprob = logprob or (
            lambda text, token: -1.0 if marks.get(token, 0.0) and "count" in text else 0.0
        )
        self.infills = list(infills or [])
        self.scores: list[ScoreRequest] = []
        self.infill_requests: list[InfillRequest] = []

    def score(self, request: ScoreRequest, cancel=None) -> ScoreResult:
        self.scores.append(request)
        out = []
        for start, end in request.windows:
            tokens = tuple(
                TokenScore(
                    start + m.start(),
                    end=start + m.end(),
                    disagreement=self.marks.get(m.group(), 0.0),
                    top="?",
                    logprob=self.logprob(request.text, m.group()),
                )
                for m in re.finditer(r"\w+|[^\w\s]+", request.text[start:end])
            )
            out.append(WindowScore(max((t.disagreement for t in tokens), default=0.0), tokens))
        return ScoreResult(tuple(out), nfe=1, timings=Timings())

    def infill(self, request: InfillRequest, cancel=None) -> Result:
        self.infill_requests.append(request)
        assert self.infills, "an infill the test did not expect"
        texts = self.infills.pop(0)
        alts = tuple(Candidate(t, (0.9,), 1) for t in texts)
        return Result(alts[0].text, alts[0].confidence, 1, Timings(), alts)

    def refine(self, request, cancel=None) -> Result:
        raise AssertionError("suggest does not refine")


# Not a pure rename (the parameter gains a type too), so the windows go through the one score call
# and the infill; pure renames are judged on their own (the rename tests below).
RENAMED = "def f(count: int):\n    y = x + 1\n    return y\n\n\ndef g():\n    return 0\n"
RENAME = [edit_at(RENAMED, "count: int", "x")]


def test_suggest_rewrites_the_disputed_word_of_the_best_window_in_one_score_call():
    engine = ScriptedEngine({"x": 0.9, "return": 0.1}, [["count"]])
    doc = Document(RENAMED, "python")
    got = suggest(engine, doc, RENAME)
    start, end = at(RENAMED, "x")
    assert got == Suggestion(start, end, "count", Window(*at(RENAMED, "y = x + 1"), "use"), 0.9)
    # every window; then the rewritten one, and the window before and after the rewrite in the
    # text with the user's edit undone
    assert len(engine.scores) == 4
    request, check, undone, undone_check = engine.scores
    window = (RENAMED.rindex("\n", 0, got.window.start), got.window.end + len("count") - 1)
    assert check.text == RENAMED[:start] + "count" + RENAMED[end:] and check.windows == (window,)
    assert check.stride == request.stride and check.preamble == request.preamble
    before = RENAMED.replace("count: int", "x")
    assert undone.text == before and undone_check.text == before.replace("y = x", "y = count")
    lines = [w for w in windows(doc, RENAME)]
    assert request.windows == tuple((RENAMED.rindex("\n", 0, w.start), w.end) for w in lines)
    assert len(request.windows) > 1
    assert request.preamble == '# Recent edit: "def f(x):" -> "def f(count: int):"\n'
    (infill,) = engine.infill_requests
    assert (infill.prefix, infill.suffix) == (RENAMED[:start], RENAMED[end:])
    assert infill.single_line and infill.lengths is None and infill.alternatives == 3
    assert infill.preamble == request.preamble


def test_a_rewrite_the_users_edit_does_not_call_for_is_no_suggestion():
    # the infill's answer fits the hole, but the window reads worse with it (mean log p -2 against
    # -0.25): the text stays as it is
    def logprob(text: str, token: str) -> float:
        return -2.0 if token == "count" and "y = count" in text else -1.0 if token == "x" else 0.0

    engine = ScriptedEngine({"x": 0.9}, [["count"], [], []], logprob=logprob)
    assert suggest(engine, Document(RENAMED, "python"), RENAME) is None
    assert len(engine.scores) == 2
    # it reads better, but as much so without the user's edit: not what the edit calls for
    engine = ScriptedEngine({"x": 0.9}, [["count"]], logprob=lambda t, tok: -1.0 * (tok == "x"))
    assert suggest(engine, Document(RENAMED, "python"), RENAME) is None
    assert len(engine.scores) == 4


def test_suggest_is_quiet_below_the_threshold():
    engine = ScriptedEngine({"x": 0.4}, [["count"]])
    assert suggest(engine, Document(RENAMED, "python"), RENAME, Options(threshold=0.5)) is None
    assert len(engine.scores) == 1 and engine.infill_requests == []
    got = suggest(engine, Document(RENAMED, "python"), RENAME, Options(threshold=0.3))
    assert got is not None and got.new_text == "count"


def test_suggest_skips_a_candidate_that_breaks_the_parse_or_changes_nothing():
    engine = ScriptedEngine({"x": 0.9}, [["x", "count )", "(count", "count"]])
    got = suggest(engine, Document(RENAMED, "python"), RENAME)
    assert got is not None and got.new_text == "count"
    assert (got.start, got.end) == at(RENAMED, "x")


def test_suggest_skips_a_candidate_that_drops_a_definition_for_the_next_window():
    text = "def f(count: int):\n    def x():\n        return 1\n    y = x\n    return y\n"
    engine = ScriptedEngine({"x": 0.9}, [["count"], ["count"]])
    got = suggest(engine, Document(text, "python"), [edit_at(text, "count: int", "x")])
    # the nearest window is `def x():`; renaming it there drops the definition x: the next window
    assert engine.infill_requests[0].prefix == text[: at(text, "x", 0)[0]]
    assert got is not None and got.window.start == at(text, "y = x")[0]
    assert (got.start, got.end, got.new_text) == (*at(text, "x", 1), "count")


def test_suggest_cuts_the_rewrite_to_its_minimal_hunk():
    text = "def f(count: int):\n    y = g(x, 1)\n    return y\n"
    engine = ScriptedEngine({"x": 0.8, "1": 0.6}, [["count, 1"]])
    got = suggest(engine, Document(text, "python"), [edit_at(text, "count: int", "x")])
    assert engine.infill_requests[0].prefix.endswith("g(")
    assert got is not None and (got.start, got.end, got.new_text) == (*at(text, "x"), "count")


def test_suggest_without_windows_or_a_passing_rewrite_is_none():
    engine = ScriptedEngine({"x": 0.9}, [["x"], ["x"], ["x"]])
    assert suggest(engine, Document("x = 1\n", "python"), [LastEdit(0, "y", "x")]) is None
    assert engine.scores == []
    assert suggest(engine, Document(RENAMED, "python"), RENAME) is None


def test_a_member_name_is_not_a_use_of_a_local_and_a_renamed_member_has_only_member_uses():
    text = "def f(doc):\n    idx = doc.index\n    end = doc.index.end\n    return index\n"
    got = windows(Document(text, "python"), [edit_at(text, "idx", "index")])
    assert [row for row in listed(text, got) if row[0] == "use"] == expect(
        text, ("use", "return index")
    )
    text = "def f(self, total):\n    self.count = 0\n    self.total += total\n    print(total)\n"
    got = windows(Document(text, "python"), [edit_at(text, "count", "total")])
    assert [row for row in listed(text, got) if row[0] == "use"] == expect(
        text, ("use", "self.total += total")
    )


def test_text_nested_too_deep_for_tree_queries_gets_the_lines_after_only_and_fast():
    text = "def f(count):\n    y = " + "[x, " * 20_000 + "\n    z = x\n"
    started = time.perf_counter()
    got = windows(Document(text, "python"), [edit_at(text, "count", "x")])
    assert time.perf_counter() - started < 2.0  # the tree walk takes over 10 s here
    assert [w.reason for w in got] == ["after", "after"]


def test_typescript_and_a_method_of_a_class():
    text = "function f(count: number): number {\n  return x + 1;\n}\nconst z: number = f(3);\n"
    got = windows(Document(text, "typescript"), [edit_at(text, "count", "x")])
    assert listed(text, got)[:2] == expect(text, ("use", "return x + 1;"), ("call", "f(3)"))
    text = "class A {\n  m(count) {\n    return x * 2;\n  }\n}\nnew A().m(1);\nm(2);\n"
    got = windows(Document(text, "javascript"), [edit_at(text, "count", "x")])
    assert listed(text, got)[:4] == expect(
        text, ("use", "return x * 2;"), ("call", "new A().m(1)"), ("call", "m(2)"), ("after", "}")
    )


def test_the_disputed_span_keeps_token_bounds_and_widens_only_a_split_word():
    text = "y = g(counter, 1)\n"
    doc, window = Document(text, "python"), Window(0, len(text) - 1, "after")

    def span(*parts: tuple[str, float]) -> tuple[int, int] | None:
        tokens = tuple(TokenScore(*at(text, part), d, "?") for part, d in parts)
        return disputed_span(doc, window, WindowScore(max(d for _, d in parts), tokens), 0.5)

    assert span((" g", 0.2), ("ter", 0.9)) == at(text, "counter")  # mid-word: the whole word
    assert span(("(", 0.9), ("1", 0.6)) == at(text, "(counter, 1")  # `g(`: g is another word
    assert span((" g", 0.9)) == at(text, " g")  # the token's own leading blank stays
    assert span((" g", 0.4)) is None


def test_the_scored_span_starts_at_the_line_break_or_blank_and_ends_at_a_blank():
    text = "if a:\r\n    y = f(2);  z()\nw\n"

    def scored(part: str) -> str:
        start, end = scoring_span(text, Window(*at(text, part), "use"))
        return text[start:end]

    assert scored("y = f(2);") == "\r\n    y = f(2);"
    assert scored("f(2)") == " f(2);"
    assert scored("z()") == "  z()"
    assert scored("w") == "\nw"
    assert scored("if") == "if"


def test_an_edit_of_a_few_characters_is_read_as_the_words_and_lines_it_changed():
    text = "def f(counter):\n    return count + 1\n"
    doc = Document(text, "python")
    trimmed = LastEdit(at(text, "er")[0], "", "er")  # count -> counter, as a history keeps it
    assert widened(doc, trimmed) == LastEdit(at(text, "counter")[0], "count", "counter")
    assert widened(doc, trimmed, lines=True) == LastEdit(0, "def f(count):", "def f(counter):")
    assert widened(doc, LastEdit(3, "", "er")) == LastEdit(3, "", "er")  # not at its offsets
    got = windows(doc, [trimmed])
    assert listed(text, got)[0] == ("use", *at(text, "return count + 1"), "return count + 1")


def test_a_renamed_method_or_class_attribute_has_its_member_uses():
    text = (
        "class A:\n    limit = 3\n\n    def total(self):\n        return self.size\n\n"
        "    def other(self):\n        return self.size() + size\n\n\nA().size()\n"
    )
    got = windows(Document(text, "python"), [edit_at(text, "total", "size")])
    uses = [row for row in listed(text, got) if row[0] == "use"]
    assert uses == expect(
        text,
        ("use", "return self.size"),
        ("use", "return self.size() + size"),
        ("use", "A().size()"),
    )
    got = windows(Document(text, "python"), [edit_at(text, "limit", "size")])
    uses = [row for row in listed(text, got) if row[0] == "use"]
    assert uses == expect(
        text,
        ("use", "return self.size"),
        ("use", "return self.size() + size"),
        ("use", "A().size()"),
    )


# End to end: the real masked engine (the tiny checkpoint) with a target oracle that knows the text
# the document should become; only the model's answers are scripted. The new name is `value`, one
# token of the tiny tokenizer as the stale `x` is (`count` is five): a one-token mask can only
# disagree with a one-token answer (a longer one does not fit, and the oracle answers uniformly).

E2E_DOC = "def f(value):\n    y = x + 1\n    return y\n"
E2E_EDIT = [LastEdit(E2E_DOC.index("value"), "x", "value")]


@pytest.fixture(scope="module")
def tiny_engine(tmp_path_factory):
    from diffusion_lsp.engine import load_engine
    from diffusion_lsp.engine.api import ModelSpec
    from diffusion_lsp.engine.testing.tiny import build_masked

    return load_engine(ModelSpec(model=str(build_masked(tmp_path_factory.mktemp("tiny"), seed=0))))


def _oracle_engine(engine, target: str, preamble: str, also=()):
    from diffusion_lsp.engine.testing.oracle import TargetOracle, with_denoiser

    oracle = TargetOracle.for_engine(engine, target, preamble, also=also)
    return with_denoiser(engine, oracle), oracle


def test_suggest_with_the_masked_engine_rewrites_the_stale_use(tiny_engine):
    text = E2E_DOC.replace("(value)", "(value: int)")  # not a pure rename: scored, then infilled
    edits = [LastEdit(text.index("value"), "x", "value: int")]
    doc = Document(text, "python")
    preamble = history_note(doc, edits)
    target = text.replace("x + 1", "value + 1")
    engine, oracle = _oracle_engine(
        tiny_engine, target, preamble, also=[E2E_DOC.replace("(value)", "(x)")]
    )
    got = suggest(engine, doc, edits)
    x = text.index("x")
    assert got is not None
    assert (got.start, got.end, got.new_text) == (x, x + 1, "value")
    assert got.window == Window(*at(text, "y = x + 1"), "use") and got.score >= 0.9
    assert oracle.calls >= 2  # one scoring forward for every window, then the infill's steps


def test_suggest_with_the_masked_engine_judges_a_rename_by_what_it_changed(tiny_engine):
    # The oracle knows both versions: renamed, the use should follow; before the rename, the
    # document is right as it was. The four score calls (old and new name, with and without the
    # rename) are four forwards, and the rename is the suggestion, with no infill.
    before = E2E_DOC.replace("(value)", "(x)")
    doc = Document(E2E_DOC, "python")
    target = E2E_DOC.replace("x + 1", "value + 1")
    engine, oracle = _oracle_engine(tiny_engine, target, "", also=[before])
    got = suggest(engine, doc, E2E_EDIT)
    x = E2E_DOC.index("x")
    assert got is not None
    assert (got.start, got.end, got.new_text) == (x, x + 1, "value")
    assert got.window == Window(*at(E2E_DOC, "y = x + 1"), "use") and got.score >= 0.99
    assert oracle.calls == 4
    # an oracle for which the document is right as it is, renamed or not, finds no rename
    engine, oracle = _oracle_engine(tiny_engine, E2E_DOC, "", also=[before])
    assert suggest(engine, doc, E2E_EDIT) is None
    assert oracle.calls == 4 + 1  # the rename judged, then the other windows scored


def test_suggest_with_the_masked_engine_is_quiet_when_the_code_already_agrees(tiny_engine):
    text = E2E_DOC.replace("x + 1", "value + 1")
    edit = [LastEdit(text.index("value"), "x", "value")]
    doc = Document(text, "python")
    engine, oracle = _oracle_engine(tiny_engine, text, history_note(doc, edit))
    assert suggest(engine, doc, edit) is None
    assert oracle.calls == 1  # scored, nothing above the threshold: no infill


# Renames: ``related.rename_of`` reads them from the history, ``rename_scores`` judges them by what
# the rename changed in the model's view (four score calls), and ``suggest`` offers the nearest use.


def _rename(text: str, edits: list[LastEdit]):
    from diffusion_lsp.region.related import rename_of

    doc = Document(text, "python")
    return rename_of(doc, [widened(doc, e) for e in edits])


def test_a_rename_is_one_word_replaced_by_a_name_new_to_its_scope():
    text = "def f(count):\n    y = x + 1\n    return y * x\n\n\ndef g(x):\n    return x\n"
    got = _rename(text, [edit_at(text, "count", "x")])
    assert got is not None and (got.old, got.new) == ("x", "count")
    assert got.sites == (at(text, "x"), at(text, "x", 1))  # f's uses only, not g's
    longer = "def f(total_items):\n    return total + 1\n"  # an edit that only extends the name
    got = _rename(longer, [LastEdit(at(longer, "_items")[0], "", "_items")])
    assert got is not None and (got.old, got.new, got.sites) == (
        "total",
        "total_items",
        (at(longer, "total", 1),),
    )


def test_no_rename_where_the_new_name_was_there_already_or_more_than_a_name_changed():
    merge = "def f(a, b):\n    y = a + 1\n    return b * a\n"  # a use of a switched to b
    assert _rename(merge, [edit_at(merge, "b * a", "a * a")]) is None
    typed = "def f(count: int):\n    return x\n"
    assert _rename(typed, [edit_at(typed, "count: int", "x")]) is None
    done = "def f(count):\n    return count\n"  # no use of the old name is left
    assert _rename(done, [edit_at(done, "count", "x")]) is None


def test_a_rename_goes_on_after_a_use_was_renamed_too():
    text = "def f(count):\n    y = count + 1\n    return y * x\n"
    edits = [edit_at(text, "count", "x"), edit_at(text, "count", "x", nth=1)]
    got = _rename(text, edits)
    assert got is not None and got.sites == (at(text, "x"),)
    # the same text without the first edit in the history: `count` was there before
    assert _rename(text, edits[1:]) is None


def _follows(text: str, token: str) -> float:
    """A scripted model that follows renames: the old name is unlikely where the new one is
    already in the text, every other token certain."""
    return -3.0 if token == "x" and "count" in text else 0.0


def test_rename_scores_compare_the_names_with_and_without_the_rename():
    text = "def f(count):\n    y = x + 1\n    return y * x\n"
    edits = [edit_at(text, "count", "x")]
    engine = ScriptedEngine({}, logprob=_follows)
    got = suggest(engine, Document(text, "python"), edits)
    assert got is not None and (got.start, got.end, got.new_text) == (*at(text, "x"), "count")
    assert got.window == Window(*at(text, "y = x + 1"), "use")
    assert got.score == pytest.approx(1 / (1 + 2.718281828459045**-3.0))
    assert engine.infill_requests == []
    requests = engine.scores
    assert len(requests) == 4 and all(r.stride == 1 and r.preamble == "" for r in requests)
    undone = text.replace("(count)", "(x)")
    assert [r.text for r in requests] == [
        text,
        text.replace("x", "count"),
        undone,
        undone.replace("y = x", "y = count").replace("y * x", "y * count"),
    ]
    # each site from the blank before it: as the engine tokenizes it
    assert [requests[0].text[a:b] for a, b in requests[0].windows] == [" x", " x"]
    assert [requests[1].text[a:b] for a, b in requests[1].windows] == [" count", " count"]


def test_a_model_that_prefers_a_name_whatever_was_renamed_is_no_reason_to_rename():
    text = "def f(count):\n    y = x + 1\n    return y\n"
    engine = ScriptedEngine({}, [], logprob=lambda t, token: -3.0 if token == "x" else 0.0)
    assert suggest(engine, Document(text, "python"), [edit_at(text, "count", "x")]) is None
    assert len(engine.scores) == 4 + 1  # judged (d = 0), then the other windows scored

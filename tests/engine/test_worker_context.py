"""The worker (cancellation, supersession, never blocking the loop), context windows and ranking."""

import asyncio
import threading
from pathlib import Path

import pytest

from diffusion_lsp.engine.api import Cancelled, Candidate
from diffusion_lsp.engine.candidates import (
    MULTI_LINE_LADDER,
    SINGLE_LINE_LADDER,
    cut_single_line,
    default_lengths,
    hole_lengths,
    rank,
    trim_filler,
)
from diffusion_lsp.engine.tokens import window
from diffusion_lsp.engine.worker import Worker


def stepping_job(started: threading.Event, steps: list[int], n: int = 1000):
    def job(token):
        started.set()
        for i in range(n):
            token.raise_if_cancelled()
            steps.append(i)
            threading.Event().wait(0.001)
        return "done"

    return job


async def test_a_cancelled_request_stops_its_job_within_one_step():
    worker = Worker()
    started, steps = threading.Event(), []
    task = asyncio.ensure_future(worker.run(stepping_job(started, steps)))
    await asyncio.get_running_loop().run_in_executor(None, started.wait)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # the job sees the flag at its next step; wait for the worker to go idle, then no more steps
    await asyncio.wrap_future(worker.submit(lambda t: None))
    count = len(steps)
    assert count < 1000
    await asyncio.wrap_future(worker.submit(lambda t: None))
    assert len(steps) == count
    worker.shutdown()


async def test_a_newer_job_with_the_same_key_supersedes_the_older():
    worker = Worker()
    started, steps = threading.Event(), []
    first = asyncio.ensure_future(worker.run(stepping_job(started, steps), key="doc"))
    await asyncio.get_running_loop().run_in_executor(None, started.wait)
    queued = asyncio.ensure_future(worker.run(lambda t: "queued", key="doc"))
    newest = asyncio.ensure_future(worker.run(lambda t: "newest", key="doc"))
    with pytest.raises(Cancelled):
        await first
    with pytest.raises(Cancelled):
        await queued
    assert await newest == "newest"
    worker.shutdown()


async def test_other_keys_are_not_superseded_and_errors_reach_the_awaiter():
    worker = Worker()
    a = asyncio.ensure_future(worker.run(lambda t: "a", key="a"))
    b = asyncio.ensure_future(worker.run(lambda t: "b", key="b"))
    assert (await a, await b) == ("a", "b")

    def boom(token):
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        await worker.run(boom)
    assert await worker.run(lambda t: "still alive") == "still alive"
    worker.shutdown()


async def test_the_event_loop_keeps_running_while_a_job_runs():
    worker = Worker()
    release = threading.Event()
    job = asyncio.ensure_future(worker.run(lambda t: release.wait(5)))
    ticks = 0
    for _ in range(5):
        await asyncio.sleep(0)
        ticks += 1
    assert ticks == 5 and not job.done()
    release.set()
    assert await job is True
    worker.shutdown()


def count_words(lines):
    return [len(line.split()) or 1 for line in lines]


def test_window_keeps_nearest_lines_and_whole_hole_lines():
    prefix = "".join(f"p{i} a b\n" for i in range(100)) + "def f(x, y"
    suffix = "):\n" + "".join(f"s{i} a b\n" for i in range(100))
    pre, suf = window(prefix, suffix, count_words, budget=40)
    assert pre.endswith("p99 a b\ndef f(x, y") and suf.startswith("):\ns0 a b\n")
    assert prefix.endswith(pre) and suffix.startswith(suf)
    assert sum(count_words(pre.splitlines(True) + suf.splitlines(True))) <= 40
    assert pre.count("\n") > suf.count("\n")  # the prefix gets the larger share


def test_window_gives_unused_budget_to_the_other_side():
    prefix = "".join(f"p{i}\n" for i in range(100))
    pre, suf = window(prefix, "end", count_words, budget=50)
    assert suf == "end" and len(pre.splitlines()) == 49


def test_window_counts_the_lines_near_the_hole_only():
    # a long file: the lines counted stay near what the window keeps, not the whole file
    prefix = "".join(f"p{i} a b\n" for i in range(5000))
    suffix = "".join(f"s{i} a b\n" for i in range(5000))
    counted = []

    def recording(lines):
        counted.extend(lines)
        return count_words(lines)

    pre, suf = window(prefix, suffix, recording, budget=300)
    assert sum(count_words(pre.splitlines(True) + suf.splitlines(True))) == 300
    assert pre.endswith("p4999 a b\n") and suf.startswith("s0 a b\n")
    assert sum(map(len, counted)) < 4 * 300 * 2 * 2  # two sides, at most two batches each
    assert window(prefix, suffix, count_words, budget=300) == (pre, suf)


def test_window_keeps_the_hole_line_even_over_budget():
    pre, suf = window("x " * 8, " y" * 8, count_words, budget=5)
    assert pre == "x " * 8 and suf == " y" * 8


def test_window_cuts_a_giant_hole_line_near_the_hole():
    # A 100 KB data line used to go to the model whole (a refine in it asked for 43 GB).
    line = "DATA = [" + ", ".join(str(i) for i in range(20_000))
    pre, suf = window("x = 1\n" + line, line + "]\ny = 2\n", count_words, budget=100)
    assert len(pre) <= 400 and line.endswith(pre)
    assert len(suf) <= 400 and line.startswith(suf)


def test_trim_filler_and_single_line_cut():
    ids, conf = trim_filler([5, 0, 6, 9, 7], [0.5, 0.1, 0.6, 0.9, 0.7], filler={0}, stop={9})
    assert ids == [5, 6] and conf == [0.5, 0.6]
    text, conf = cut_single_line("ab\ncd", [0.1, 0.2, 0.3], ["a", "b\nc", "d"])
    assert text == "ab" and conf == [0.1, 0.2]


def test_rank_prefers_confident_non_empty_unique_texts():
    cands = [
        Candidate("", (0.99,), 4),
        Candidate("x", (0.5,), 4),
        Candidate("y", (0.9, 0.8), 8),
        Candidate("x", (0.7,), 8),
    ]
    ranked = rank(cands)
    assert [c.text for c in ranked] == ["y", "x", ""]
    assert ranked[1].length == 8
    broken = rank(
        [Candidate("a\ufffd", (0.99,), 4), Candidate("ok", (0.1,), 4), Candidate("", (1.0,), 4)]
    )
    assert [c.text for c in broken] == ["ok", "a\ufffd", ""]
    assert default_lengths(16, single_line=True) == (4, 8, 16)
    assert default_lengths(2, single_line=True) == (2,)


def test_hole_lengths_take_the_request_or_the_ladder_within_the_cap():
    assert hole_lengths(None, 64, single_line=True, cap=64) == SINGLE_LINE_LADDER
    assert hole_lengths(None, 32, single_line=False, cap=20) == (8, 16, 20)  # 32 capped to 20
    assert hole_lengths((), 16, single_line=True, cap=16) == (4, 8, 16)  # empty: the ladder
    assert hole_lengths((40, 0, 7, 7), 64, single_line=False, cap=32) == (1, 7, 32)


def test_one_hole_is_the_ladders_longest_and_never_overrides_the_requests_lengths():
    assert hole_lengths(None, 24, single_line=True, cap=24, one=True) == (16,)
    assert hole_lengths(None, 32, single_line=False, cap=20, one=True) == (20,)
    assert hole_lengths((4, 8), 24, single_line=True, cap=24, one=True) == (4, 8)


def test_docs_state_the_engines_ladders():
    # docs/engine.md cannot import the ladders; it must say what engine.candidates says.
    doc = " ".join((Path(__file__).parents[2] / "docs/engine.md").read_text("utf-8").split())
    multi, single = (", ".join(map(str, x)) for x in (MULTI_LINE_LADDER, SINGLE_LINE_LADDER))
    assert f"the ladder {multi} up to `max_tokens`; {single} for `single_line`" in doc


def test_window_cuts_only_at_real_line_breaks():
    # a form feed is no line break: the line that holds it is kept or dropped whole
    prefix = "far = 1\fstill the same line\nnear = 2\n"
    pre, _ = window(prefix, "", count_words, budget=7)  # "still the same line" would fit alone
    assert pre == "near = 2\n"


def test_the_window_splits_only_the_text_near_the_hole_and_keeps_the_same_lines():
    """``_near_lines`` splits the ``cap + 1`` characters nearest the hole, not the whole file, and
    keeps exactly the lines that splitting the whole text keeps, line breaks of every kind at the
    slice's edge."""
    import random

    from diffusion_lsp.engine.tokens import _lines_outward, _near_lines, _take_chars

    rng = random.Random(0)
    for _ in range(5000):
        cap = rng.choice([1, 2, 16, 80])
        widths = [0, 1, cap - 1, cap, cap + 1, 2 * cap, rng.randint(0, 3 * cap)]
        lines = [
            "x" * rng.choice(widths) + rng.choice(["\n", "\r\n", "\r"])
            for _ in range(rng.randint(0, 10))
        ]
        text = "".join(lines) + "y" * rng.choice([0, rng.randint(0, 2 * cap)])
        for from_end in (True, False):
            want = _take_chars(_lines_outward(text, from_end), cap)
            if want:  # the nearest line is cut to its cap + 1 characters nearest the hole
                want[0] = want[0][-(cap + 1) :] if from_end else want[0][: cap + 1]
            assert _near_lines(text, cap, from_end) == want, (text, cap, from_end)


def test_token_counts_come_from_the_fast_backend_and_equal_the_encodings(masked_dir):
    from transformers import AutoTokenizer

    from diffusion_lsp.engine.tokens import count_tokens, encode
    from diffusion_lsp.models import embedded_model_path

    texts = ["def f(x):\n", "    return x  # é\n", "", "\t\tpass\r\n"]
    for path in (embedded_model_path(), masked_dir):
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        assert count_tokens(tokenizer, texts) == [len(encode(tokenizer, t)) for t in texts]

    class Slow:  # no Rust backend: the tokenizer's own call
        def __call__(self, texts, add_special_tokens):
            return {"input_ids": [list(t) for t in texts]}

    assert count_tokens(Slow(), ["ab", "c"]) == [2, 1]

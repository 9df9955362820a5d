"""The gates automatic inline requests pass and explicit ones skip: the confidence floor, the
languages the model was trained on, and the debounce that waits for typing to pause.

Protocol tests run the server (fake engine) per client profile. The debounce is also driven
in-process with an injected clock: the real handlers (didChange, inlineCompletion) on a server whose
``Debouncer`` reads a fake clock and sleeps until the test advances it, so every interval is exact.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from lsp_support import TEXT_ADD, Client, pos, rng
from lsprotocol import types

from diffusion_lsp.engine import api
from diffusion_lsp.engine.testing.fake import FakeEngine, FakeOptions
from diffusion_lsp.lsp import features
from diffusion_lsp.lsp.features import inline_completion as inline
from diffusion_lsp.lsp.server import build_server
from diffusion_lsp.lsp.settings import Settings
from diffusion_lsp.lsp.settings_sections import DebounceSettings, InlineSettings

URI = "file:///work/add.py"
CURSOR = pos(1, 11)  # after "return "; the fake answers v0_26 (confidence 1.0) and v2_26 (0.8)
JS_URI = "file:///work/add.js"
JS_TEXT = "function add(a, b) {\n  return \n}\n"
JS_CURSOR = pos(1, 9)  # after "return "; prefix: 30 characters
AUTOMATIC = types.InlineCompletionTriggerKind.Automatic
INVOKED = types.InlineCompletionTriggerKind.Invoked


def params(position=CURSOR, kind=AUTOMATIC, uri=URI) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=position,
        context=types.InlineCompletionContext(trigger_kind=kind),
    )


async def complete(client: Client, position=CURSOR, kind=AUTOMATIC, uri=URI) -> list[str]:
    result = await client.text_document_inline_completion_async(params(position, kind, uri))
    assert isinstance(result, types.InlineCompletionList)
    return [item.insert_text for item in result.items]


# -- the confidence floor ----------------------------------------------------------------------


@pytest.mark.server(init_options={"inline": {"minConfidence": 0.85}})
async def test_automatic_suggestions_below_the_floor_are_not_shown(client: Client):
    client.open(URI, TEXT_ADD)
    assert await complete(client) == ["v0_26"]  # v2_26 (0.8) is under the floor
    assert await complete(client, kind=INVOKED) == ["v0_26", "v2_26"]  # asked for: all of them


@pytest.mark.server(init_options={"inline": {"minConfidence": "high"}})
async def test_a_bad_floor_warns_and_keeps_the_default(client: Client):
    (warning,) = [m for m in client.messages if m.type == types.MessageType.Warning]
    assert 'diffusionLsp.inline.minConfidence: expected a number, got "high"' in warning.message
    assert "using the default 0.5" in warning.message
    client.open(URI, TEXT_ADD)
    assert await complete(client) == ["v0_26", "v2_26"]


# -- languages ---------------------------------------------------------------------------------


async def test_no_automatic_suggestions_in_a_language_the_model_was_not_trained_on(
    client: Client,
):
    client.open(JS_URI, JS_TEXT, language_id="javascript")
    assert await complete(client, JS_CURSOR, uri=JS_URI) == []
    assert (await client.status())["modelCalls"] == 0  # gated before the model
    assert await complete(client, JS_CURSOR, INVOKED, JS_URI) == ["v0_30", "v2_30"]
    client.open(URI, TEXT_ADD)  # python: the embedded model's language
    assert await complete(client) == ["v0_26", "v2_26"]


@pytest.mark.server(init_options={"inline": {"languages": ["javascript"]}})
async def test_the_languages_setting_enables_automatic_suggestions(client: Client):
    client.open(JS_URI, JS_TEXT, language_id="javascript")
    assert await complete(client, JS_CURSOR, uri=JS_URI) == ["v0_30", "v2_30"]
    client.open(URI, TEXT_ADD)  # the list replaces the model's languages
    assert await complete(client) == []


def test_model_languages_come_from_the_checkpoint(tmp_path: Path):
    assert inline.model_languages("") == frozenset({"python"})  # the embedded model
    own = tmp_path / "own"
    own.mkdir()
    (own / "config.json").write_text(json.dumps({"diffusion_lsp": {"languages": ["go", "c"]}}))
    assert inline.model_languages(str(own)) == frozenset({"go", "c"})
    other = tmp_path / "other"  # DiffusionGemma or a masked code model: says nothing
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    assert inline.model_languages(str(other)) is None
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("[1, 2")
    assert inline.model_languages(str(tmp_path / "bad")) is None
    assert inline.model_languages("apple/DiffuCoder-7B-cpGRPO") is None  # a hub id: all


def test_automatic_language_matches_the_editor_id_or_the_grammar():
    default = InlineSettings()
    assert inline.automatic_language(default, "", "python", "python")
    assert not inline.automatic_language(default, "", "javascript", "javascript")
    assert inline.automatic_language(default, "", "py-custom", "python")  # grammar matches
    assert inline.automatic_language(default, "/no/such/model", "javascript", "javascript")
    chosen = InlineSettings(languages=("typescriptreact",))
    assert inline.automatic_language(chosen, "", "typescriptreact", "tsx")
    assert not inline.automatic_language(chosen, "", "python", "python")
    every = InlineSettings(languages=("*",))
    assert inline.automatic_language(every, "", "javascript", "javascript")


# -- the debounce, over the protocol (real clock, bounds that scheduling cannot break) ----------

PAUSE_S = 1.5
PAUSE_MS = int(PAUSE_S * 1000)


@pytest.mark.server(init_options={"inline": {"debounce": {"minMs": PAUSE_MS, "maxMs": PAUSE_MS}}})
async def test_automatic_requests_wait_for_the_pause_invoked_ones_answer_at_once(client: Client):
    client.open(URI, TEXT_ADD)
    changed = time.monotonic()
    client.change(URI, 2, (rng(3, 0, 3, 0), "\n"))  # a change far from the cursor
    assert await complete(client, kind=INVOKED) == ["v0_26", "v2_26"]
    assert time.monotonic() - changed < PAUSE_S - 0.1  # no wait for the trigger key
    older = asyncio.ensure_future(complete(client))
    newer = asyncio.ensure_future(complete(client))
    assert await older == []  # superseded while it waited
    assert await newer == ["v0_26", "v2_26"]
    assert time.monotonic() - changed >= PAUSE_S - 0.01
    assert (await client.status())["modelCalls"] == 2  # the invoked one and the newer


# -- the debounce, in-process with an injected clock --------------------------------------------


class Clock:
    """A monotonic clock that moves only when the test says; ``sleep`` waits for it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self._sleepers: list[tuple[float, asyncio.Future]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        done = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, done))
        await done

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        for deadline, done in list(self._sleepers):
            if deadline <= self.now + 1e-9:
                self._sleepers.remove((deadline, done))
                done.set_result(None)
        await settle()


async def settle() -> None:
    """Let every ready task run until it blocks again."""
    for _ in range(20):
        await asyncio.sleep(0)


class StubModel:
    """The fake engine, run inline instead of on the worker; counts model calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.engine = FakeEngine(api.ModelSpec(), FakeOptions())

    async def run(self, job, key=None):
        self.calls += 1
        return job(self.engine, api.CancelToken())


class Harness:
    """A server's real didOpen/didChange/inlineCompletion handlers, a fake clock and engine."""

    def __init__(self, debounce: DebounceSettings | None = None) -> None:
        self.server = build_server(fake_engine=True)
        self.clock = Clock()
        debouncer = features.of(self.server, inline.InlineCompletion).debounce
        debouncer.clock = self.clock
        debouncer.sleep = self.clock.sleep
        self.server.settings = Settings(
            inline=InlineSettings(debounce=debounce or DebounceSettings())
        )
        self.model = StubModel()
        self.server.model_host = self.model  # type: ignore[assignment]
        self.features = self.server.protocol.fm.features
        self.version = 1
        self.column = 11  # the cursor, after "return "
        self.features[types.TEXT_DOCUMENT_DID_OPEN](
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=URI, language_id="python", version=1, text=TEXT_ADD
                )
            )
        )

    def type(self, text: str) -> None:
        """The user types ``text`` at the cursor (one didChange)."""
        self.version += 1
        at = pos(1, self.column)
        self.features[types.TEXT_DOCUMENT_DID_CHANGE](
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=self.version),
                content_changes=[
                    types.TextDocumentContentChangePartial(range=types.Range(at, at), text=text)
                ],
            )
        )
        self.column += len(text)

    async def request(self, kind=AUTOMATIC) -> asyncio.Task:
        """Send an inline request at the cursor; it runs until it answers or sleeps."""
        handler = self.features[types.TEXT_DOCUMENT_INLINE_COMPLETION]
        task = asyncio.ensure_future(handler(params(pos(1, self.column), kind)))
        await settle()
        return task


def texts(task: asyncio.Task) -> list[str]:
    assert task.done()
    return [item.insert_text for item in task.result().items]


@pytest.mark.parametrize(
    ("interval_s", "wait_s"), [(0.1, 0.15), (0.3, 0.45), (0.5, 0.5), (2.5, None)]
)
async def test_the_wait_grows_with_the_typing_interval_within_the_bound(interval_s, wait_s):
    h = Harness()  # maxMs 500
    for i, char in enumerate("abcd"):
        if i:
            await h.clock.advance(interval_s)
        h.type(char)
    task = await h.request()  # right after the last key
    if wait_s is None:  # gaps over 2 s are pauses, not a rhythm: no wait
        assert h.clock.slept == [] and texts(task) == ["v0_30", "v2_30"]
        return
    assert h.clock.slept == [pytest.approx(wait_s)]
    assert not task.done()
    await h.clock.advance(wait_s)
    assert texts(task) == ["v0_30", "v2_30"]


async def test_a_slow_typist_gets_no_new_suggestion_on_every_key():
    h = Harness()
    tasks = []
    for i, char in enumerate("total"):  # one key every 300 ms
        if i:
            await h.clock.advance(0.3)
        h.type(char)
        if i >= 2:  # the rhythm is known: each key followed by the editor's automatic request
            tasks.append(await h.request())
    assert h.model.calls == 0  # while the rhythm holds, every request is still waiting
    await h.clock.advance(0.45)  # the pause: 1.5 intervals after the last key
    assert [texts(t) for t in tasks] == [[], [], ["v0_31", "v2_31"]]  # superseded, then shown
    assert h.model.calls == 1
    # Typing the ghost's first character is answered from the cache, at once.
    h.type("v")
    task = await h.request()
    assert texts(task) == ["0_31", "2_31"]
    assert h.model.calls == 1 and len(h.clock.slept) == 3


async def test_a_request_that_waited_is_dropped_when_the_text_changed():
    h = Harness()
    h.type("a")
    await h.clock.advance(0.2)
    h.type("b")  # interval 200 ms: the pause is 300 ms
    task = await h.request()
    await h.clock.advance(0.1)
    h.type("c")  # no newer request (a client that asks only after its own debounce)
    await h.clock.advance(0.3)
    assert texts(task) == [] and h.model.calls == 0


async def test_invoked_requests_do_not_wait():
    h = Harness(DebounceSettings(min_ms=2000, max_ms=2000))
    h.type("a")
    task = await h.request(INVOKED)
    assert texts(task) == ["v0_27", "v2_27"] and h.clock.slept == []
    h.type("b")
    task = await h.request()  # automatic: waits the 2 s minimum
    assert h.clock.slept == [2.0] and not task.done()
    await h.clock.advance(2.0)
    assert texts(task) == ["v0_28", "v2_28"]


def test_pause_is_bounded_and_zero_without_a_rhythm():
    bounds = DebounceSettings(min_ms=50, max_ms=400)
    assert inline.pause_ms(None, bounds) == 50
    assert inline.pause_ms(10, bounds) == 50
    assert inline.pause_ms(200, bounds) == 300
    assert inline.pause_ms(1000, bounds) == 400
    assert inline.pause_ms(200, DebounceSettings(min_ms=0, max_ms=0)) == 0


def test_the_automatic_trigger_asks_for_one_hole_and_the_invoked_one_searches():
    from diffusion_lsp import textops
    from diffusion_lsp.region import Document, inline_region

    doc = Document("def add(a, b):\n    return a + b\n", "python")
    region = inline_region(doc, textops.Position(1, 11), max_lines=Settings().inline.max_lines)
    automatic = inline.infill_request(doc, region, Settings(), automatic=True)
    invoked = inline.infill_request(doc, region, Settings(), automatic=False)
    assert not automatic.search_length and invoked.search_length
    searching = Settings(inline=InlineSettings(automatic=Settings().inline.invoked))
    assert inline.infill_request(doc, region, searching, automatic=True).search_length

"""textDocument/inlineCompletion against the fake engine: texts, ranges, budgets, cache, supersession
and cancellation; and its plain functions: the confidence floor, ranking and the cache."""

from __future__ import annotations

import asyncio

import pytest
from lsp_support import TEXT_ADD, Client, pos, rng
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled

from diffusion_lsp import textops
from diffusion_lsp.engine import api
from diffusion_lsp.lsp.features import inline_completion as inline
from diffusion_lsp.lsp.features.inline_completion import Shown
from diffusion_lsp.region import Intent, LengthHint, Region

URI = "file:///work/add.py"
TEXT = TEXT_ADD
# The cursor after "return "; the fake fills alternative i with v{i}_{len(prefix)} (prefix: 26 chars)
# and alternative 1 with the suffix's first line, "x = add(1, 2)", which the server drops.
CURSOR = pos(1, 11)

AUTOMATIC = types.InlineCompletionTriggerKind.Automatic
INVOKED = types.InlineCompletionTriggerKind.Invoked


def params(
    position: types.Position, kind=AUTOMATIC, uri: str = URI
) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=position,
        context=types.InlineCompletionContext(trigger_kind=kind),
    )


async def complete(
    client: Client, position=CURSOR, kind=AUTOMATIC, uri=URI
) -> list[types.InlineCompletionItem]:
    result = await client.text_document_inline_completion_async(params(position, kind, uri))
    assert isinstance(result, types.InlineCompletionList)
    return list(result.items)


async def test_fills_the_region_at_the_cursor(client: Client):
    client.open(URI, TEXT)
    items = await complete(client)
    assert [i.insert_text for i in items] == ["v0_26", "v2_26"]
    for item in items:
        assert item.range == rng(1, 11, 1, 11)
    status = await client.status()
    assert status["state"] == "ready" and status["modelCalls"] == 1
    assert status["lastLatencyMs"] is not None


@pytest.mark.server(init_options={"inline": {"automatic": {"maxTokens": 3}}})
async def test_automatic_triggers_get_the_tight_budget(client: Client):
    client.open(URI, TEXT)
    assert [i.insert_text for i in await complete(client, kind=AUTOMATIC)] == ["v0_", "v2_"]
    assert [i.insert_text for i in await complete(client, kind=INVOKED)] == ["v0_26", "v2_26"]


async def test_typing_a_prefix_of_the_suggestion_is_answered_from_the_cache(client: Client):
    client.open(URI, TEXT)
    assert [i.insert_text for i in await complete(client)] == ["v0_26", "v2_26"]
    client.change(URI, 2, (rng(1, 11, 1, 11), "v"))
    items = await complete(client, pos(1, 12))
    assert [(i.insert_text, i.range) for i in items] == [
        ("0_26", rng(1, 12, 1, 12)),
        ("2_26", rng(1, 12, 1, 12)),
    ]
    client.change(URI, 3, (rng(1, 12, 1, 12), "0"))
    assert [i.insert_text for i in await complete(client, pos(1, 13))] == ["_26"]
    assert (await client.status())["modelCalls"] == 1
    # Typing something else asks the model again.
    client.change(URI, 4, (rng(1, 13, 1, 13), "+"))
    assert [i.insert_text for i in await complete(client, pos(1, 14))] == ["v0_29", "v2_29"]
    assert (await client.status())["modelCalls"] == 2


async def test_no_suggestion_mid_identifier_or_for_unknown_documents(client: Client):
    client.open(URI, TEXT)
    assert await complete(client, pos(0, 5)) == []  # inside "add"
    assert await complete(client, uri="file:///work/never-opened.py") == []
    assert (await client.status())["modelCalls"] == 0


# Invoked requests would run 400 steps of 100 ms (40 s); automatic ones 2 steps.
SLOW = {
    "model": "fake:step_ms=100",
    "inline": {"invoked": {"steps": 400}, "automatic": {"steps": 2}},
}


@pytest.mark.server(init_options=SLOW)
async def test_a_newer_request_supersedes_the_older(client: Client):
    client.open(URI, TEXT)
    older = asyncio.ensure_future(complete(client, kind=INVOKED))
    newer = asyncio.ensure_future(complete(client, kind=AUTOMATIC))
    # The older one returns empty at once; a worker still busy with it would hold the newer for 40 s.
    done = await asyncio.wait_for(asyncio.gather(older, newer), timeout=20)
    assert done[0] == []
    assert [i.insert_text for i in done[1]] == ["v0_26", "v2_26"]


@pytest.mark.server(init_options=SLOW)
async def test_cancel_request_stops_the_work(client: Client):
    client.open(URI, TEXT)
    request = asyncio.ensure_future(
        client.protocol.send_request_async(
            types.TEXT_DOCUMENT_INLINE_COMPLETION, params(CURSOR, INVOKED), msg_id="slow-1"
        )
    )
    await asyncio.sleep(0)  # one turn of the loop: the request is written before the cancel
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="slow-1"))
    with pytest.raises(JsonRpcRequestCancelled):
        await request
    # A cancelled job stops within one step, so the next one (on the same worker) is not held up.
    other = "file:///work/other.py"
    client.open(other, TEXT)
    items = await asyncio.wait_for(complete(client, kind=AUTOMATIC, uri=other), timeout=20)
    assert [i.insert_text for i in items] == ["v0_26", "v2_26"]


def test_the_floor_compares_the_mean_token_confidence():
    steady = api.Candidate("x", (0.6, 0.6), 1)
    one_weak_token = api.Candidate("y", (1.0, 0.9, 0.2), 1)  # mean 0.7, min 0.2
    assert inline.confidence(steady) == pytest.approx(0.6)
    assert inline.confidence(one_weak_token) == pytest.approx(0.7)


# -- plain functions, without a client: ranking and the cache ------------------------------------


def region(text: str = "", max_lines: int = 1, valid=lambda t: True) -> Region:
    r = textops.Range(textops.Position(0, 0), textops.Position(0, len(text)))
    return Region(
        Intent.INLINE, 0, len(text), r, text, "x", LengthHint(1, 100, max_lines), None, valid
    )


def result(*texts: str) -> api.Result:
    cands = tuple(api.Candidate(t, (0.5,), 1) for t in texts)
    return api.Result(texts[0], (0.5,), 1, api.Timings(), cands)


def test_candidates_are_cut_deduplicated_filtered_and_ranked_by_parsing():
    res = result("a\nb", "", "a", "foo()", "  ", "bad", "c")
    got = inline.candidate_texts(res, region(valid=lambda t: t != "bad"), suffix="\n  foo()\n")
    assert got == ["a", "c", "bad"]
    multi = inline.candidate_texts(result("a\nb\nc\n\n"), region(max_lines=2), suffix="")
    assert multi == ["a\nb"]


def test_candidates_with_control_characters_are_dropped():
    # A remote llama.cpp server with random weights answered text like this in a real Neovim.
    res = result('cou\x13`"Q*', "count\t= 0", "x\x7f")
    assert inline.candidate_texts(res, region(), suffix="") == ["count\t= 0"]


def test_cache_answers_only_for_a_typed_prefix_at_the_anchor():
    shown = Shown(text="ab\ncd", anchor=2, replaced="", texts=("xyz", "xq", "z"))
    assert inline.from_cache(shown, "abx\ncd", 3) == ["yz", "q"]
    assert inline.from_cache(shown, "abxy\ncd", 4) == ["z"]
    assert inline.from_cache(shown, "abxyz\ncd", 5) is None  # all typed: ask again
    assert inline.from_cache(shown, "abx\ncd", 2) is None  # cursor not after the typed text
    assert inline.from_cache(shown, "Xbx\ncd", 3) is None  # text before the anchor changed
    assert inline.from_cache(shown, "ab\ncd", 2) is None
    assert inline.from_cache(None, "abx\ncd", 3) is None


async def test_closing_a_document_drops_its_cache_and_typing_rhythm():
    """The inline feature keeps its own state and hears of changes and closes through the events."""
    from diffusion_lsp.lsp import features
    from diffusion_lsp.lsp.server import build_server

    server = build_server(fake_engine=True)
    handlers = server.protocol.fm.features
    feature = features.of(server, inline.InlineCompletion)
    handlers[types.TEXT_DOCUMENT_DID_OPEN](
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=URI, language_id="python", version=1, text=TEXT
            )
        )
    )
    for version, column in ((2, 11), (3, 12)):  # two keys: a typing rhythm
        handlers[types.TEXT_DOCUMENT_DID_CHANGE](
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=version),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=rng(1, column, 1, column), text="x"
                    )
                ],
            )
        )
    assert feature.debounce.interval_ms(URI) is not None
    feature.shown[URI] = Shown(text=TEXT, anchor=37, replaced="", texts=("v0",))
    handlers[types.TEXT_DOCUMENT_DID_CLOSE](
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=URI))
    )
    assert URI not in feature.shown
    assert feature.debounce.interval_ms(URI) is None

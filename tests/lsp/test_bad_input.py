"""Bad input never crashes the server and never desynchronizes its copy of a document.

The fake engine fills alternative 0 with ``v0_{len(prefix)}``, so a completion reveals how much text
the server holds before the cursor: that is how these tests check the document store.
"""

from __future__ import annotations

import pytest
from lsp_support import Client, client_capabilities, pos, rng
from lsprotocol import types
from pygls.exceptions import JsonRpcServerError
from test_inline_completion import TEXT, URI, complete


def texts(items: list[types.InlineCompletionItem]) -> list[str]:
    return [i.insert_text for i in items]


@pytest.mark.server(initialize=False)
async def test_requests_before_initialize_get_server_not_initialized(client: Client):
    with pytest.raises(JsonRpcServerError) as error:
        await complete(client)
    assert error.value.code == -32002  # ServerNotInitialized
    await client.initialize_session(
        types.InitializeParams(capabilities=client_capabilities("neovim@v0.11.0"))
    )
    await client.wait_for_status("ready")
    client.open(URI, TEXT)
    assert texts(await complete(client)) == ["v0_26", "v2_26"]


async def test_positions_past_the_end_are_clamped(client: Client):
    client.open(URI, TEXT)
    for item in await complete(client, pos(100, 100)):
        assert item.range.start.line == item.range.end.line
    await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            range=rng(90, 0, 99, 5),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    # An edit past the end of line 0 lands at its end: the text before the cursor grows by 5.
    client.change(URI, 2, (rng(0, 100, 0, 200), "  # c"))
    assert texts(await complete(client)) == ["v0_31", "v2_31"]
    # An edit past the end of the file appends.
    client.change(URI, 3, (rng(40, 0, 50, 0), "y = 2\n"))
    assert texts(await complete(client, pos(1, 11))) == ["v0_31", "v2_31"]


async def test_unknown_documents_get_empty_answers(client: Client):
    unknown = "file:///work/unknown.py"
    client.change(unknown, 2, (None, "x = 1\n"))
    assert await complete(client, uri=unknown) == []
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=unknown),
            range=rng(0, 0, 0, 0),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    assert result is None
    client.open(URI, TEXT)
    assert texts(await complete(client)) == ["v0_26", "v2_26"]


async def test_binary_content_is_tracked_but_not_served(client: Client):
    client.open(URI, "x = 1\x00\n" + TEXT)
    assert await client.wait_for_diagnostics(URI, 1) == []
    assert await complete(client, pos(2, 11)) == []
    client.change(URI, 2, (rng(0, 0, 1, 0), ""))  # drop the binary line
    assert texts(await complete(client)) == ["v0_26", "v2_26"]


async def test_text_that_is_not_unicode_is_tracked_but_not_served(client: Client):
    client.open(URI, "s = '\ud800'\n" + TEXT)  # an unpaired surrogate: no UTF-8 encoding exists
    assert await client.wait_for_diagnostics(URI, 1) == []
    assert await complete(client, pos(2, 11)) == []
    client.change(URI, 2, (rng(0, 0, 1, 0), ""))
    assert texts(await complete(client)) == ["v0_26", "v2_26"]


@pytest.mark.server(init_options={"maxFileBytes": 1000})
async def test_huge_files_are_tracked_but_not_served(client: Client):
    client.open(URI, TEXT + "#" * 2000 + "\n")
    assert await client.wait_for_diagnostics(URI, 1) == []
    assert await complete(client) == []
    client.change(URI, 2, (rng(4, 0, 5, 0), ""))  # delete the long line
    assert texts(await complete(client)) == ["v0_26", "v2_26"]

"""textDocument/publishDiagnostics: tree-sitter syntax errors, on open and change, and the setting."""

from __future__ import annotations

import pytest
from lsp_support import BROKEN, BROKEN_URI, Client, rng
from lsprotocol import types


async def test_syntax_errors_are_published_and_cleared(client: Client):
    client.open(BROKEN_URI, BROKEN)
    (diag,) = await client.wait_for_diagnostics(BROKEN_URI, 1)
    assert diag.range == rng(1, 4, 1, 12)
    assert diag.source == "diffusion-lsp" and diag.code == "syntax-error"
    assert diag.severity == types.DiagnosticSeverity.Error and diag.message.startswith(
        "Syntax error"
    )
    client.change(BROKEN_URI, 2, (rng(1, 12, 1, 12), " 2)"))
    assert await client.wait_for_diagnostics(BROKEN_URI, 2) == []


@pytest.mark.server(init_options={"diagnostics": {"enabled": False, "debounceMs": 0}})
async def test_the_setting_turns_them_off_and_on(client: Client):
    client.open(BROKEN_URI, BROKEN)
    assert await client.wait_for_diagnostics(BROKEN_URI, 1) == []
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(
            settings={"diffusionLsp": {"diagnostics": {"debounceMs": 0}}}
        )
    )
    assert len(await client.wait_for_diagnostics(BROKEN_URI, 1)) == 1


async def test_closing_clears_them(client: Client):
    client.open(BROKEN_URI, BROKEN)
    assert len(await client.wait_for_diagnostics(BROKEN_URI, 1)) == 1
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=BROKEN_URI))
    )
    params = await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert params.uri == BROKEN_URI and list(params.diagnostics) == []

"""Safe edits: Fix, Fill and Refine never damage code, and an edit reaches only the text it was made on.

The fixture module ``fixtures/inventory.py`` is broken the ways users break code (a colon, a ``)``, a
``]`` dropped, a ``)`` too many); each Fix must be the one-token repair, found without the model.
``fake:junk=1`` makes every model text end in an unclosed ``(``: nothing it writes may be applied.
Slow fakes (``step_ms``) keep a job running while the test edits, closes or cancels.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lsp_support import (
    BREAKS,
    HOLES,
    INVENTORY,
    SUMS,
    SUMS_URI,
    URI,
    Client,
    apply_edit,
    edits_of,
    rng,
)
from lsprotocol import types
from test_execute_command import as_json, run

INV_URI = "file:///work/inventory.py"
ONE_TOKEN = [name for name, (_, _, one_token) in BREAKS.items() if one_token]
SLOW = {"model": "fake:step_ms=150"}  # 8 steps: 1.2 s per engine call
JUNK = {"model": "fake:junk=1"}


def start(client: Client, command: str, *arguments: Any) -> asyncio.Future:
    """Send an executeCommand now (before whatever the test sends next); await the result later."""
    params = types.ExecuteCommandParams(command=command, arguments=list(arguments))
    return asyncio.wrap_future(
        client.protocol.send_request(types.WORKSPACE_EXECUTE_COMMAND, params)
    )


def no_apply_edit(capabilities: types.ClientCapabilities) -> None:
    assert capabilities.workspace is not None
    capabilities.workspace.apply_edit = False


async def until(condition, timeout: float = 30.0) -> None:
    """Wait for ``condition()`` to hold, checking as messages arrive (bounded)."""

    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(wait(), timeout)


@pytest.mark.parametrize("name", ONE_TOKEN)
async def test_fix_is_the_one_token_repair_and_calls_no_model(client: Client, name: str):
    good, bad, _ = BREAKS[name]
    broken = INVENTORY.replace(good, bad)
    client.open(INV_URI, broken)
    result = await run(client, "diffusionLsp.fix", INV_URI, None)
    assert result["applied"] is True, result
    (params,) = client.applied
    (edit,) = edits_of(params.edit, INV_URI)  # one hunk
    assert len(edit.new_text) <= 1 and edit.range.start.line == edit.range.end.line
    assert apply_edit(broken, params.edit, INV_URI) == INVENTORY
    assert (await client.status())["modelCalls"] == 0


async def test_fix_code_action_on_a_whole_file_error_keeps_every_method(client: Client):
    # A dropped ")" makes tree-sitter's ERROR span the whole file: the fix is still one character.
    broken = INVENTORY.replace('log.info("added %s", name)', 'log.info("added %s", name')
    client.open(INV_URI, broken)
    diagnostics = await client.wait_for_diagnostics(INV_URI, 1)
    assert diagnostics
    found = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=INV_URI),
            range=diagnostics[0].range,
            context=types.CodeActionContext(diagnostics=diagnostics),
        )
    )
    fix = next(a for a in found if a.title == "Fix syntax error")
    if fix.data is not None:  # clients that resolve code actions
        edit = (await client.code_action_resolve_async(fix)).edit
    else:  # the others run the command, which applies the edit
        assert fix.command is not None
        result = await run(client, fix.command.command, *fix.command.arguments)
        assert result["applied"] is True, result
        edit = client.applied[0].edit
    assert apply_edit(broken, edit, INV_URI) == INVENTORY


@pytest.mark.server(init_options=JUNK)
async def test_fix_with_no_safe_candidate_changes_nothing(client: Client):
    broken = "def f(x):\n    y = (1 +\n    return y\n"  # needs an operand: only the model can
    client.open(URI, broken)
    result = await run(client, "diffusionLsp.fix", URI, None)
    assert result["applied"] is False
    assert "no safe fix found" in result["message"]
    assert client.applied == []


@pytest.mark.server(init_options=JUNK)
async def test_fill_and_refine_never_apply_text_that_does_not_parse(client: Client):
    client.open(URI, HOLES)
    fill = await run(client, "diffusionLsp.fill", URI, as_json(rng(1, 0, 1, 8)))
    assert fill["applied"] is False and "nothing was changed" in fill["message"], fill
    client.open(SUMS_URI, SUMS)
    refine = await run(client, "diffusionLsp.refine", SUMS_URI, as_json(rng(1, 4, 2, 10)))
    assert refine["applied"] is False and "does not parse" in refine["message"], refine
    assert client.applied == []


@pytest.mark.server(init_options=SLOW)
async def test_a_fill_made_before_close_and_reopen_is_dropped(client: Client):
    client.open(URI, HOLES)
    pending = start(client, "diffusionLsp.fill", URI, as_json(rng(5, 0, 5, 7)))
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=URI))
    )
    client.open(URI, HOLES)  # the same version and text: still not the document it was made on
    result = await pending
    assert result["applied"] is False and "reopened" in result["message"], result
    assert client.applied == []


@pytest.mark.server(init_options=SLOW)
async def test_an_edit_elsewhere_moves_the_result(client: Client):
    client.open(URI, HOLES)
    pending = start(client, "diffusionLsp.fill", URI, as_json(rng(5, 0, 5, 7)))
    client.change(URI, 2, (rng(0, 0, 0, 0), "# header\n"))
    result = await pending
    assert result["applied"] is True, result
    now = "# header\n" + HOLES
    assert apply_edit(now, client.applied[0].edit, URI) == now.replace("...", "v0_43")
    (change,) = client.applied[0].edit.document_changes or [None]
    if change is not None:
        assert change.text_document.version == 2


@pytest.mark.server(init_options=SLOW)
async def test_an_edit_under_the_region_drops_the_result(client: Client):
    client.open(URI, HOLES)
    pending = start(client, "diffusionLsp.fill", URI, as_json(rng(5, 0, 5, 7)))
    client.change(URI, 2, (rng(5, 4, 5, 7), "x = 3"))
    result = await pending
    assert result["applied"] is False and "changed" in result["message"], result
    assert client.applied == []


@pytest.mark.server(capabilities=no_apply_edit)
async def test_a_client_without_apply_edit_gets_the_edit_in_the_result(client: Client):
    client.open(URI, HOLES)
    result: Any = await run(client, "diffusionLsp.fill", URI, as_json(rng(5, 0, 5, 7)))
    assert result["applied"] is False and client.applied == []
    edit = client.protocol._converter.structure(result["edit"], types.WorkspaceEdit)
    assert apply_edit(HOLES, edit, URI) == HOLES.replace("...", "v0_43")


@pytest.mark.server(init_options=SLOW)
async def test_a_cancelled_command_sends_no_apply_edit(client: Client):
    client.open(URI, HOLES)
    request = client.protocol.send_request(
        types.WORKSPACE_EXECUTE_COMMAND,
        types.ExecuteCommandParams(
            command="diffusionLsp.fill", arguments=[URI, as_json(rng(5, 0, 5, 7))]
        ),
        msg_id="fill-to-cancel",
    )
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="fill-to-cancel"))
    with pytest.raises(Exception, match="cancel"):
        await asyncio.wait_for(asyncio.wrap_future(request), 30)
    # The worker runs jobs in order: once a second fill is done, the first one's job has ended and
    # anything its command would have sent has been sent.
    second = await run(client, "diffusionLsp.fill", URI, as_json(rng(5, 0, 5, 7)))
    assert second["applied"] is True
    assert len(client.applied) == 1


def with_progress(capabilities: types.ClientCapabilities) -> None:
    capabilities.window = types.WindowClientCapabilities(work_done_progress=True)


@pytest.mark.server(init_options=SLOW, capabilities=with_progress)
async def test_progress_is_cancellable_and_cancel_stops_the_job(client: Client):
    client.open(URI, HOLES)
    load_tokens = set(client.progress_reports)
    pending = start(client, "diffusionLsp.fill", URI, as_json(rng(0, 0, 7, 0)))
    # The token exists from window/workDoneProgress/create on; wait for its begin too.
    await until(
        lambda: any(client.progress_reports[t] for t in set(client.progress_reports) - load_tokens)
    )
    (token,) = set(client.progress_reports) - load_tokens
    begin = client.progress_reports[token][0]
    assert isinstance(begin, types.WorkDoneProgressBegin)
    assert begin.cancellable is True and begin.title == "diffusion-lsp: Fill holes"
    client.protocol.notify(
        types.WINDOW_WORK_DONE_PROGRESS_CANCEL, types.WorkDoneProgressCancelParams(token=token)
    )
    result = await pending
    assert result == {"applied": False, "message": "cancelled; nothing was changed"}
    assert isinstance(client.progress_reports[token][-1], types.WorkDoneProgressEnd)
    assert client.applied == []

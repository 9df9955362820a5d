"""textDocument/codeAction and codeAction/resolve against the fake engine."""

from __future__ import annotations

import pytest
from lsp_support import (
    BROKEN,
    BROKEN_URI,
    HOLES,
    SUMS,
    SUMS_URI,
    URI,
    Client,
    actions,
    apply_edit,
    edits_of,
    rng,
    without_resolve,
)
from lsprotocol import types


async def test_listing_offers_fill_and_never_calls_the_model(client: Client):
    client.open(URI, HOLES)
    found = await actions(client, URI, rng(5, 5, 5, 5))
    assert set(found) == {"Fill hole", "Fill all holes in this function"}
    assert found["Fill hole"].kind == types.CodeActionKind.RefactorRewrite
    assert found["Fill hole"].data["range"] == {
        "start": {"line": 5, "character": 4},
        "end": {"line": 5, "character": 7},
    }
    assert found["Fill all holes in this function"].data["range"]["end"] == {
        "line": 6,
        "character": 10,
    }
    assert found["Fill hole"].edit is None
    # Outside any hole but inside g: only "fill all".
    assert set(await actions(client, URI, rng(4, 4, 4, 4))) == {"Fill all holes in this function"}
    # f has a single hole: the cursor on it gets "Fill hole" only.
    assert set(await actions(client, URI, rng(1, 5, 1, 5))) == {"Fill hole"}
    assert (await client.status())["modelCalls"] == 0


async def test_resolve_fills_one_hole(client: Client):
    client.open(URI, HOLES)
    action = (await actions(client, URI, rng(5, 5, 5, 5)))["Fill hole"]
    resolved = await client.code_action_resolve_async(action)
    # The fake fills with v0_{len(prefix)}; 43 characters precede the "...".
    assert edits_of(resolved.edit, URI) == [types.TextEdit(range=rng(5, 4, 5, 7), new_text="v0_43")]


async def test_resolve_fills_all_holes_of_the_function_in_order(client: Client):
    client.open(URI, HOLES)
    action = (await actions(client, URI, rng(4, 4, 4, 4)))["Fill all holes in this function"]
    resolved = await client.code_action_resolve_async(action)
    # The second hole is filled with the first already in place (its prefix grew by 2 characters).
    assert apply_edit(HOLES, resolved.edit, URI) == HOLES.replace("...", "v0_43").replace(
        "# TODO", "v0_53"
    )
    assert (await client.status())["modelCalls"] == 2


async def test_fix_syntax_error_is_a_preferred_quickfix_with_its_diagnostic(client: Client):
    unfinished = "def f(x):\n    y = 1 +\n    return y\n"  # the model must supply the operand
    client.open(BROKEN_URI, unfinished)
    diagnostics = await client.wait_for_diagnostics(BROKEN_URI, 1)
    found = await actions(client, BROKEN_URI, rng(1, 6, 1, 6), diagnostics)
    fix = found["Fix syntax error"]
    assert fix.kind == types.CodeActionKind.QuickFix and fix.is_preferred
    assert list(fix.diagnostics) == diagnostics
    resolved = await client.code_action_resolve_async(fix)
    fixed = apply_edit(unfinished, resolved.edit, BROKEN_URI)
    assert fixed == "def f(x):\n    y = 1 +v0_21\n    return y\n"


async def test_refine_selection_returns_minimal_hunks(client: Client):
    client.open(SUMS_URI, SUMS)
    found = await actions(client, SUMS_URI, rng(1, 4, 2, 10))
    assert "Refine selection" in found
    resolved = await client.code_action_resolve_async(found["Refine selection"])
    # The fake refine adds one to each integer: two one-character hunks, not a rewrite of the span.
    assert edits_of(resolved.edit, SUMS_URI) == [
        types.TextEdit(range=rng(1, 8, 1, 9), new_text="2"),
        types.TextEdit(range=rng(2, 9, 2, 10), new_text="1"),
    ]
    assert (await actions(client, SUMS_URI, rng(1, 4, 1, 4))).get("Refine selection") is None


async def test_only_filters_the_kinds(client: Client):
    client.open(BROKEN_URI, BROKEN)
    found = await actions(
        client, BROKEN_URI, rng(1, 4, 1, 12), only=[types.CodeActionKind.Refactor]
    )
    assert list(found) == ["Refine selection"]


async def test_resolve_follows_an_edit_elsewhere_and_refuses_one_under_the_action(client: Client):
    client.open(URI, HOLES)
    action = (await actions(client, URI, rng(5, 5, 5, 5)))["Fill hole"]
    client.change(URI, 2, (rng(0, 0, 0, 0), "# edited\n"))  # above the hole: it moves down a line
    resolved = await client.code_action_resolve_async(action)
    now = "# edited\n" + HOLES
    assert apply_edit(now, resolved.edit, URI) == now.replace("...", "v0_52")

    client.change(URI, 3, (rng(6, 4, 6, 7), "x = 1"))  # the hole itself (now on line 6) changed
    calls = (await client.status())["modelCalls"]
    resolved = await client.code_action_resolve_async(action)
    assert resolved.edit is None
    assert any("changed since" in m.message for m in client.messages)
    assert (await client.status())["modelCalls"] == calls


@pytest.mark.server(capabilities=without_resolve)
async def test_clients_without_resolve_get_a_command(client: Client):
    client.open(URI, HOLES)
    action = (await actions(client, URI, rng(5, 5, 5, 5)))["Fill hole"]
    assert action.data is None and action.edit is None
    assert action.command.command == "diffusionLsp.fill"
    assert list(action.command.arguments) == [
        URI,
        {"start": {"line": 5, "character": 4}, "end": {"line": 5, "character": 7}},
    ]
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command=action.command.command, arguments=action.command.arguments
        )
    )
    assert result == {"applied": True, "message": ""}
    assert apply_edit(HOLES, client.applied[0].edit, URI) == HOLES.replace("...", "v0_43")


async def test_no_actions_for_unknown_documents(client: Client):
    assert await actions(client, "file:///work/nope.py", rng(0, 0, 0, 0)) == {}

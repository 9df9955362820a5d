"""Fix with the embedded model (the default, what a new user runs) on a realistic module broken each way
a person breaks code: every answer is a minimal fix or a clear "no safe fix", never damage.

The one-token breaks must be repaired exactly and without a model call; the others (an unfinished
expression, a stray word) go to the model, whose answer is accepted only if it passes the gate.
"""

from __future__ import annotations

import pytest
import pytest_lsp
from lsp_support import (
    BREAKS,
    FAST,
    INVENTORY,
    Client,
    apply_edit,
    edits_of,
    real_server,
)
from lsprotocol import types
from pytest_lsp import client_capabilities

from diffusion_lsp.region import Document
from diffusion_lsp.region.checks import MAX_FIX_LINES, definition_names

pytestmark = pytest.mark.asyncio(loop_scope="module")

URI = "file:///work/inventory.py"


@pytest_lsp.fixture(
    scope="module",
    config=real_server(),
)
async def embedded(lsp_client: Client):
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("neovim@v0.11.0"),
            initialization_options={**FAST, "device": "cpu"},  # no model: the embedded one
        )
    )
    await lsp_client.wait_for_status("ready")
    yield
    await lsp_client.shutdown_session()


@pytest.mark.parametrize("name", list(BREAKS))
async def test_each_break_gets_a_minimal_fix_or_no_safe_fix(embedded: Client, name: str):
    good, bad, exact = BREAKS[name]
    broken = INVENTORY.replace(good, bad)
    assert broken != INVENTORY
    uri = URI.replace("inventory", name.replace(" ", "_"))
    embedded.open(uri, broken)
    before = len(embedded.applied)
    calls = (await embedded.status())["modelCalls"]
    result = await embedded.workspace_execute_command_async(
        types.ExecuteCommandParams(command="diffusionLsp.fix", arguments=[uri, None])
    )
    print(f"{name}: {result}")  # shown with -s: what the embedded model did
    if exact:
        assert result["applied"] is True, result
        assert apply_edit(broken, embedded.applied[-1].edit, uri) == INVENTORY
        assert (await embedded.status())["modelCalls"] == calls  # no model call
        return
    if not result["applied"]:
        assert result["message"].startswith("no safe fix found"), result
        assert len(embedded.applied) == before
        return
    edit = embedded.applied[-1].edit
    fixed = apply_edit(broken, edit, uri)
    line = next(x for x in fixed.splitlines() if x not in INVENTORY.splitlines())
    print(f"  {bad!r} -> {line.strip()!r}")
    tree = Document(fixed, "python").tree
    assert tree is not None and not tree.root_node.has_error
    names = definition_names(Document(INVENTORY, "python").tree.root_node)  # type: ignore[union-attr]
    assert set(names) <= set(definition_names(tree.root_node))
    for e in edits_of(edit, uri):
        assert e.range.end.line - e.range.start.line < MAX_FIX_LINES

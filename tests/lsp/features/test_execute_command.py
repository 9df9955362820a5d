"""workspace/executeCommand: diffusionLsp.fill|fix|refine apply their edit; diffusionLsp.status."""

from __future__ import annotations

from typing import Any

from lsp_support import BROKEN_URI, HOLES, SUMS, SUMS_URI, URI, Client, apply_edit, rng
from lsprotocol import types


async def run(client: Client, command: str, *arguments: Any) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=list(arguments))
    )


def as_json(r: types.Range) -> dict:
    return {
        "start": {"line": r.start.line, "character": r.start.character},
        "end": {"line": r.end.line, "character": r.end.character},
    }


async def test_fill_applies_the_edit_for_the_holes_in_range(client: Client):
    client.open(URI, HOLES)
    assert await run(client, "diffusionLsp.fill", URI, as_json(rng(5, 0, 6, 10))) == {
        "applied": True,
        "message": "",
    }
    (params,) = client.applied
    assert params.label == "diffusion-lsp: Fill holes"
    assert apply_edit(HOLES, params.edit, URI) == HOLES.replace("...", "v0_43").replace(
        "# TODO", "v0_53"
    )


UNFINISHED = "def f(x):\n    y = 1 +\n    return y\n"  # the model must supply the operand


async def test_fix_without_a_range_fixes_the_whole_file(client: Client):
    client.open(BROKEN_URI, UNFINISHED)
    assert (await run(client, "diffusionLsp.fix", BROKEN_URI, None))["applied"] is True
    # The fake's text is inserted where the line ends: every token the user wrote stays.
    assert (
        apply_edit(UNFINISHED, client.applied[0].edit, BROKEN_URI)
        == "def f(x):\n    y = 1 +v0_21\n    return y\n"
    )


async def test_refine_rewrites_the_selection(client: Client):
    client.open(SUMS_URI, SUMS)
    assert (await run(client, "diffusionLsp.refine", SUMS_URI, as_json(rng(1, 4, 2, 10))))[
        "applied"
    ] is True
    assert apply_edit(SUMS, client.applied[0].edit, SUMS_URI) == SUMS.replace("1\n", "2\n").replace(
        "20", "21"
    )


async def test_bad_arguments_and_nothing_to_do_get_a_message_not_an_edit(client: Client):
    client.open(SUMS_URI, SUMS)
    cases = [
        ("diffusionLsp.fill", [], "takes [uri, range]"),
        ("diffusionLsp.fill", [42, None], "takes [uri, range]"),
        ("diffusionLsp.refine", [SUMS_URI], "needs a range"),
        ("diffusionLsp.refine", [SUMS_URI, {"start": 3}], "not an LSP range"),
        ("diffusionLsp.fill", [SUMS_URI, as_json(rng(0, 0, 3, 0))], "no hole"),
        ("diffusionLsp.fix", ["file:///work/nope.py", None], "is not open"),
    ]
    for command, arguments, message in cases:
        result = await run(client, command, *arguments)
        assert result["applied"] is False and message in result["message"], (
            command,
            arguments,
            result,
        )
    assert client.applied == []
    assert (await client.status())["modelCalls"] == 0


async def test_an_edit_the_editor_refuses_is_reported(client: Client):
    client.open(URI, HOLES)
    client.refuse_edits = True
    assert await run(client, "diffusionLsp.fill", URI, as_json(rng(5, 5, 5, 5))) == {
        "applied": False,
        "message": "refused by test",
    }


async def test_status_reports_the_model(client: Client):
    status = await run(client, "diffusionLsp.status")
    assert status["state"] == "ready"
    assert status["model"] == "fake" and status["device"] == "cpu" and status["dtype"] == "float32"
    assert status["modelCalls"] == 0 and status["lastLatencyMs"] is None
    assert client.statuses[-1]["state"] == "ready"

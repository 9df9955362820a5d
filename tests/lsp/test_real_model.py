"""One full path per feature (except diagnostics, which need no model) with the real engine and the tiny random model (its text is garbage but
deterministic): the server's answers must equal the engine's, run in this process on the same request."""

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
    pos,
    rng,
)
from lsprotocol import types

from diffusion_lsp import textops
from diffusion_lsp.engine import api, load_engine
from diffusion_lsp.lsp.features import inline_completion as inline
from diffusion_lsp.lsp.settings import Settings
from diffusion_lsp.region import Document, fix_regions, inline_region, refine_region

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADD_URI = "file:///work/real_add.py"
ADD = "def add(a, b):\n    return \n\nx = add(1, 2)\n"


@pytest.fixture(scope="module")
def engine(tiny_model: str) -> api.Engine:
    return load_engine(api.ModelSpec(model=tiny_model))


async def test_status_names_the_model_device_and_dtype(real_client: Client, tiny_model: str):
    status = await real_client.status()
    assert (status["state"], status["model"], status["device"], status["dtype"]) == (
        "ready",
        tiny_model,
        "cpu",
        "float32",
    )


async def test_inline_completion_is_the_engines_answer(real_client: Client, engine: api.Engine):
    real_client.open(ADD_URI, ADD)
    result = await real_client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=ADD_URI),
            position=pos(1, 11),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Invoked
            ),
        )
    )
    doc = Document(ADD, "python")
    region = inline_region(doc, textops.Position(1, 11), max_lines=Settings().inline.max_lines)
    request = inline.infill_request(doc, region, Settings(), automatic=False)
    expected = inline.candidate_texts(engine.infill(request), region, request.suffix)
    assert expected, "the tiny model gave no usable candidate; the test would prove nothing"
    assert [i.insert_text for i in result.items] == expected
    assert all(i.range == rng(1, 11, 1, 11) for i in result.items)
    assert (await real_client.status())["lastLatencyMs"] > 0


async def test_fill_hole_resolves_to_an_edit_inside_the_hole(real_client: Client):
    real_client.open(URI, HOLES)
    action = (await actions(real_client, URI, rng(5, 5, 5, 5)))["Fill hole"]
    resolved = await real_client.code_action_resolve_async(action)
    if resolved.edit is None:  # the tiny random model's text rarely parses: the gate refuses it
        assert any("nothing was changed" in m.message for m in real_client.messages)
        return
    after = apply_edit(HOLES, resolved.edit, URI)
    head, tail = HOLES.split("...")
    assert after.startswith(head) and after.endswith(tail) and after != HOLES
    assert not Document(after, "python").tree.root_node.has_error


async def test_fix_only_applies_a_candidate_that_parses(real_client: Client):
    real_client.open(BROKEN_URI, BROKEN)
    result = await real_client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="diffusionLsp.fix", arguments=[BROKEN_URI, None])
    )
    if result["applied"]:
        fixed = apply_edit(BROKEN, real_client.applied[-1].edit, BROKEN_URI)
        assert fix_regions(Document(fixed, "python")) == []
    else:
        assert result["message"].startswith("no safe fix found")


async def test_refine_command_rewrites_only_the_refine_region(real_client: Client):
    real_client.open(SUMS_URI, SUMS)
    count = len(real_client.applied)
    result = await real_client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="diffusionLsp.refine",
            arguments=[
                SUMS_URI,
                {"start": {"line": 1, "character": 4}, "end": {"line": 2, "character": 10}},
            ],
        )
    )
    if not result["applied"]:
        message = result["message"]
        assert message == "the model changed nothing" or "nothing was changed" in message
        return
    (params,) = real_client.applied[count:]
    region = refine_region(
        Document(SUMS, "python"), textops.Range(textops.Position(1, 4), textops.Position(2, 10))
    )
    for edit in params.edit.changes[SUMS_URI]:
        assert region.range.start <= textops.Position(
            edit.range.start.line, edit.range.start.character
        )
        assert textops.Position(edit.range.end.line, edit.range.end.character) <= region.range.end

"""The server with each masked code model, from tiny random checkpoints in the published layouts.

One server loads each family in turn (a settings change reloads the model), with no
``trustRemoteCode``: its inline completion equals the engine's answer to the same request in this
process, and a refine runs the model and edits at most the refine region.
"""

from __future__ import annotations

import pytest
import pytest_lsp
from lsp_support import FAST, Client, pos, real_server, rng
from lsprotocol import types
from pytest_lsp import client_capabilities

from diffusion_lsp import textops
from diffusion_lsp.engine import api, load_engine
from diffusion_lsp.engine.testing.published import FAMILIES, build
from diffusion_lsp.lsp.features import inline_completion as inline
from diffusion_lsp.lsp.settings import Settings
from diffusion_lsp.region import Document, inline_region, refine_region

pytestmark = pytest.mark.asyncio(loop_scope="module")

URI = "file:///work/native_add.py"
TEXT = "def add(a, b):\n    return \n\ntotal = add(1, 2) + add(3, 4)\n"
OPTIONS = {**FAST, "maxTokens": 16, "steps": 4}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, str]:
    return {f: str(build(tmp_path_factory.mktemp(f), f, seed=5)) for f in FAMILIES}


@pytest_lsp.fixture(
    scope="module",
    config=real_server(),
)
async def native_client(lsp_client: Client, checkpoints: dict[str, str]):
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("neovim@v0.11.0"),
            initialization_options={**OPTIONS, "model": checkpoints[FAMILIES[0]]},
        )
    )
    await lsp_client.wait_for_status("ready")
    lsp_client.open(URI, TEXT)
    yield
    await lsp_client.shutdown_session()


async def _use(client: Client, model: str) -> dict:
    status = await client.status()
    if status["model"] != model:
        after = len(client.statuses)
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(
                settings={"diffusionLsp": {**OPTIONS, "model": model}}
            )
        )
        await client.wait_for_status("ready", after=after)
        status = await client.status()
    assert status["state"] == "ready" and status["model"] == model
    return status


@pytest.mark.parametrize("family", FAMILIES)
async def test_inline_completion_is_the_engines_answer(native_client: Client, checkpoints, family):
    await _use(native_client, checkpoints[family])
    result = await native_client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=pos(1, 11),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Invoked
            ),
        )
    )
    engine = load_engine(api.ModelSpec(model=checkpoints[family], device="cpu"))
    doc = Document(TEXT, "python")
    region = inline_region(doc, textops.Position(1, 11), max_lines=Settings().inline.max_lines)
    request = inline.infill_request(doc, region, Settings(**_settings()), automatic=False)
    expected = inline.candidate_texts(engine.infill(request), region, request.suffix)
    assert expected, "the model gave no usable candidate; the test would prove nothing"
    assert [i.insert_text for i in result.items] == expected
    assert all(i.range == rng(1, 11, 1, 11) for i in result.items)


def _settings() -> dict:
    return {"max_tokens": OPTIONS["maxTokens"], "steps": OPTIONS["steps"]}


@pytest.mark.parametrize("family", FAMILIES)
async def test_refine_runs_the_model_and_edits_only_the_region(
    native_client: Client, checkpoints, family
):
    await _use(native_client, checkpoints[family])
    count = len(native_client.applied)
    span = {"start": {"line": 3, "character": 8}, "end": {"line": 3, "character": 17}}
    result = await native_client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="diffusionLsp.refine", arguments=[URI, span])
    )
    if not result["applied"]:  # random weights: the safety gate may refuse the text
        message = result["message"]
        assert message == "the model changed nothing" or "nothing was changed" in message
        return
    (params,) = native_client.applied[count:]
    region = refine_region(
        Document(TEXT, "python"), textops.Range(textops.Position(3, 8), textops.Position(3, 17))
    )
    for edit in params.edit.changes[URI]:
        start = textops.Position(edit.range.start.line, edit.range.start.character)
        end = textops.Position(edit.range.end.line, edit.range.end.character)
        assert region.range.start <= start and end <= region.range.end

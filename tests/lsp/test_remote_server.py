"""The language server with ``remote.url`` set: its model runs on a real llama.cpp server on loopback
(llama-cpp-python, a tiny random GGUF), and its inline completion is the remote engine's answer to
the same request, filtered and ranked as the local engine's are."""

from __future__ import annotations

import asyncio
import importlib.util
import os

import pytest
import pytest_lsp
from lsp_support import Client, pos, real_server, rng
from lsprotocol import types
from pytest_lsp import client_capabilities

from diffusion_lsp import textops
from diffusion_lsp.engine import api, load_engine
from diffusion_lsp.lsp.features import inline_completion as inline
from diffusion_lsp.lsp.settings import Settings
from diffusion_lsp.region import Document, inline_region

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADD_URI = "file:///work/remote_add.py"
ADD = "def add(a, b):\n    return \n\nx = add(1, 2)\n"


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("gguf") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install the remote-test extra (llama-cpp-python[server], gguf)")
        pytest.skip("llama-cpp-python[server] and gguf are not installed (the remote-test extra)")
    from diffusion_lsp.engine.testing.llama_server import LlamaServer, write_tiny_gguf

    where = tmp_path_factory.mktemp("llama-lsp")
    server = LlamaServer(write_tiny_gguf(where / "tiny.gguf"), where / "server.log")
    server.wait_ready()
    yield server
    server.stop()


def remote(llama) -> dict:
    return {"url": llama.url, "mode": "completions"}


@pytest_lsp.fixture(
    scope="module",
    config=real_server(),
)
async def remote_client(lsp_client: Client, llama):
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("neovim@v0.11.0"),
            initialization_options={"remote": remote(llama)},
        )
    )
    await lsp_client.wait_for_status("ready")
    yield
    await lsp_client.shutdown_session()


async def test_status_says_the_model_is_remote(remote_client: Client, llama):
    status = await remote_client.status()
    assert status["state"] == "ready" and status["device"] == "remote"
    assert llama.url in status["model"]


async def test_inline_completion_is_the_remote_engines_answer(remote_client: Client, llama):
    remote_client.open(ADD_URI, ADD)
    result = await remote_client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=ADD_URI),
            position=pos(1, 11),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Invoked
            ),
        )
    )
    settings = Settings()
    doc = Document(ADD, "python")
    region = inline_region(doc, textops.Position(1, 11), max_lines=settings.inline.max_lines)
    request = inline.infill_request(doc, region, settings, automatic=False)
    spec = api.ModelSpec(remote=api.RemoteSpec(url=llama.url, mode="completions"))
    # An engine blocks: off the event loop, as the server's worker runs it.
    answer = await asyncio.to_thread(lambda: load_engine(spec).infill(request))
    expected = inline.candidate_texts(answer, region, request.suffix)
    assert expected, "the tiny model gave no usable candidate; the test would prove nothing"
    assert [i.insert_text for i in result.items] == expected
    assert all(i.range == rng(1, 11, 1, 11) for i in result.items)

"""The LSP lifecycle feature: settings from initializationOptions, workspace/configuration and
didChangeConfiguration; a model setting that changes reloads the model."""

from __future__ import annotations

import pytest
from lsp_support import Client
from lsprotocol import types
from test_inline_completion import TEXT, URI, complete


async def test_changing_the_model_settings_reloads_it(client: Client):
    seen = len(client.statuses)
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"diffusionLsp": {"model": "fake:step_ms=1"}})
    )
    await client.wait_for_status("loading", after=seen)
    ready = await client.wait_for_status("ready", after=seen)
    assert ready["model"] == "fake:step_ms=1"
    # A change that leaves the model alone does not reload it.
    seen = len(client.statuses)
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(
            settings={"diffusionLsp": {"model": "fake:step_ms=1", "alternatives": 1}}
        )
    )
    client.open(URI, TEXT)
    assert [i.insert_text for i in await complete(client)] == ["v0_26"]
    assert [s["state"] for s in client.statuses[seen:]] == ["ready"]  # the latency report only


@pytest.mark.server(init_options={"alternatives": "two", "dtype": "int3"})
async def test_a_bad_setting_is_warned_about_and_defaulted(client: Client):
    (warning,) = [m for m in client.messages if m.type == types.MessageType.Warning]
    assert (
        "diffusionLsp.alternatives" in warning.message and "diffusionLsp.dtype" in warning.message
    )
    client.open(URI, TEXT)
    assert len(await complete(client)) == 2  # the default, 3 alternatives, less the suffix repeat


@pytest.mark.server(configuration={"diffusionLsp": {"alternatives": 1}})
async def test_settings_are_pulled_where_the_client_supports_it(client: Client):
    client.open(URI, TEXT)
    pulls = bool(client.capabilities.workspace and client.capabilities.workspace.configuration)
    assert len(await complete(client)) == (1 if pulls else 2)

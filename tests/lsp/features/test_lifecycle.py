"""Model lifecycle: progress while loading, bounded waiting, load failure, reload on settings change,
and settings from workspace/configuration."""

from __future__ import annotations

import pytest
from lsp_support import Client, client_capabilities, make_client, pos, server_command, server_env
from lsprotocol import types
from pytest_lsp import ClientServerConfig
from test_inline_completion import TEXT, URI, complete


async def test_loading_reports_progress_then_ready(client: Client):
    statuses = [s["state"] for s in client.statuses]
    assert statuses[0] == "loading" and statuses[-1] == "ready"
    (reports,) = client.progress_reports.values()
    assert isinstance(reports[0], types.WorkDoneProgressBegin)
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)
    assert any(isinstance(r, types.WorkDoneProgressReport) for r in reports)


@pytest.mark.server(init_options={"model": "fake:load_ms=500"}, wait=None)
async def test_requests_during_loading_wait_for_the_model(client: Client):
    client.open(URI, TEXT)
    items = await complete(client)  # sent while the model loads
    assert [i.insert_text for i in items] == ["v0_26", "v2_26"]
    await client.wait_for_status("ready")


@pytest.mark.server(init_options={"model": "fake:load_ms=5000", "loadWaitMs": 0}, wait="loading")
async def test_the_wait_is_bounded(client: Client):
    client.open(URI, TEXT)
    assert await complete(client) == []
    assert (await client.status())["state"] == "loading"


@pytest.mark.server(init_options={"model": "fake:fail=no such model"}, wait="error")
async def test_a_load_failure_is_shown_once_and_the_server_stays_up(client: Client):
    status = client.statuses[-1]
    assert "no such model" in status["message"]
    client.open(URI, TEXT)
    assert await complete(client) == []
    assert await complete(client, pos(1, 11)) == []
    errors = [m for m in client.messages if m.type == types.MessageType.Error]
    assert len(errors) == 1 and "no such model" in errors[0].message
    assert (await client.status())["state"] == "error"


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


async def test_the_real_loader_reports_a_missing_model_once(tmp_path):
    config = ClientServerConfig(
        server_command=server_command(fake=False),
        client_factory=make_client,
        server_env=server_env(),
    )
    client = await config.start()
    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities("visual-studio-code@v1.65.2"),
                initialization_options={"model": str(tmp_path / "no-such-model")},
            )
        )
        status = await client.wait_for_status("error")
        assert "no-such-model" in status["message"]
        (shown,) = [m for m in client.messages if m.type == types.MessageType.Error]
        assert "Fix:" in shown.message
        client.open(URI, TEXT)
        assert await complete(client) == []
        await client.shutdown_session()
    finally:
        await client.stop()

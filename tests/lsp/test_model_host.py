"""The model host: progress while loading, bounded waiting, a load failure shown once, and the real
loader's error."""

from __future__ import annotations

import pytest
from lsp_support import (
    Client,
    client_capabilities,
    pos,
    real_server,
)
from lsprotocol import types
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


async def test_the_real_loader_reports_a_missing_model_once(tmp_path):
    config = real_server()
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


def test_shutdown_closes_the_engine_off_the_event_loop():
    import threading

    from diffusion_lsp.lsp.model_host import ModelHost

    closed: list[str] = []

    class Closing:  # what a remote engine has: connections and an event loop of its own
        def close(self) -> None:
            closed.append(threading.current_thread().name)

    host = ModelHost(None, None)  # type: ignore[arg-type]
    host.engine = Closing()  # type: ignore[assignment]
    host.shutdown()
    assert closed == ["diffusion-lsp-close"] and host.engine is None
    host.shutdown()  # nothing left to close
    assert len(closed) == 1

"""Fixtures for the language-server tests: a pytest-lsp client per editor capability profile.

Every protocol test runs once per profile that pytest-lsp ships for Neovim 0.7, Neovim 0.11 and VS
Code, against ``diffusion-lsp serve --fake-engine`` (exact, deterministic texts). A test tunes the
server with ``@pytest.mark.server(init_options=..., capabilities=..., wait=...)``. Tests wait on the
server's signals (``diffusionLsp/status``, diagnostics), never on the clock.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, client_capabilities

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent / "features"))  # tests that share helpers

from lsp_support import (  # noqa: E402
    CLIENTS,
    FAST,
    Client,
    make_client,
    real_server,
    server_command,
    server_env,
    start_session,
)

REAL_PROFILE = "neovim@v0.11.0"  # the real model loads once per module; one profile is enough


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "server(init_options=None, capabilities=None, configuration=None, initialize=True, "
        "wait='ready'): how the client starts the server: initializationOptions, a function that "
        "edits the profile's ClientCapabilities, the client's workspace/configuration, whether "
        "the fixture initializes, and the diffusionLsp/status state to wait for (None: no wait)",
    )


@pytest_lsp.fixture(
    params=CLIENTS,
    config=ClientServerConfig(
        server_command=server_command(fake=True),
        client_factory=make_client,
        server_env=server_env(),
    ),
)
async def client(lsp_client: Client, request: pytest.FixtureRequest):
    await start_session(lsp_client, request, request.param)
    yield
    await lsp_client.shutdown_session()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny random masked-diffusion model (ModernBERT + its own tokenizer), built once."""
    from diffusion_lsp.engine.testing.tiny import build_masked

    return str(build_masked(tmp_path_factory.mktemp("tiny-model"), seed=0))


@pytest_lsp.fixture(
    scope="module",
    config=real_server(),
)
async def real_client(lsp_client: Client, tiny_model: str):
    """One server with the real engine and the tiny model, shared by a module's tests."""
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities(REAL_PROFILE),
            initialization_options={**FAST, "model": tiny_model, "maxTokens": 32, "steps": 8},
        )
    )
    await lsp_client.wait_for_status("ready")
    yield
    await lsp_client.shutdown_session()

"""Initialization and settings: ``initialize`` (initializationOptions), ``initialized`` (pull
``workspace/configuration``, then start loading the model), ``workspace/didChangeConfiguration``
(reload the model when its settings change) and ``shutdown``.

Runs on the event loop; loading itself is handed to ``lifecycle`` (worker thread).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from diffusion_lsp.lsp import settings as settings_mod

if TYPE_CHECKING:
    from diffusion_lsp.lsp.server import DiffusionLanguageServer

log = logging.getLogger(__name__)
PULL_TIMEOUT_S = 5.0  # a client that never answers workspace/configuration must not stall loading


def apply(server: DiffusionLanguageServer, raw: Any) -> bool:
    """Take the settings in ``raw`` (bad values warned about, defaults kept); True if the model
    settings changed."""
    new, warnings = settings_mod.parse(raw)
    if warnings:
        server.warn("settings: " + "; ".join(warnings))
    old, server.settings = server.settings, new
    if old.diagnostics != new.diagnostics:
        server.diagnostics.refresh_all()
    return old.model_spec() != new.model_spec()


def register(server: DiffusionLanguageServer) -> None:
    def can_pull() -> bool:
        workspace = server.client_capabilities.workspace
        return bool(workspace and workspace.configuration)

    async def pull() -> Any:
        request = server.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section=settings_mod.SECTION)])
        )
        try:
            result = await asyncio.wait_for(request, PULL_TIMEOUT_S)
        except Exception:  # the client failed or never answered: keep what we have
            log.warning("workspace/configuration failed; keeping the settings we have")
            return None
        return result[0] if result else None

    @server.feature(types.INITIALIZE)
    def initialize(params: types.InitializeParams) -> None:
        apply(server, params.initialization_options)

    @server.feature(types.INITIALIZED)
    async def initialized(params: types.InitializedParams) -> None:
        if can_pull():
            pulled = await pull()
            if isinstance(pulled, dict) and pulled:
                apply(server, pulled)
        server.model.load(server.settings.model_spec())

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(params: types.DidChangeConfigurationParams) -> None:
        raw = params.settings
        section = raw.get(settings_mod.SECTION) if isinstance(raw, dict) else None
        if section is None and can_pull():
            section = await pull()  # VS Code's pull model sends no values with the notification
        if section is None:
            return
        if apply(server, section):
            server.model.load(server.settings.model_spec())

    @server.feature(types.SHUTDOWN)
    def shutdown(params: None) -> None:
        server.model.shutdown()
        server.worker.shutdown(timeout=1.0)

"""The LSP lifecycle and settings: ``initialize`` (initializationOptions), ``initialized`` (pull
``workspace/configuration``, then start loading the model), ``workspace/didChangeConfiguration``
(reload the model when its settings change) and ``shutdown``. The protocol's side of it (order,
``exit``) is ``protocol.DiffusionProtocol``'s.

Runs on the event loop; loading itself is handed to the model host (worker thread).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types

from diffusion_lsp.lsp import settings as settings_mod
from diffusion_lsp.lsp.features import Feature, feature

log = logging.getLogger(__name__)
PULL_TIMEOUT_S = 5.0  # a client that never answers workspace/configuration must not stall loading


class Lifecycle(Feature):
    def apply(self, raw: Any) -> bool:
        """Take the settings in ``raw`` (bad values warned about, defaults kept); True if the
        model settings changed."""
        new, warnings = settings_mod.parse(raw)
        if warnings:
            self.server.warn("settings: " + "; ".join(warnings))
        old = self.server.replace_settings(new)
        return old.model_spec() != new.model_spec()

    def can_pull(self) -> bool:
        workspace = self.server.client_capabilities.workspace
        return bool(workspace and workspace.configuration)

    async def pull(self) -> Any:
        request = self.server.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section=settings_mod.SECTION)])
        )
        try:
            result = await asyncio.wait_for(request, PULL_TIMEOUT_S)
        except Exception:  # the client failed or never answered: keep what we have
            log.warning("workspace/configuration failed; keeping the settings we have")
            return None
        return result[0] if result else None

    @feature(types.INITIALIZE, runs="loop")
    def initialize(self, params: types.InitializeParams) -> None:
        self.apply(params.initialization_options)

    # Loading starts on the worker; the handler does not wait for it.
    @feature(types.INITIALIZED, runs="worker")
    async def initialized(self, params: types.InitializedParams) -> None:
        if self.can_pull():
            pulled = await self.pull()
            if isinstance(pulled, dict) and pulled:
                self.apply(pulled)
        self.server.model_host.load(self.server.settings.model_spec())

    @feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION, runs="worker")
    async def did_change_configuration(self, params: types.DidChangeConfigurationParams) -> None:
        raw = params.settings
        section = raw.get(settings_mod.SECTION) if isinstance(raw, dict) else None
        if section is None and self.can_pull():
            section = (
                await self.pull()
            )  # VS Code's pull model sends no values with the notification
        if section is None:
            return
        if self.apply(section):
            self.server.model_host.load(self.server.settings.model_spec())

    @feature(types.SHUTDOWN, runs="loop")
    def shutdown(self, params: None) -> None:
        self.server.model_host.shutdown()
        self.server.worker.shutdown(timeout=1.0)

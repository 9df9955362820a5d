"""Test support for the language-server tests: the client class, capability profiles, helpers."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

__all__ = ["client_capabilities"]  # re-exported for tests that initialize by themselves
from pytest_lsp.client import register_lsp_features

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ["neovim@v0.7.0", "neovim@v0.11.0", "visual-studio-code@v1.65.2"]
# Documents the tests share (the fake engine fills hole i with v{i}_{len(prefix)}).
URI = "file:///work/holes.py"
HOLES = "def f(x):\n    pass\n\ndef g():\n    y = 1\n    ...\n    # TODO\n    return y\n"
BROKEN_URI = "file:///work/broken.py"
BROKEN = "def f(x):\n    y = (1 +\n    return y\n"
TEXT_ADD = "def add(a, b):\n    return \n\nx = add(1, 2)\n"  # completing after "return ": v0_26
SUMS_URI = "file:///work/sums.py"
SUMS = "def f():\n    x = 1\n    y = 20\n    return x + y\n"
# A realistic module, and the ways people break it: name -> (original, broken, whether a one-token
# repair restores it exactly).
INVENTORY = (Path(__file__).parent / "fixtures" / "inventory.py").read_text()
BREAKS = {
    "def colon": (
        "def restock(self, name, amount) -> None:",
        "def restock(self, name, amount) -> None",
        True,
    ),
    "call paren": ('log.info("added %s", name)', 'log.info("added %s", name', True),
    "for colon": (
        "for item in self.items:\n            total",
        "for item in self.items\n            total",
        True,
    ),
    "list bracket": (
        "return [i.name for i in self.items]",
        "return [i.name for i in self.items",
        True,
    ),
    "extra paren": (
        "self.items.append(Item(name, count))",
        "self.items.append(Item(name, count)))",
        True,
    ),
    "missing comma": ("name: str, count: int = 1", "name: str count: int = 1", True),
    "unfinished expression": ("total += item.count", "total += item.count +", False),
    "missing operand": ("if i.count < limit]", "if i.count < ]", False),
}
# A signal that has not come after this long is a failure, not a reason to hang the suite.
SIGNAL_TIMEOUT_S = 120
FAST = {"diagnostics": {"debounceMs": 0}}  # publish diagnostics without the debounce delay


def _converter():
    converter = default_converter()

    # lsprotocol takes any object with a "command" key for a Command; a CodeAction that carries a
    # Command has one too. Real editors read JSON and are unaffected; this client needs the hint.
    def code_action_or_command(obj: Any, _: type) -> types.Command | types.CodeAction:
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    converter.register_structure_hook(types.Command | types.CodeAction, code_action_or_command)
    return converter


class Client(LanguageClient):
    """pytest-lsp's client, plus the server's status notifications and applied edits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.statuses: list[dict[str, Any]] = []
        self.applied: list[types.ApplyWorkspaceEditParams] = []
        self.refuse_edits = False
        self._status_event = asyncio.Event()

    async def wait_for_status(self, state: str, after: int = 0) -> dict[str, Any]:
        """The first status with ``state`` among those from index ``after`` on, waiting for it."""

        async def wait() -> dict[str, Any]:
            while True:
                for status in self.statuses[after:]:
                    if status["state"] == state:
                        return status
                self._status_event.clear()
                await self._status_event.wait()

        return await asyncio.wait_for(wait(), SIGNAL_TIMEOUT_S)

    async def wait_for_diagnostics(self, uri: str, version: int) -> list[types.Diagnostic]:
        """Diagnostics published for ``uri`` at ``version``."""

        async def wait() -> list[types.Diagnostic]:
            while True:
                params = await self.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
                if params.uri == uri and params.version == version:
                    return list(params.diagnostics)

        return await asyncio.wait_for(wait(), SIGNAL_TIMEOUT_S)

    def open(self, uri: str, text: str, language_id: str = "python", version: int = 1) -> None:
        self.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language_id, version=version, text=text
                )
            )
        )

    def change(self, uri: str, version: int, *changes: tuple[types.Range | None, str]) -> None:
        """Send content changes: ``(range, text)`` pairs, ``range`` None for the whole text."""
        events: list[Any] = [
            types.TextDocumentContentChangeWholeDocument(text=text)
            if rng is None
            else types.TextDocumentContentChangePartial(range=rng, text=text)
            for rng, text in changes
        ]
        self.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=events,
            )
        )

    async def status(self) -> dict[str, Any]:
        return await self.workspace_execute_command_async(
            types.ExecuteCommandParams(command="diffusionLsp.status")
        )


def _as_dict(params: Any) -> dict[str, Any]:
    return params._asdict() if hasattr(params, "_asdict") else dict(params)


def make_client() -> Client:
    client = Client(converter_factory=_converter)
    register_lsp_features(client)

    @client.feature("diffusionLsp/status")
    def on_status(params: Any) -> None:
        client.statuses.append(_as_dict(params))
        client._status_event.set()

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def on_apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        if client.refuse_edits:
            return types.ApplyWorkspaceEditResult(applied=False, failure_reason="refused by test")
        client.applied.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    return client


def server_command(fake: bool = True) -> list[str]:
    return [sys.executable, "-m", "diffusion_lsp", "serve"] + (["--fake-engine"] if fake else [])


def server_env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }


def real_server() -> ClientServerConfig:
    """A pytest-lsp configuration that starts the real server (the real engine, not the fake)."""
    return ClientServerConfig(
        server_command=server_command(fake=False),
        client_factory=make_client,
        server_env=server_env(),
    )


async def start_session(client: Client, request: pytest.FixtureRequest, profile: str) -> None:
    """initialize + initialized with the profile's capabilities and the test's ``server`` marker."""
    marker = request.node.get_closest_marker("server")
    opts: dict[str, Any] = dict(marker.kwargs) if marker else {}
    capabilities = client_capabilities(profile)
    edit: Callable[[types.ClientCapabilities], None] | None = opts.get("capabilities")
    if edit is not None:
        edit(capabilities)
    init_options = {**FAST, **(opts.get("init_options") or {})}
    if "configuration" in opts:  # what the client answers to workspace/configuration
        client.set_configuration(opts["configuration"])
    if not opts.get("initialize", True):
        client.capabilities = capabilities  # the test initializes by itself
        return
    await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities,
            initialization_options=init_options,
            workspace_folders=[types.WorkspaceFolder(uri=ROOT.as_uri(), name="root")],
        )
    )
    wait = opts.get("wait", "ready")
    if wait:
        await client.wait_for_status(wait)


def pos(line: int, character: int) -> types.Position:
    return types.Position(line=line, character=character)


def rng(l1: int, c1: int, l2: int, c2: int) -> types.Range:
    return types.Range(start=pos(l1, c1), end=pos(l2, c2))


def edits_of(edit: types.WorkspaceEdit | None, uri: str) -> list[types.TextEdit]:
    """The text edits for ``uri`` in either form a WorkspaceEdit can take."""
    assert edit is not None
    if edit.document_changes:
        out: list[types.TextEdit] = []
        for change in edit.document_changes:
            assert isinstance(change, types.TextDocumentEdit) and change.text_document.uri == uri
            out += [e for e in change.edits if isinstance(e, types.TextEdit)]
        return out
    assert edit.changes is not None
    return list(edit.changes[uri])


def apply_edit(text: str, edit: types.WorkspaceEdit | None, uri: str) -> str:
    """``text`` after ``edit``, applied the way an editor does."""
    from diffusion_lsp import textops

    return textops.apply_edits(
        text,
        [
            textops.TextEdit(
                textops.Range(
                    textops.Position(e.range.start.line, e.range.start.character),
                    textops.Position(e.range.end.line, e.range.end.character),
                ),
                e.new_text,
            )
            for e in edits_of(edit, uri)
        ],
    )


def without_resolve(capabilities: types.ClientCapabilities) -> None:
    """A client that cannot resolve code actions (it gets commands instead)."""
    assert capabilities.text_document and capabilities.text_document.code_action
    capabilities.text_document.code_action.resolve_support = None


async def actions(
    client: Client, uri: str, where: types.Range, diagnostics=(), only=None
) -> dict[str, types.CodeAction]:
    """The code actions offered for ``where``, by title."""
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=where,
            context=types.CodeActionContext(diagnostics=list(diagnostics), only=only),
        )
    )
    assert all(isinstance(a, types.CodeAction) for a in result or [])
    return {a.title: a for a in result or []}

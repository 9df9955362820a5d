"""The feature registry (``diffusion_lsp.lsp.features``): every handler pygls serves was declared with
``@feature(..., runs=...)``, a "loop" handler never reaches the worker, a "worker" one can await it,
and the modules under the features never import them."""

from __future__ import annotations

import inspect
import pkgutil
import re
from pathlib import Path

import pytest
from lsprotocol import types

import diffusion_lsp.lsp
from diffusion_lsp.lsp import features
from diffusion_lsp.lsp.server import build_server

try:
    import tomllib
except ImportError:  # Python 3.10: import-linter brings tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[3]
# What a handler on the event loop must not do: run on the worker, load the model, compute an edit.
WORKER_CALLS = re.compile(r"\bworker\.run\(|\bmodel_host\.(run|load)\(|\bedits\.compute\(")


@pytest.fixture(scope="module")
def server():
    return build_server(fake_engine=True)


def declared(server) -> list[tuple[features.Declaration, object]]:
    return [(decl, handler) for obj in server.features.values() for decl, handler in obj.handlers()]


def test_every_registered_handler_was_declared_with_where_it_runs(server):
    fm = server.protocol.fm
    by_method = {d.method: d for d, _ in declared(server) if d.command is None}
    by_command = {d.command: d for d, _ in declared(server) if d.command is not None}
    assert set(fm.features) == set(by_method)  # nothing registered around the registry
    assert set(fm.commands) == set(by_command)
    for name, handler in [*fm.features.items(), *fm.commands.items()]:
        decl = features.declaration(handler)
        assert decl is not None, f"{name} has no @feature declaration"
        assert decl.runs in features.RUNS
    # One object per feature class, each reachable by its class.
    assert set(server.features) == set(features.classes())
    for cls in features.classes():
        assert isinstance(features.of(server, cls), cls)


def test_where_the_handlers_run(server):
    runs = {d.command or d.method: d.runs for d, _ in declared(server)}
    assert runs == {
        types.INITIALIZE: "loop",
        types.INITIALIZED: "worker",
        types.WORKSPACE_DID_CHANGE_CONFIGURATION: "worker",
        types.SHUTDOWN: "loop",
        types.TEXT_DOCUMENT_DID_OPEN: "loop",
        types.TEXT_DOCUMENT_DID_CHANGE: "loop",
        types.TEXT_DOCUMENT_DID_CLOSE: "loop",
        types.TEXT_DOCUMENT_INLINE_COMPLETION: "worker",
        "textDocument/copilotInlineEdit": "worker",
        "textDocument/didShowInlineEdit": "loop",
        types.TEXT_DOCUMENT_CODE_ACTION: "loop",
        types.CODE_ACTION_RESOLVE: "worker",
        "diffusionLsp.fill": "worker",
        "diffusionLsp.fix": "worker",
        "diffusionLsp.refine": "worker",
        "diffusionLsp.nextEdit": "worker",
        "diffusionLsp.status": "loop",
    }


def test_loop_handlers_do_not_call_the_worker_and_worker_handlers_can_await_it(server):
    for decl, handler in declared(server):
        source = inspect.getsource(handler)
        name = decl.command or decl.method
        if decl.runs == "loop":
            assert not WORKER_CALLS.search(source), f'{name} is declared runs="loop"'
        else:  # a plain function could only block the loop on the worker, or not use it
            fn = inspect.unwrap(handler)
            assert inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn), name


def test_the_registrations_keep_the_declared_options(server):
    options = server.protocol.fm.feature_options
    assert isinstance(options[types.TEXT_DOCUMENT_CODE_ACTION], types.CodeActionOptions)
    assert options[types.TEXT_DOCUMENT_CODE_ACTION].resolve_provider is True
    assert isinstance(options[types.TEXT_DOCUMENT_INLINE_COMPLETION], types.InlineCompletionOptions)


def test_a_declaration_must_say_loop_or_worker():
    with pytest.raises(ValueError, match="runs must be one of"):
        features.feature(types.TEXT_DOCUMENT_HOVER, runs="thread")  # type: ignore[arg-type]


def test_the_import_contract_lists_every_module_under_the_features():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = [
        c
        for c in pyproject["tool"]["importlinter"]["contracts"]
        if c.get("forbidden_modules") == ["diffusion_lsp.lsp.features"]
    ]
    modules = {
        f"diffusion_lsp.lsp.{m.name}"
        for m in pkgutil.iter_modules(diffusion_lsp.lsp.__path__)
        if m.name != "features"
    }
    assert set(contract["source_modules"]) == modules


def test_docs_lsp_md_lists_every_module_of_the_lsp_layer():
    doc = (ROOT / "docs" / "lsp.md").read_text(encoding="utf-8")
    package = ROOT / "diffusion_lsp" / "lsp"
    modules = [p.relative_to(package).as_posix() for p in sorted(package.rglob("*.py"))]
    missing = [m for m in modules if not m.endswith("__init__.py") and f"| `{m}` |" not in doc]
    assert not missing, f"docs/lsp.md's module table misses {missing}"

"""The LSP features, one module each, and the registry that declares where each handler runs.

A feature is a ``Feature`` subclass: its object holds the feature's own state and is built with the
server (``lsp.server``'s state: documents, settings, model host, worker, events). Each handler is a
method marked ``@feature(method, runs=..., options=...)``:

- ``runs="loop"``: the handler does all its work on the event loop (cheap: tree-sitter and string
  work) and never calls the worker;
- ``runs="worker"``: its heavy part (the engine, model loading) runs on the worker thread, awaited
  or started from the handler, which is therefore async or a generator.

``register_all`` builds the pygls registrations from these declarations; nothing else registers a
handler. Features import the server's state types, never the other way round.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from diffusion_lsp.lsp.server import DiffusionLanguageServer

Runs = Literal["loop", "worker"]
RUNS: tuple[Runs, ...] = ("loop", "worker")
_DECLARATION = "__lsp_feature__"
F = TypeVar("F", bound="Feature")


@dataclasses.dataclass(frozen=True)
class Declaration:
    """Where one handler runs and what it is registered for."""

    method: str  # the LSP method (``workspace/executeCommand`` for a command)
    runs: Runs
    options: Any = None  # the method's registration options (pygls puts them in capabilities)
    command: str | None = None  # for ``workspace/executeCommand``: the command's name


def feature(
    method: str, *, runs: Runs, options: Any = None, command: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a ``Feature`` method as the handler of ``method`` (of ``command`` for
    ``workspace/executeCommand``), running on the event loop or the worker (``runs``)."""
    if runs not in RUNS:
        raise ValueError(f"runs must be one of {RUNS}, not {runs!r}")

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        setattr(fn, _DECLARATION, Declaration(method, runs, options, command))
        return fn

    return mark


def declaration(fn: Any) -> Declaration | None:
    """The ``@feature`` declaration of ``fn`` (a function or bound method), if it has one."""
    return getattr(getattr(fn, "__func__", fn), _DECLARATION, None)


class Feature:
    """One LSP feature: its state and its ``@feature`` handlers."""

    def __init__(self, server: DiffusionLanguageServer) -> None:
        self.server = server

    def handlers(self) -> Iterator[tuple[Declaration, Callable[..., Any]]]:
        """Each declared handler, bound to this object, in the order the class defines them."""
        for name, value in vars(type(self)).items():
            if (decl := declaration(value)) is not None:
                yield decl, getattr(self, name)


def classes() -> tuple[type[Feature], ...]:
    """Every feature, in registration order."""
    from diffusion_lsp.lsp.features import (
        code_action,
        diagnostics,
        execute_command,
        inline_completion,
        lifecycle,
        next_edit,
        text_sync,
    )

    return (
        lifecycle.Lifecycle,
        text_sync.TextSync,
        diagnostics.Diagnostics,
        inline_completion.InlineCompletion,
        next_edit.NextEdit,
        code_action.CodeAction,
        execute_command.ExecuteCommand,
    )


def _plain(method: Callable[..., Any]) -> Callable[..., Any]:
    """A plain function of the same kind (async, generator or neither) calling the bound
    ``method``: pygls marks its handlers with attributes, which a bound method cannot take."""
    if inspect.iscoroutinefunction(method):

        async def handler(*args: Any) -> Any:
            return await method(*args)

    elif inspect.isgeneratorfunction(method):

        def handler(*args: Any) -> Any:
            return (yield from method(*args))

    else:

        def handler(*args: Any) -> Any:
            return method(*args)

    return functools.wraps(method)(handler)


def register_all(server: DiffusionLanguageServer) -> None:
    """Build every feature for ``server`` and register its handlers with pygls."""
    for cls in classes():
        obj = cls(server)
        server.features[cls] = obj
        for decl, handler in obj.handlers():
            if decl.command is not None:
                server.command(decl.command)(_plain(handler))
            else:
                server.feature(decl.method, decl.options)(_plain(handler))


def of(server: DiffusionLanguageServer, cls: type[F]) -> F:
    """The ``cls`` feature object registered on ``server``."""
    return server.features[cls]

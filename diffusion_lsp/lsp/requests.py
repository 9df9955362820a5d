"""Requests that do model work: what was true when they arrived, and cancelling them for real.

pygls runs an async handler as a task that starts after the messages already read are handled, so a
``didChange`` or ``didClose`` right behind a request is applied before the handler's first line. And
for ``workspace/executeCommand`` it cancels only its own wrapper on ``$/cancelRequest``: the command
runs on and sends its ``applyEdit``. Handlers that edit text therefore run as generators (pygls runs
a generator up to its first ``yield`` while it handles the message): the part before the ``yield``
takes the snapshot, and the async part it yields to runs in a ``Scope`` that ``$/cancelRequest``
cancels (``CancellableRequests``, mixed into the server's protocol).
"""

from __future__ import annotations

import asyncio
from typing import Any


class Scope:
    """The cancel state of one request's async part."""

    def __init__(self, msg_id: Any = None) -> None:
        self.msg_id = msg_id
        self.cancelled = False
        self.task: asyncio.Task | None = None

    def cancel(self) -> None:
        self.cancelled = True
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def enter(self) -> None:
        """Called first thing in the async part: binds the scope to its task."""
        self.task = asyncio.current_task()
        if self.cancelled:
            raise asyncio.CancelledError


class CancellableRequests:
    """Protocol mixin: ``open_scope()`` while a request is being dispatched ties a ``Scope`` to
    that request's id, so that ``$/cancelRequest`` for the id cancels the scope's task."""

    _dispatching: Any = None

    @property
    def scopes(self) -> dict[Any, Scope]:
        if "_scopes" not in self.__dict__:
            self.__dict__["_scopes"] = {}
        return self.__dict__["_scopes"]

    def open_scope(self) -> Scope:
        scope = Scope(self._dispatching)
        if scope.msg_id is not None:
            self.scopes[scope.msg_id] = scope
        return scope

    def close_scope(self, scope: Scope) -> None:
        if self.scopes.get(scope.msg_id) is scope:
            del self.scopes[scope.msg_id]

    def _handle_request(self, msg_id: Any, method_name: str, params: Any) -> None:
        self._dispatching = msg_id
        try:
            super()._handle_request(msg_id, method_name, params)  # type: ignore[misc]
        finally:
            self._dispatching = None

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        scope = self.scopes.pop(msg_id, None)
        if scope is not None:
            scope.cancel()
        super()._handle_cancel_notification(msg_id)  # type: ignore[misc]

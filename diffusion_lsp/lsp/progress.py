"""``$/progress`` for Fill, Fix and Refine, with the client's Cancel wired to the job.

``async with work(server, title) as job:`` creates a server-initiated progress token (when the client
advertises ``window.workDoneProgress``), begins it as cancellable, and ends it on the way out. A
``window/workDoneProgress/cancel`` for the token cancels the task that entered the block; that task
sees ``asyncio.CancelledError`` at its next ``await`` (the engine job stops within one step), and
``job.cancelled`` tells it the cancel came from the progress UI rather than from ``$/cancelRequest``.
Runs on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from diffusion_lsp.lsp.server import DiffusionLanguageServer

log = logging.getLogger(__name__)


class Job:
    """One piece of work the user sees: report steps, and whether the user cancelled it."""

    def __init__(self, server: DiffusionLanguageServer | None, token: str | None) -> None:
        self._server = server
        self.token = token
        self.cancelled = False

    def report(self, message: str, percentage: int | None = None) -> None:
        if self._server is not None and self.token is not None and not self.cancelled:
            self._server.work_done_progress.report(
                self.token, types.WorkDoneProgressReport(message=message, percentage=percentage)
            )


def _supported(server: DiffusionLanguageServer) -> bool:
    window = server.client_capabilities.window
    return bool(window and window.work_done_progress)


@contextlib.asynccontextmanager
async def work(server: DiffusionLanguageServer, title: str) -> AsyncIterator[Job]:
    """Progress for the enclosed work; a no-op ``Job`` when the client has no progress support."""
    if not _supported(server):
        yield Job(None, None)
        return
    token = f"diffusion-lsp/{uuid.uuid4()}"
    try:
        await server.work_done_progress.create_async(token)
    except Exception:  # the client refused the token: do the work without progress
        log.info("the client refused a progress token for %s", title)
        yield Job(None, None)
        return
    job = Job(server, token)
    task = asyncio.current_task()
    server.work_done_progress.begin(
        token, types.WorkDoneProgressBegin(title=title, cancellable=True, percentage=0)
    )

    def on_cancel(future) -> None:  # runs on the event loop, in the cancel notification's handler
        if future.cancelled() and task is not None and not task.done():
            job.cancelled = True
            task.cancel()

    registered = server.work_done_progress.tokens.get(token)
    if registered is not None:
        registered.add_done_callback(on_cancel)
    try:
        yield job
    finally:
        message = "cancelled" if job.cancelled else None
        server.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))
        server.work_done_progress.tokens.pop(token, None)


def swallow_cancel(job: Job) -> bool:
    """After catching ``CancelledError``: True (and the task un-cancelled) if the user cancelled
    ``job`` from the progress UI, so the handler can answer normally; False to re-raise."""
    if not job.cancelled:
        return False
    task = asyncio.current_task()
    if task is not None and hasattr(task, "uncancel"):
        task.uncancel()
    return True

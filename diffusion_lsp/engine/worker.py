"""The one thread that owns the model: a job queue with cancel flags and supersession by key.

Model work never runs on the event loop. ``await worker.run(fn, key=...)`` hands ``fn`` to the worker
thread and suspends; if the awaiting task is cancelled (pygls does that on ``$/cancelRequest``) the
job's token is set, and the denoising loop, which checks it between steps, stops within one step. A
newer job with the same key (one document's inline completions) cancels the older one, which then
fails with ``Cancelled`` at once, before it ever reaches the model if it was still queued.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from diffusion_lsp.engine.api import Cancelled, CancelToken

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class _Job:
    fn: Callable[[CancelToken], object]
    token: CancelToken
    future: concurrent.futures.Future
    key: str | None


class Worker:
    """Runs jobs one at a time on a daemon thread, in submission order."""

    def __init__(self, name: str = "diffusion-lsp-worker") -> None:
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._latest: dict[str, CancelToken] = {}
        self._live: set[CancelToken] = set()  # the tokens of jobs queued or running
        self._lock = threading.Lock()
        self._busy = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        """True while a job runs (not counting queued ones)."""
        return self._busy.is_set()

    def submit(
        self,
        fn: Callable[[CancelToken], T],
        *,
        key: str | None = None,
        token: CancelToken | None = None,
    ) -> concurrent.futures.Future[T]:
        """Queue ``fn(token)``; thread-safe. A job with the same ``key`` still pending is cancelled."""
        token = token or CancelToken()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        older = None
        with self._lock:
            self._live.add(token)
            if key is not None:
                older = self._latest.get(key)
                self._latest[key] = token
        if older is not None:
            older.cancel("superseded by a newer request")
        self._queue.put(_Job(fn, token, future, key))
        return future

    async def run(self, fn: Callable[[CancelToken], T], *, key: str | None = None) -> T:
        """Run ``fn`` on the worker and await its result without blocking the event loop.

        Raises ``Cancelled`` if the job was superseded; cancelling the awaiting task cancels the job.
        """
        token = CancelToken()
        future = self.submit(fn, key=key, token=token)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            token.cancel("request cancelled by the client")
            raise

    def shutdown(self, timeout: float | None = 5.0) -> None:
        """Cancel the running job (it stops within one step) and the queued ones, then stop; waits
        up to ``timeout`` seconds for the thread."""
        with self._lock:
            live = list(self._live)
        for token in live:
            token.cancel("the server is shutting down")
        self._queue.put(None)
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                self._drain()
                return
            if not job.future.set_running_or_notify_cancel():
                self._forget(job)
                continue
            if job.token.cancelled:
                job.future.set_exception(Cancelled(job.token.reason))
                self._forget(job)
                continue
            self._busy.set()
            try:
                result = job.fn(job.token)
            except (
                BaseException
            ) as exc:  # the job's error belongs to its awaiter, not to this thread
                job.future.set_exception(exc)
            else:
                job.future.set_result(result)
            finally:
                self._busy.clear()
                self._forget(job)

    def _forget(self, job: _Job) -> None:
        with self._lock:
            self._live.discard(job.token)
            if job.key is not None and self._latest.get(job.key) is job.token:
                del self._latest[job.key]

    def _drain(self) -> None:
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not None and job.future.set_running_or_notify_cancel():
                job.future.set_exception(Cancelled("worker shut down"))

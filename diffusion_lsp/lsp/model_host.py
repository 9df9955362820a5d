"""The model host: loads the model in the background after ``initialized``, reports progress and
status, reloads when the model settings change, and hands the loaded engine to requests (which wait,
bounded, while it loads). It is ``server.model_host``; the engine it holds is ``.engine``.

Loading runs on the worker thread (it blocks for seconds); everything else here runs on the event loop.
Status goes out as ``diffusionLsp/status`` notifications; load progress as ``$/progress`` when the
client supports ``window.workDoneProgress``; a failure is shown once with ``window/showMessage`` and the
server goes on answering with empty results.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from lsprotocol import types

from diffusion_lsp.engine import api

if TYPE_CHECKING:
    from diffusion_lsp.lsp.server import DiffusionLanguageServer

log = logging.getLogger(__name__)

STATUS = "diffusionLsp/status"
State = Literal["loading", "ready", "error"]
Loader = Callable[[api.ModelSpec, Callable[[str, float | None], None]], api.Engine]


def real_loader(spec: api.ModelSpec, progress: Callable[[str, float | None], None]) -> api.Engine:
    """``diffusion_lsp.engine.load_engine``, imported when first used (it brings in torch)."""
    from diffusion_lsp.engine import load_engine  # type: ignore[attr-defined]

    return load_engine(spec, progress)


class ModelHost:
    """The one engine of a server, its loading state, and the latency of the last model request."""

    def __init__(self, server: DiffusionLanguageServer, loader: Loader) -> None:
        self.server = server
        self.loader = loader
        self.state: State = "loading"
        self.engine: api.Engine | None = None
        self.spec: api.ModelSpec | None = None
        self.message = "waiting for initialization"
        self.last_latency_ms: float | None = None
        self.model_calls = 0
        self._settled = asyncio.Event()
        self._generation = 0
        self._task: asyncio.Task | None = None

    # -- status ---------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The ``diffusionLsp/status`` object (``diffusionLsp.status`` adds ``modelCalls``)."""
        info = self.engine.info if self.engine is not None else None
        model = info.model if info else (self.spec.model or "default") if self.spec else ""
        return {
            "state": self.state,
            "model": model,
            "device": info.device if info else "",
            "dtype": info.dtype if info else "",
            "message": self.message,
            "lastLatencyMs": self.last_latency_ms,
        }

    def notify_status(self) -> None:
        self.server.protocol.notify(STATUS, self.status())

    def record_latency(self, ms: float) -> None:
        """One model request finished after ``ms`` (server side, from request to answer)."""
        self.last_latency_ms = round(ms, 2)
        self.notify_status()

    # -- loading --------------------------------------------------------------------------------

    def load(self, spec: api.ModelSpec) -> None:
        """Start loading ``spec`` in the background; a newer load replaces an older one."""
        self._generation += 1
        self.spec = spec
        close_later(self.engine)
        self.engine = None
        self.state = "loading"
        self.message = f"loading {spec.model or 'the default model'}"
        self._settled.clear()
        self._task = asyncio.ensure_future(self._load(spec, self._generation))

    async def _load(self, spec: api.ModelSpec, generation: int) -> None:
        self.notify_status()
        progress = await self._progress_begin(spec)
        loop = asyncio.get_running_loop()

        def report(message: str, fraction: float | None) -> None:  # on the worker thread
            loop.call_soon_threadsafe(progress, message, fraction)

        start = time.perf_counter()
        engine: api.Engine | None = None
        try:
            engine = await self.server.worker.run(
                lambda _token: self.loader(spec, report), key="model-load"
            )
        except api.Cancelled:
            return  # a newer load superseded this one before it started
        except api.EngineError as exc:
            error = exc.message + (f" Fix: {exc.fix}" if exc.fix else "")
        except Exception as exc:  # an unexpected loader failure must not take the server down
            log.exception("loading the model failed")
            error = f"{type(exc).__name__}: {exc}"
        else:
            error = ""
        finally:
            progress(None, None)
        if generation != self._generation:
            return  # settings changed while this one loaded; the newer load reports
        if error:
            self.state, self.message = "error", f"could not load the model: {error}"
            self.server.window_show_message(
                types.ShowMessageParams(
                    type=types.MessageType.Error, message=f"diffusion-lsp {self.message}"
                )
            )
        else:
            self.engine = engine
            ms = (time.perf_counter() - start) * 1000
            self.state, self.message = "ready", f"loaded in {ms:.0f} ms"
        self._settled.set()
        self.notify_status()

    async def _progress_begin(
        self, spec: api.ModelSpec
    ) -> Callable[[str | None, float | None], None]:
        """Begin ``$/progress`` if the client supports it; returns ``report(message, fraction)``,
        which ends the progress when called with ``message=None``."""
        caps = self.server.client_capabilities
        if not (caps.window and caps.window.work_done_progress):
            return lambda message, fraction: None
        token = f"diffusion-lsp/load/{uuid.uuid4()}"
        try:
            await self.server.work_done_progress.create_async(token)
        except Exception:
            log.warning("the client refused a progress token; loading without progress")
            return lambda message, fraction: None
        self.server.work_done_progress.begin(
            token,
            types.WorkDoneProgressBegin(
                title="diffusion-lsp: loading model",
                message=spec.model or "default model",
                percentage=0,
                cancellable=False,
            ),
        )
        ended = False

        def report(message: str | None, fraction: float | None) -> None:
            nonlocal ended
            if ended:
                return
            if message is None:
                ended = True
                self.server.work_done_progress.end(token, types.WorkDoneProgressEnd())
                return
            percentage = None if fraction is None else max(0, min(100, int(fraction * 100)))
            self.server.work_done_progress.report(
                token, types.WorkDoneProgressReport(message=message, percentage=percentage)
            )

        return report

    async def wait_engine(self) -> api.Engine | None:
        """The engine, waiting up to the ``loadWaitMs`` setting while it loads; None if it did not
        load (the caller answers with an empty result)."""
        if self.state == "loading":
            timeout = self.server.settings.load_wait_ms / 1000
            try:
                await asyncio.wait_for(self._settled.wait(), timeout)
            except asyncio.TimeoutError:
                log.info("the model is still loading after %.1f s; answering empty", timeout)
        return self.engine if self.state == "ready" else None

    async def run(
        self, job: Callable[[api.Engine, api.CancelToken], Any], key: str | None = None
    ) -> Any:
        """Run ``job(engine, token)`` on the worker; None if no engine is loaded.

        Raises ``api.Cancelled`` when superseded by a newer job with the same ``key``, and
        ``asyncio.CancelledError`` when the request is cancelled (the job stops within one step).
        """
        engine = await self.wait_engine()
        if engine is None:
            return None
        start = time.perf_counter()
        self.model_calls += 1
        result = await self.server.worker.run(lambda token: job(engine, token), key=key)
        self.record_latency((time.perf_counter() - start) * 1000)
        return result

    def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
        closing = close_later(self.engine)
        self.engine = None
        if closing is not None:
            closing.join(CLOSE_WAIT_S)  # the process exits soon: let the connections close first


CLOSE_WAIT_S = 1.0  # how long shutdown waits for the engine to close


def close_later(engine: api.Engine | None) -> threading.Thread | None:
    """Release what ``engine`` holds besides memory (a remote engine's connections and event loop),
    on a thread of its own: its ``close`` may wait for a request still finishing, and it runs an
    event loop, which cannot run on the server's."""
    close = getattr(engine, "close", None)
    if close is None:
        return None

    def run() -> None:
        try:
            close()
        except Exception:  # the engine is gone either way; say why, never raise at shutdown
            log.exception("closing the engine failed")

    thread = threading.Thread(target=run, name="diffusion-lsp-close", daemon=True)
    thread.start()
    return thread

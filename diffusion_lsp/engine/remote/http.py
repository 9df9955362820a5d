"""HTTP to an OpenAI-compatible server: streamed POSTs that a cancel token can cut, JSON GETs, and
every failure turned into one ``EngineError`` that carries the server's own message.

The engine protocol is synchronous (the worker thread calls it), so each call runs an ``httpx``
``AsyncClient`` on this module's own event loop, which lives on the calling thread (the worker), never
on the language server's loop. While a stream is read a watcher polls the cancel token every
``POLL_S``; when it is set, the read task is cancelled, which closes the connection (the server sees
the client go and stops generating). A cancelled request is never retried; nothing is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from diffusion_lsp.engine.api import Cancelled, CancelToken, EngineError, RemoteSpec

POLL_S = 0.01  # how often a streamed request looks at its cancel token
MESSAGE_CHARS = 300  # how much of a server's error text goes into the error message
URL_FIX = "check `diffusionLsp.remote.url` (scheme, host, port) and that the server is running."


def base_url(url: str) -> str:
    """The server's root: ``http://host:8000/v1/`` and ``http://host:8000`` both give the latter."""
    url = url.strip().rstrip("/")
    return url.removesuffix("/v1")


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_key(spec: RemoteSpec) -> str | None:
    """The key from the environment variable ``spec.api_key_env`` names (None: no key is sent).

    Refuses to send a key in clear text: plain http is allowed with a key only on loopback."""
    if not spec.api_key_env:
        return None
    key = os.environ.get(spec.api_key_env, "")
    if not key:
        raise EngineError(
            f"the environment variable {spec.api_key_env}, named by "
            "`diffusionLsp.remote.apiKeyEnv`, is not set or empty in the server's environment.",
            f"export {spec.api_key_env} before starting the editor, or clear remote.apiKeyEnv "
            "for a server that takes no key.",
        )
    if urlsplit(spec.url).scheme != "https" and not is_loopback(spec.url):
        raise EngineError(
            f"an API key would travel in clear text to {base_url(spec.url)} (plain http to a "
            "host that is not this machine).",
            "use an https:// URL (TLS), or a tunnel to a loopback address.",
        )
    return key


class RemoteClient:
    """One server: its root URL, headers, timeout, and the event loop its requests run on."""

    def __init__(self, spec: RemoteSpec) -> None:
        self.spec = spec
        self.url = base_url(spec.url)
        if urlsplit(self.url).scheme not in ("http", "https") or not urlsplit(self.url).hostname:
            raise EngineError(f"{spec.url!r} is not an http:// or https:// URL.", URL_FIX)
        key = api_key(spec)
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._timeout = httpx.Timeout(spec.timeout_s, connect=min(spec.timeout_s, 10.0))
        self._loop = asyncio.new_event_loop()
        self._client: httpx.AsyncClient | None = None
        self._lock = threading.Lock()  # one request at a time on the loop

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._loop.run_until_complete(self._client.aclose())
                self._client = None
            # httpx's streams are async generators; finalise any the garbage collector handed to
            # this loop, or closing it leaves their tasks pending ("Task was destroyed ...").
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:  # verify=True: TLS certificates are always checked
            self._client = httpx.AsyncClient(
                base_url=self.url, headers=self._headers, timeout=self._timeout, verify=True
            )
        return self._client

    def _run(self, coro: Any) -> Any:
        with self._lock:
            return self._loop.run_until_complete(coro)

    # -- requests ---------------------------------------------------------------------------------

    def get_json(self, path: str) -> Any:
        async def go() -> Any:
            with translate(self.url, path, self.spec.timeout_s):
                response = await self._http().get(path)
                if response.status_code >= 400:
                    raise status_error(self.url, path, response.status_code, response.text)
                return parse_json(self.url, path, response.text)

        return self._run(go())

    def stream(
        self,
        path: str,
        body: dict[str, Any],
        cancel: CancelToken | None,
        on_event: Callable[[dict[str, Any]], None],
    ) -> None:
        """POST ``body`` and give each JSON event to ``on_event``: the server-sent events of a
        streamed answer, or the one object of an answer that is not streamed."""
        self._run(self._stream(path, body, cancel, on_event))

    async def _stream(
        self,
        path: str,
        body: dict[str, Any],
        cancel: CancelToken | None,
        on_event: Callable[[dict[str, Any]], None],
    ) -> None:
        if cancel is not None:
            cancel.raise_if_cancelled()
        read = asyncio.ensure_future(self._read(path, body, on_event))
        try:
            deadline = self._loop.time() + self.spec.timeout_s
            while not read.done():
                if cancel is not None and cancel.cancelled:
                    raise Cancelled(cancel.reason)
                if self._loop.time() > deadline:
                    raise EngineError(
                        f"{self.url}{path} did not finish its answer within "
                        f"{self.spec.timeout_s:g} s.",
                        "raise `diffusionLsp.remote.timeoutMs`, ask for fewer tokens, or check "
                        "the server's load.",
                    )
                await asyncio.wait({read}, timeout=POLL_S)
            read.result()
        finally:
            if not read.done():  # cancelled or late: closing the task closes the connection
                read.cancel()
                await asyncio.gather(read, return_exceptions=True)

    async def _read(
        self, path: str, body: dict[str, Any], on_event: Callable[[dict[str, Any]], None]
    ) -> None:
        with translate(self.url, path, self.spec.timeout_s):
            async with self._http().stream("POST", path, json=body) as response:
                if response.status_code >= 400:
                    text = (await response.aread()).decode("utf-8", "replace")
                    raise status_error(self.url, path, response.status_code, text)
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    text = (await response.aread()).decode("utf-8", "replace")
                    on_event(parse_json(self.url, path, text))
                    return
                events = 0
                lines = contextlib.aclosing(response.aiter_lines())
                async with lines as raw, contextlib.aclosing(sse_data(raw)) as stream:
                    async for data in stream:
                        if data.strip() == "[DONE]":
                            break
                        on_event(parse_json(self.url, path, data))
                        events += 1
                if not events:  # llama-cpp-python fails a streamed request this way
                    raise EngineError(
                        f"{self.url}{path} ended its stream without an answer.",
                        "see the server's log (a prompt longer than its context does this); "
                        "lower `diffusionLsp.contextTokens`.",
                    )


async def sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The ``data:`` payloads of a server-sent event stream, one per event."""
    parts: list[str] = []
    async for line in lines:
        if not line.strip():
            if parts:
                yield "\n".join(parts)
                parts = []
        elif line.startswith("data:"):
            parts.append(line[5:].removeprefix(" "))
    if parts:
        yield "\n".join(parts)


def parse_json(url: str, path: str, text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        raise EngineError(
            f"{url}{path} answered with something that is not JSON: {text.strip()[:80]!r}.",
            "check that `diffusionLsp.remote.url` points at an OpenAI-compatible server.",
        ) from None
    if isinstance(value, dict) and isinstance(value.get("error"), (dict, str)):
        raise status_error(url, path, 200, text)  # an error carried in a stream
    return value


def server_message(text: str) -> str:
    """The message in an error body: OpenAI's ``error.message``, FastAPI's ``detail``, or the text."""
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()[:MESSAGE_CHARS]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:MESSAGE_CHARS]
        for value in (error, body.get("detail"), body.get("message")):
            if value:
                return (value if isinstance(value, str) else json.dumps(value))[:MESSAGE_CHARS]
    return text.strip()[:MESSAGE_CHARS]


def status_error(url: str, path: str, status: int, text: str) -> EngineError:
    message = server_message(text) or "no message"
    if status in (401, 403):
        fix = "check the key in the variable `diffusionLsp.remote.apiKeyEnv` names."
    elif status == 404:
        fix = "check `diffusionLsp.remote.model` (`diffusion-lsp doctor --remote-url ...` lists "
        fix += "the server's models) and `remote.mode` (the server may not offer this endpoint)."
    else:
        fix = "see the server's log."
    return EngineError(f"{url}{path} answered {status}: {message}", fix)


class translate:
    """A context manager turning httpx's failures into ``EngineError``s that name the server."""

    def __init__(self, url: str, path: str, timeout_s: float) -> None:
        self.where, self.timeout_s = f"{url}{path}", timeout_s

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, _tb: Any) -> bool:
        if exc is None or not isinstance(exc, httpx.HTTPError):
            return False
        if isinstance(exc, httpx.TimeoutException):
            raise EngineError(
                f"{self.where} did not answer within {self.timeout_s:g} s ({type(exc).__name__}).",
                "raise `diffusionLsp.remote.timeoutMs`, or check the server's load.",
            ) from exc
        if isinstance(exc, httpx.ConnectError):
            raise EngineError(f"could not connect to {self.where} ({exc}).", URL_FIX) from exc
        raise EngineError(
            f"the connection to {self.where} failed ({type(exc).__name__}: {exc}).", URL_FIX
        ) from exc

"""Framing and protocol edge cases, driven with raw bytes against ``diffusion-lsp serve --fake-engine``.

These are below what an LSP client library lets a test send (bad headers, oversized lengths, params
of the wrong type, requests after ``shutdown``), so the tests speak JSON-RPC over the pipes
themselves: write the bad input, then a valid request, and check that the valid answer arrives, the
process is alive, and the exit code is the one the spec asks for.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from typing import Any

import pytest
from lsp_support import ROOT, server_env

TIMEOUT_S = 60  # a reply that has not come after this long is a failure, not a reason to hang
CAPABILITIES = {"workspace": {"applyEdit": True}, "window": {"workDoneProgress": False}}
URI = "file:///work/sums.py"
SUMS = "def f():\n    x = 1\n    y = 20\n    return x + y\n"


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class RawClient:
    """A JSON-RPC peer on a byte stream: writes raw bytes, reads framed messages on a thread.

    Requests from the server (``workspace/applyEdit``, progress) are answered with success so that
    commands complete; everything the server sends is kept in ``received``.
    """

    def __init__(self, read: Any, write: Any) -> None:
        self._read, self._write = read, write
        self._lock = threading.Lock()
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.received: list[dict[str, Any]] = []
        self._next_id = 1000
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self) -> None:
        while True:
            length = None
            while True:
                line = self._read.readline()
                if not line:
                    self.messages.put(None)
                    return
                if not line.strip():
                    break
                name, _, value = line.decode().partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            assert length is not None, "the server sent a message without Content-Length"
            body = b""
            while len(body) < length:
                chunk = self._read.read(length - len(body))
                if not chunk:
                    self.messages.put(None)
                    return
                body += chunk
            message = json.loads(body)
            if "method" in message and "id" in message:  # a request from the server
                result = {"applied": True} if message["method"] == "workspace/applyEdit" else None
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": result})
            self.messages.put(message)

    def send_raw(self, data: bytes) -> None:
        with self._lock:
            self._write.write(data)
            self._write.flush()

    def send(self, message: dict[str, Any]) -> None:
        self.send_raw(frame(message))

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def start_request(self, method: str, params: Any = None) -> int:
        self._next_id += 1
        self.send({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
        return self._next_id

    def wait(self, predicate: Any, what: str) -> dict[str, Any]:
        """The first message (received before or after this call) for which ``predicate`` holds."""
        for message in self.received:
            if predicate(message):
                return message
        while True:
            try:
                message = self.messages.get(timeout=TIMEOUT_S)
            except queue.Empty:
                raise AssertionError(f"no {what} after {TIMEOUT_S} s") from None
            if message is None:
                raise AssertionError(f"the server closed its output before {what}")
            self.received.append(message)
            if predicate(message):
                return message

    def response(self, msg_id: int) -> dict[str, Any]:
        return self.wait(
            lambda m: m.get("id") == msg_id and "method" not in m, f"answer to {msg_id}"
        )

    def request(self, method: str, params: Any = None) -> dict[str, Any]:
        return self.response(self.start_request(method, params))

    def initialize(self, options: dict[str, Any] | None = None) -> dict[str, Any]:
        result = self.request(
            "initialize",
            {"processId": None, "rootUri": None, "capabilities": CAPABILITIES,
             "initializationOptions": options or {}},
        )  # fmt: skip
        assert "result" in result, result
        self.notify("initialized", {})
        return result

    def wait_status(self, state: str) -> dict[str, Any]:
        message = self.wait(
            lambda m: m.get("method") == "diffusionLsp/status" and m["params"]["state"] == state,
            f"status {state}",
        )
        return message["params"]

    def status(self) -> dict[str, Any]:
        answer = self.request("workspace/executeCommand", {"command": "diffusionLsp.status"})
        assert "result" in answer, answer
        return answer["result"]


class Server(RawClient):
    """``diffusion-lsp serve --fake-engine`` on stdio."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "diffusion_lsp", "serve", "--fake-engine", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=ROOT, env=server_env(),
        )  # fmt: skip
        self.stderr: list[bytes] = []
        self._stderr_grew = threading.Condition()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        super().__init__(self.process.stdout, self.process.stdin)

    def _drain_stderr(self) -> None:
        for line in self.process.stderr:
            with self._stderr_grew:
                self.stderr.append(line)
                self._stderr_grew.notify_all()

    def log(self) -> str:
        return b"".join(self.stderr).decode(errors="replace")

    def wait_log(self, *texts: str) -> str:
        """The server's log once it holds one of ``texts``."""
        with self._stderr_grew:
            found = self._stderr_grew.wait_for(
                lambda: any(t in self.log() for t in texts), TIMEOUT_S
            )
        assert found, f"none of {texts} in the server's log:\n{self.log()}"
        return self.log()

    def alive(self) -> bool:
        return self.process.poll() is None

    def exit_code(self) -> int:
        """Send ``exit`` and return the process's exit status."""
        self.notify("exit")
        return self.process.wait(TIMEOUT_S)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(TIMEOUT_S)


@pytest.fixture
def server():
    server = Server()
    yield server
    server.close()


def answers_status(server: Server) -> None:
    """The server is alive and answers a valid request after whatever came before."""
    assert server.status()["state"] in ("loading", "ready")
    assert server.alive()


# -- framing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        b"Content-Length: 1000000000000\r\n\r\n",
        b"Content-Length: 1e20\r\n\r\n",
        b"Content-Length: " + b"9" * 5000 + b"\r\n\r\n",
        b"Content-Length: -5\r\n\r\n",
        b"Content-Length: \r\n\r\n",
        b"Content-Type: application/vscode-jsonrpc\r\n\r\n",  # no length at all
        b"garbage without a colon\r\n\r\n",
    ],
    ids=["huge", "float", "5000-digits", "negative", "empty", "missing", "garbage"],
)
def test_a_bad_content_length_is_skipped_and_the_next_message_answered(server: Server, header):
    server.initialize()
    server.send_raw(header + b'{"jsonrpc": "2.0", "id": 1, "method": "shutdown"}')
    answers_status(server)
    assert server.alive()
    server.wait_log("Content-Length", "header block")


def test_a_message_over_the_size_limit_is_skipped(server: Server):
    from diffusion_lsp.lsp.transport import MAX_CONTENT_LENGTH

    server.initialize()
    text = "x" * (MAX_CONTENT_LENGTH + 1)
    server.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": text}},
    )
    answers_status(server)
    server.wait_log("over the limit")


def test_bad_headers_before_initialize_are_not_fatal_either(server: Server):
    server.send_raw(b"Content-Length: 1e20\r\n\r\n{}")
    server.send_raw(b"Content-Length: 99999999999999999999999\r\n\r\n{}")
    server.initialize()
    answers_status(server)


def test_a_body_that_is_not_json_is_dropped(server: Server):
    server.initialize()
    server.send_raw(b"Content-Length: 9\r\n\r\n{not json")
    server.send_raw(b"Content-Length: 2\r\n\r\n[]")
    server.send_raw(b"Content-Length: 4\r\n\r\n\xff\xfe\xfd\xfc")
    answers_status(server)


def test_json_nested_too_deep_is_dropped(server: Server):
    server.initialize()
    deep = b"[" * 200_000 + b"]" * 200_000
    server.send_raw(b"Content-Length: %d\r\n\r\n" % len(deep) + deep)
    deep_params = b'{"jsonrpc": "2.0", "id": 7, "method": "shutdown", "params": ' + deep + b"}"
    server.send_raw(b"Content-Length: %d\r\n\r\n" % len(deep_params) + deep_params)
    answers_status(server)


# -- params ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("textDocument/inlineCompletion", {"textDocument": 5, "position": "x"}),
        ("textDocument/codeAction", {"textDocument": {"uri": URI}, "range": [], "context": 3}),
        ("workspace/executeCommand", {"command": 7}),
        ("textDocument/inlineCompletion", [1, 2, 3]),
    ],
    ids=["inline", "code-action", "command", "array"],
)
def test_params_of_the_wrong_type_get_invalid_params(server: Server, method, params):
    server.initialize()
    answer = server.request(method, params)
    assert answer["error"]["code"] == -32602, answer
    answers_status(server)


def test_a_notification_with_bad_params_is_dropped(server: Server):
    server.initialize()
    server.notify("textDocument/didOpen", {"textDocument": "nope"})
    answers_status(server)


# -- lifecycle ------------------------------------------------------------------------------------


def test_requests_after_shutdown_get_invalid_request_and_exit_is_0(server: Server):
    server.initialize()
    assert server.request("shutdown")["result"] is None
    answer = server.request("workspace/executeCommand", {"command": "diffusionLsp.status"})
    assert answer["error"]["code"] == -32600, answer
    assert server.alive()
    assert server.exit_code() == 0


def test_exit_without_shutdown_exits_1(server: Server):
    server.initialize()
    server.wait_status("ready")
    assert server.exit_code() == 1


def test_exit_before_initialize_exits_1(server: Server):
    assert server.exit_code() == 1


def test_shutdown_while_a_command_runs_is_clean():
    server = Server()
    try:
        server.initialize({"model": "fake:step_ms=100", "diagnostics": {"debounceMs": 0}})
        server.wait_status("ready")
        server.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": SUMS}},
        )
        fill = server.start_request(
            "workspace/executeCommand",
            {"command": "diffusionLsp.refine",
             "arguments": [URI, {"start": {"line": 1, "character": 0},
                                 "end": {"line": 2, "character": 10}}]},
        )  # fmt: skip
        # The fake engine runs 8 steps of 100 ms; the job is running once the worker is busy.
        shutdown = server.request("shutdown")
        assert shutdown == {"jsonrpc": "2.0", "id": shutdown["id"], "result": None}, shutdown
        answer = server.response(fill)
        assert answer.get("error", {}).get("code") == -32800 or not answer["result"]["applied"]
        assert "dictionary changed size" not in server.log()
        assert "Traceback" not in server.log()
        assert not any(m.get("method") == "workspace/applyEdit" for m in server.received)
        assert server.exit_code() == 0
    finally:
        server.close()


def test_initialized_before_initialize_is_ignored_without_a_popup(server: Server):
    server.notify("initialized", {})
    server.initialize()
    server.wait_status("ready")
    answers_status(server)
    assert not any(m.get("method") == "window/showMessage" for m in server.received)
    assert server.exit_code() == 1


# -- the framer on its own ------------------------------------------------------------------------


def read_all(stream: bytes, chunk: int) -> list[bytes]:
    """Every body the framer reads from ``stream`` delivered ``chunk`` bytes at a time."""
    import asyncio

    from diffusion_lsp.lsp.transport import Framer

    pieces = [stream[i : i + chunk] for i in range(0, len(stream), chunk)]

    async def read_some(_n: int) -> bytes:
        return pieces.pop(0) if pieces else b""

    async def run() -> list[bytes]:
        framer, bodies = Framer(read_some, max_length=1000), []
        while (body := await framer.read()) is not None:
            bodies.append(body)
        return bodies

    return asyncio.run(run())


@pytest.mark.parametrize("chunk", [1, 3, 17, 4096])
def test_the_framer_resynchronises_however_the_bytes_arrive(chunk):
    good = [frame({"jsonrpc": "2.0", "method": "m", "params": {"i": i}}) for i in range(3)]
    stream = (
        good[0]
        + b"Content-Length: 1e20\r\n\r\n{}"
        + good[1]
        + b"content-length:  5000\r\n\r\n"  # over this framer's limit of 1000
        + b'{"x": "' + b"y" * 5000 + b'"}'
        + b"\r\n"  # a stray blank line between messages
        + b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
        + good[2]
        + b"X-Junk: " + b"z" * 10_000 + b"\r\n\r\n"  # a header block over the limit
        + good[0]
    )  # fmt: skip
    bodies = [json.loads(b)["params"]["i"] for b in read_all(stream, chunk)]
    assert bodies == [0, 1, 2, 0]


def test_a_stream_that_ends_mid_message_ends_the_reading():
    assert read_all(frame({"jsonrpc": "2.0", "method": "m"})[:-3], 5) == []


def test_worker_shutdown_cancels_the_running_job_and_the_queued_ones():
    from diffusion_lsp.engine.api import Cancelled, CancelToken
    from diffusion_lsp.engine.worker import Worker

    worker = Worker()
    started = threading.Event()

    def job(token: CancelToken) -> str:
        started.set()
        for _ in range(3000):  # 30 s unless cancelled: one "step" every 10 ms
            token.raise_if_cancelled()
            threading.Event().wait(0.01)
        return "ran to the end"

    running = worker.submit(job)
    queued = worker.submit(job, key="doc")
    assert started.wait(TIMEOUT_S)
    worker.shutdown(timeout=TIMEOUT_S / 2)
    assert not worker._thread.is_alive()
    for future in (running, queued):
        with pytest.raises(Cancelled):
            future.result(timeout=0)

"""A real llama.cpp server (llama-cpp-python) on loopback with a tiny random GGUF, once per session,
and real stdlib HTTP servers that misbehave (slow, garbage, errors) for the failure paths."""

from __future__ import annotations

import http.server
import importlib.util
import os
import threading
import time

import pytest

KEY = "test-key-7f3a"  # the server's key; the tests put it in an environment variable


def _need_llama_cpp() -> None:
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("gguf") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install the remote-test extra (llama-cpp-python[server], gguf)")
        pytest.skip(
            "llama-cpp-python[server] and gguf are not installed: "
            "pip install -e '.[remote-test]' (builds llama.cpp from source)"
        )


def _start(tmp_path_factory, api_key):
    _need_llama_cpp()
    from diffusion_lsp.engine.testing.llama_server import LlamaServer, write_tiny_gguf

    where = tmp_path_factory.mktemp("llama")
    model = write_tiny_gguf(where / "tiny.gguf")
    server = LlamaServer(model, where / "server.log", api_key=api_key)
    server.wait_ready(api_key=api_key)
    return server


@pytest.fixture(scope="session")
def llama(tmp_path_factory):
    server = _start(tmp_path_factory, None)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def keyed_llama(tmp_path_factory):
    server = _start(tmp_path_factory, KEY)
    yield server
    server.stop()


class Misbehaving(http.server.BaseHTTPRequestHandler):
    """``/slow/...`` waits 5 s before answering; ``/garbage/...`` answers 200 with HTML;
    ``/error/...`` answers 503 with an OpenAI-style error body; ``/stream-garbage/...`` lists a
    model but streams an event that is not JSON."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status, body, kind="application/json"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except BrokenPipeError:  # the client gave up first (the timeout test)
            pass

    def do_GET(self):
        if self.path.startswith("/stream-garbage"):
            self._answer(200, '{"data": [{"id": "m"}]}')
        else:
            self.do_POST()

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path.startswith("/slow"):
            time.sleep(5)
            self._answer(200, '{"data": []}')
        elif self.path.startswith("/garbage"):
            self._answer(200, "<html>a proxy login page</html>", "text/html")
        elif self.path.startswith("/error"):
            self._answer(503, '{"error": {"message": "the model is still loading"}}')
        elif self.path.startswith("/stream-garbage"):
            self._answer(200, "data: {not json\n\n", "text/event-stream")
        else:
            self._answer(404, '{"detail": "Not Found"}')


@pytest.fixture(scope="session")
def misbehaving():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Misbehaving)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()

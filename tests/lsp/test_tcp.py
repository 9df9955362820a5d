"""``diffusion-lsp serve --tcp``: loopback unless ``--allow-remote``, and one client per session.

Only loopback addresses are bound here; the non-loopback cases are refused before anything binds,
and the warning ``--allow-remote`` prints is checked with the server's start replaced.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import threading

import pytest
from lsp_support import ROOT, server_env
from test_protocol_robustness import TIMEOUT_S, RawClient

from diffusion_lsp.cli import serve as serve_command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "diffusion_lsp", "serve", "--fake-engine", *args],
        cwd=ROOT, env=server_env(), capture_output=True, text=True, timeout=TIMEOUT_S,
    )  # fmt: skip


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost", "LOCALHOST"])
def test_loopback_hosts(host):
    assert serve_command.is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "example.com"])
def test_other_hosts_are_not_loopback(host):
    assert not serve_command.is_loopback(host)


@pytest.mark.parametrize("address", ["0.0.0.0:9", "[::]:9", "192.168.1.5:9", "example.com:9"])
def test_a_non_loopback_address_needs_allow_remote(address):
    done = serve("--tcp", address)
    assert done.returncode == 2
    assert "--allow-remote" in done.stderr
    assert "Serving on" not in done.stderr


def test_allow_remote_warns_and_serves(monkeypatch, capsys):
    started: list[tuple[str, int]] = []

    class Stub:
        def start_tcp(self, host: str, port: int) -> int:
            started.append((host, port))
            return 0

    monkeypatch.setattr("diffusion_lsp.lsp.server.build_server", lambda fake_engine: Stub())
    parser = argparse.ArgumentParser()
    serve_command.add_arguments(parser)
    args = parser.parse_args(["--tcp", "0.0.0.0:9", "--allow-remote", "--fake-engine"])
    assert serve_command.run(args) == 0
    assert started == [("0.0.0.0", 9)]
    err = capsys.readouterr().err
    assert "warning" in err and "0.0.0.0:9" in err and "not loopback" in err


def test_the_help_names_the_flag_limits_and_exit_codes():
    done = serve("--help")
    assert done.returncode == 0
    for text in ("--allow-remote", "64 MiB", "one client", "Exit codes"):
        assert text in done.stdout


class TcpServer:
    """``diffusion-lsp serve --fake-engine --tcp 127.0.0.1:PORT``, its log collected."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "diffusion_lsp", "serve", "--fake-engine",
             "--tcp", f"127.0.0.1:{self.port}", "-v"],
            cwd=ROOT, env=server_env(), stderr=subprocess.PIPE,
        )  # fmt: skip
        self.lines: list[str] = []
        self._grew = threading.Condition()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for raw in self.process.stderr:
            with self._grew:
                self.lines.append(raw.decode(errors="replace"))
                self._grew.notify_all()
        with self._grew:
            self.lines.append("<closed>")
            self._grew.notify_all()

    def wait_log(self, text: str) -> None:
        with self._grew:
            found = self._grew.wait_for(
                lambda: any(text in line or line == "<closed>" for line in self.lines), TIMEOUT_S
            )
            assert found and any(text in line for line in self.lines), "".join(self.lines)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT_S)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(TIMEOUT_S)


def client_on(sock: socket.socket) -> RawClient:
    return RawClient(sock.makefile("rb"), sock.makefile("wb"))


def test_one_client_per_session():
    server = TcpServer()
    try:
        server.wait_log("Serving on")
        first_socket = server.connect()
        first = client_on(first_socket)
        assert "capabilities" in first.initialize()["result"]

        second = server.connect()
        assert second.recv(1) == b""  # closed by the server at once
        second.close()
        server.wait_log("refused a connection")

        assert first.status()["state"] in ("loading", "ready")  # the first session goes on
        assert first.request("shutdown")["result"] is None
        first.notify("exit")
        assert server.process.wait(TIMEOUT_S) == 0
        first_socket.close()
    finally:
        server.close()


def test_the_session_ends_when_its_client_disconnects():
    server = TcpServer()
    try:
        server.wait_log("Serving on")
        sock = server.connect()
        client_on(sock).initialize()
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        assert server.process.wait(TIMEOUT_S) == 0
    finally:
        server.close()

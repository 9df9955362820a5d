"""``diffusion-lsp serve``: argument parsing and a session over TCP with the bare command."""

from __future__ import annotations

import asyncio
import socket
import sys

import pytest
from lsp_support import ROOT, TEXT_ADD, make_client, server_env
from lsprotocol import types

from diffusion_lsp.cli.serve import parse_tcp


def test_tcp_binds_localhost_unless_a_host_is_given():
    assert parse_tcp("8080") == ("127.0.0.1", 8080)
    assert parse_tcp(":8080") == ("127.0.0.1", 8080)
    assert parse_tcp("0.0.0.0:9") == ("0.0.0.0", 9)
    assert parse_tcp("[::1]:9") == ("::1", 9)
    for bad in ("x", "host:", "1:99999", "h:0"):
        with pytest.raises(ValueError):
            parse_tcp(bad)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_bare_command_serves_over_tcp():
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "diffusion_lsp", "--fake-engine", "--tcp", str(port), "-vv",
        cwd=ROOT, env=server_env(), stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:

        async def listening() -> str:
            while line := (await server.stderr.readline()).decode():
                if "Serving on" in line:
                    return line
            raise AssertionError("the server exited before listening")

        line = await asyncio.wait_for(listening(), 60)
        assert f"('127.0.0.1', {port})" in line
        client = make_client()
        await client.start_tcp("127.0.0.1", port)
        client.capabilities = types.ClientCapabilities()
        await client.initialize_session(
            types.InitializeParams(capabilities=types.ClientCapabilities())
        )
        await client.wait_for_status("ready")
        client.open("file:///t.py", TEXT_ADD)
        result = await client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri="file:///t.py"),
                position=types.Position(line=1, character=11),
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Invoked
                ),
            )
        )
        assert [i.insert_text for i in result.items] == ["v0_26", "v2_26"]
        await client.shutdown_async(None)
        client.exit(None)
        assert await asyncio.wait_for(server.wait(), 60) == 0
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()

"""The byte streams under the protocol: LSP base-protocol framing (``Content-Length`` headers) on
stdio or on one TCP connection, written so that no header or body a client sends can stop the server.

pygls' own reader takes any ``Content-Length`` at its word (a length of 10^12 waits forever, 5,000
digits raise out of its loop and end the process) and forgets a header it cannot parse, after which
it reads the body as headers. Here a header block is bounded (``MAX_HEADER_BYTES``), a body is
bounded (``MAX_CONTENT_LENGTH``), and a message that breaks either rule is logged and skipped: the
reader discards bytes until the next ``Content-Length: <digits>`` line and goes on from there. A
JSON body cannot contain that line (a raw line break is not allowed inside a JSON string), so
resynchronising never starts inside a valid message.

Bodies go to ``DiffusionProtocol.handle_body``; ``exit`` ends the serving loop and the process exits
with the protocol's code (0 after ``shutdown``, else 1).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, BinaryIO

from pygls.io_ import StdoutWriter

if TYPE_CHECKING:
    from diffusion_lsp.lsp.server import DiffusionLanguageServer

log = logging.getLogger(__name__)

MAX_CONTENT_LENGTH = 64 * 1024 * 1024  # bytes in one message body; larger ones are skipped
MAX_HEADER_BYTES = 8 * 1024  # bytes in one header block
CHUNK = 64 * 1024  # bytes read at a time
_BLOCK_END = re.compile(rb"\r?\n\r?\n")
# Where a message starts: what the reader looks for after a bad header or an oversized body.
_NEXT_HEADER = re.compile(rb"content-length[ \t]*:[ \t]*\d{1,20}[ \t]*\r?\n", re.IGNORECASE)
_KEEP = 64  # bytes kept while resynchronising, so a header split across two reads is still found

ReadSome = Callable[[int], Awaitable[bytes]]  # up to n bytes, at least one; b"" at end of stream


def parse_header_block(block: bytes, max_length: int = MAX_CONTENT_LENGTH) -> tuple[int, str]:
    """(body length, "") for a usable header block, else (-1, what is wrong with it).

    Header names are case-insensitive; headers other than Content-Length (Content-Type) and lines
    without a colon are ignored.
    """
    length = -1
    for line in block.split(b"\n"):
        name, colon, value = line.rstrip(b"\r").partition(b":")
        if not colon or name.strip().lower() != b"content-length":
            continue
        value = value.strip()
        if not value.isdigit():
            return -1, f"Content-Length {value[:40].decode(errors='replace')!r} is not a byte count"
        if len(value) > 20 or int(value) > max_length:
            size = f"{int(value)}" if len(value) <= 20 else f"of {len(value)} digits"
            return -1, f"Content-Length {size} is over the limit of {max_length} bytes"
        length = int(value)
    if length < 0:
        return -1, "a header block without Content-Length"
    return length, ""


class Framer:
    """Reads LSP messages (header block, blank line, body) from ``read_some``; never raises on
    malformed input: a bad message is logged and skipped."""

    def __init__(self, read_some: ReadSome, max_length: int = MAX_CONTENT_LENGTH) -> None:
        self._read_some = read_some
        self._max_length = max_length
        self._buf = bytearray()
        self._eof = False

    async def read(self) -> bytes | None:
        """The next message body; None at the end of the stream."""
        while True:
            block = await self._header_block()
            if block is None:
                return None
            if block:
                length, problem = parse_header_block(block, self._max_length)
            else:
                length, problem = -1, f"a header block over {MAX_HEADER_BYTES} bytes"
            if not problem:
                return await self._exactly(length)
            log.warning("%s; skipping to the next message", problem)
            if not await self._resync():
                return None

    async def _fill(self) -> bool:
        if self._eof:
            return False
        data = await self._read_some(CHUNK)
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    async def _header_block(self) -> bytes | None:
        """The next header block without its blank line; b"" if it is over the size limit (then
        its head is discarded); None at the end of the stream. Blank lines before it are skipped."""
        while True:
            start = 0
            while start < len(self._buf) and self._buf[start] in b"\r\n":
                start += 1
            del self._buf[:start]
            end = _BLOCK_END.search(self._buf, 0, MAX_HEADER_BYTES + 4)
            if end is not None:
                block = bytes(self._buf[: end.start()])
                del self._buf[: end.end()]
                return block
            if len(self._buf) > MAX_HEADER_BYTES:
                del self._buf[: MAX_HEADER_BYTES - _KEEP]  # what follows may hold the next message
                return b""
            if not await self._fill():
                return None

    async def _exactly(self, n: int) -> bytes | None:
        while len(self._buf) < n:
            if not await self._fill():
                return None
        body = bytes(self._buf[:n])
        del self._buf[:n]
        return body

    async def _resync(self) -> bool:
        """Discard bytes up to the next ``Content-Length`` line; False at the end of the stream."""
        skipped = 0
        while True:
            found = _NEXT_HEADER.search(self._buf)
            if found is not None:
                skipped += found.start()
                del self._buf[: found.start()]
                log.info("skipped %d bytes to the next message", skipped)
                return True
            if len(self._buf) > _KEEP:
                skipped += len(self._buf) - _KEEP
                del self._buf[:-_KEEP]
            if not await self._fill():
                log.info("skipped %d bytes to the end of the stream", skipped + len(self._buf))
                return False


class _ThreadedSource:
    """Reads a blocking stream (stdin) on a daemon thread, so that ``exit`` can end the process
    while a read is pending (pygls reads stdin on a pool thread that the interpreter waits for)."""

    def __init__(self, stream: BinaryIO, loop: asyncio.AbstractEventLoop) -> None:
        self._stream = stream
        self._loop = loop
        self._chunks: asyncio.Queue[bytes] = asyncio.Queue(maxsize=16)  # bounded: backpressure
        threading.Thread(target=self._pump, name="diffusion-lsp-stdin", daemon=True).start()

    def _pump(self) -> None:
        # The file descriptor, not the buffered stream: a daemon thread blocked inside a buffered
        # read holds the stream's lock, and the interpreter aborts when it finds it held at exit.
        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError):  # an in-memory stream (tests)
            read = getattr(self._stream, "read1", self._stream.read)
        else:

            def read(n: int) -> bytes:
                return os.read(fd, n)

        while True:
            try:
                data = read(CHUNK)
            except (OSError, ValueError):
                data = b""
            try:
                asyncio.run_coroutine_threadsafe(self._chunks.put(data), self._loop).result()
            except Exception:  # the loop has closed: the server is exiting
                return
            if not data:
                return

    async def read_some(self, _n: int) -> bytes:
        return await self._chunks.get()


async def _dispatch(framer: Framer, server: DiffusionLanguageServer) -> None:
    while (body := await framer.read()) is not None:
        try:
            server.protocol.handle_body(body)
        except Exception:  # handle_body guards itself; this loop must outlive any bug in it
            log.exception("a message could not be handled")
    log.info("the client closed the stream")


async def _serve_until_exit(server: DiffusionLanguageServer, reading: Awaitable[None]) -> None:
    exited = asyncio.Event()
    server.on_exit = exited.set
    tasks = {asyncio.ensure_future(reading), asyncio.ensure_future(exited.wait())}
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


def _run(server: DiffusionLanguageServer, main: Callable[[], Awaitable[None]]) -> int:
    try:
        asyncio.run(main())  # type: ignore[arg-type]
    except BrokenPipeError:
        log.error("the connection to the client is lost; shutting down")
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return server.exit_code


def serve_stdio(server: DiffusionLanguageServer, stdin: BinaryIO, stdout: BinaryIO) -> int:
    """Serve one session on stdin/stdout; returns the exit code."""
    server.protocol.set_writer(StdoutWriter(stdout))

    async def main() -> None:
        source = _ThreadedSource(stdin, asyncio.get_running_loop())
        await _serve_until_exit(server, _dispatch(Framer(source.read_some), server))

    return _run(server, main)


def serve_tcp(server: DiffusionLanguageServer, host: str, port: int) -> int:
    """Listen on ``host:port`` and serve one client; a second connection while it is connected is
    closed at once. The session (and the process) ends when that client disconnects or exits."""

    async def main() -> None:
        session_over = asyncio.Event()
        active: asyncio.StreamWriter | None = None

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal active
            peer = writer.get_extra_info("peername")
            if active is not None:
                log.warning("refused a connection from %s: this server has a client already", peer)
                writer.close()
                return
            active = writer
            log.info("client connected from %s", peer)
            server.protocol.set_writer(writer)  # type: ignore[arg-type]
            try:
                await _dispatch(Framer(reader.read), server)
            finally:
                session_over.set()

        listener = await asyncio.start_server(connection, host, port)
        addrs = ", ".join(str(sock.getsockname()) for sock in listener.sockets)
        log.info("Serving on %s", addrs)
        try:
            await _serve_until_exit(server, session_over.wait())
        finally:
            listener.close()
            if active is not None:
                active.close()

    return _run(server, main)

"""A loopback HTTP/1.1 server that answers as no CRM should: its answer trickles in a few
bytes at a time, or is huge (declared, chunked or gzip-compressed). It counts what it was
asked and what it managed to send, so a test can tell that the client stopped reading."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

#: An answer that is valid JSON, whatever its size: ``{"results": [ ... ]}`` padded with spaces.
OPEN, CLOSE = b'{"results": [', b"]}"


def padded(size: int) -> bytes:
    return OPEN + b" " * (size - len(OPEN) - len(CLOSE)) + CLOSE


@dataclass
class Misbehaving:
    #: ``trickle`` (``size`` bytes, ``step`` at a time, ``pause`` apart), ``declared`` (a
    #: Content-Length of ``size``, then nothing), ``chunked`` (chunks of ``step`` without end),
    #: ``gzip`` (``size`` bytes compressed) or ``plain`` (``size`` bytes at once).
    mode: str = "plain"
    size: int = 1024
    step: int = 64 * 1024
    pause: float = 0.05
    status: int = 200
    #: Header lines added to every answer (``"Location: …\r\n"``).
    headers: str = ""
    #: In ``plain`` mode, this body instead of ``size`` padded bytes.
    body: bytes | None = None
    requests: list[str] = field(default_factory=list)
    connections: int = 0
    sent: int = 0  # body bytes written
    handlers: set[asyncio.Task[None]] = field(default_factory=set)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            while line := await reader.readline():
                self.requests.append(line.decode().split(" ")[1])
                length = 0
                while (header := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = header.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                await self._answer(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up: what it read so far is counted in ``sent``
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = f"HTTP/1.1 {self.status} Whatever\r\nContent-Type: application/json\r\n"
        head += self.headers
        if self.mode == "chunked":
            writer.write(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode())
            while True:  # no end: only the client's hanging up stops it
                writer.write(b"%x\r\n%s\r\n" % (self.step, b" " * self.step))
                self.sent += self.step
                await writer.drain()
            return
        if self.mode == "declared":
            writer.write(f"{head}Content-Length: {self.size}\r\n\r\n".encode())
            await writer.drain()
            await reader.read()  # the body never comes: until the client hangs up
            return
        body = self.body if self.body is not None and self.mode == "plain" else padded(self.size)
        if self.mode == "gzip":
            body = gzip.compress(body)
            head += "Content-Encoding: gzip\r\n"
        writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode())
        if self.mode == "trickle":
            for start in range(0, len(body), self.step):
                writer.write(body[start : start + self.step])
                self.sent += len(body[start : start + self.step])
                await writer.drain()
                await asyncio.sleep(self.pause)
            return
        writer.write(body)
        self.sent += len(body)
        await writer.drain()


@asynccontextmanager
async def misbehaving(server: Misbehaving) -> AsyncIterator[str]:
    """``server`` listening on a loopback port; its base URL."""
    listening = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        listening.close()
        for task in server.handlers:
            task.cancel()
        await asyncio.gather(*server.handlers, return_exceptions=True)

"""A breaker's probe that ends without an answer (its caller cancelled, a 429) hands the turn
to the next call. Before, the breaker waited for that probe's verdict for as long as the
process ran: every later call to the CRM failed fast with CIRCUIT_OPEN, the CRM long healthy.
The CRM here is a loopback HTTP server; the breaker's clock is the test's."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from app.connectors.http import UpstreamClient
from app.resilience.breaker import CircuitBreaker

OPEN_FOR = 30.0


class Crm:
    """``/fail`` answers 500, ``/busy`` 429, ``/held`` only once ``gate`` is set, else 200."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.received: list[str] = []
        self.writers: list[asyncio.StreamWriter] = []

    async def answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        while line := await reader.readline():
            path = line.split(b" ")[1].decode()
            self.received.append(path)
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            if path == "/held":
                await self.gate.wait()
                if writer.is_closing():
                    return
            status = {"/fail": b"500 Oops", "/busy": b"429 Busy"}.get(path, b"200 OK")
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()
        writer.close()

    async def close(self) -> None:
        """Every connection closed, the held one too (its caller was cancelled)."""
        for writer in self.writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        self.gate.set()  # the held answer's handler ends, its connection closed
        await asyncio.sleep(0)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def opened() -> AsyncIterator[tuple[Crm, UpstreamClient, Clock]]:
    """A client whose breaker has opened on four 500s and is due a probe."""
    crm, clock = Crm(), Clock()
    listening = await asyncio.start_server(crm.answer, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    breaker = CircuitBreaker(min_calls=4, failure_rate=0.5, open_for=OPEN_FOR, clock=clock)
    upstream = UpstreamClient("crm", f"http://127.0.0.1:{port}", breaker=breaker)
    async with listening:
        for _ in range(4):
            assert (await upstream.send("GET", "/fail", route="GET /fail")).status_code == 500
        assert breaker.state == "open"
        clock.now += OPEN_FOR
        try:
            yield crm, upstream, clock
        finally:
            await upstream.aclose()
            await crm.close()


async def test_a_cancelled_probe_lets_the_next_call_probe(
    opened: tuple[Crm, UpstreamClient, Clock],
) -> None:
    crm, upstream, _ = opened
    probe = asyncio.create_task(upstream.send("GET", "/held", route="GET /held"))
    async with asyncio.timeout(5):
        while "/held" not in crm.received:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    probe.cancel()  # the caller hung up while the CRM was still answering
    with pytest.raises(asyncio.CancelledError):
        await probe
    answer = await asyncio.wait_for(upstream.send("GET", "/ok", route="GET /ok"), 5)
    assert answer.status_code == 200
    assert upstream.breaker is not None
    assert upstream.breaker.state == "closed"


async def test_a_probe_answered_429_lets_the_next_call_probe(
    opened: tuple[Crm, UpstreamClient, Clock],
) -> None:
    crm, upstream, _ = opened
    assert (await upstream.send("GET", "/busy", route="GET /busy")).status_code == 429
    answer = await asyncio.wait_for(upstream.send("GET", "/ok", route="GET /ok"), 5)
    assert answer.status_code == 200
    assert crm.received[-2:] == ["/busy", "/ok"]

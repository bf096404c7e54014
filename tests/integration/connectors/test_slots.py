"""A request waiting for one of its source's concurrent-call slots, within its query's
deadline, can be cancelled (its caller gone) at any point, even at the very moment a slot
frees: it stops, and the slot goes to the next caller. On Python 3.11, ``asyncio.wait_for``
drops a cancel that arrives as what it waits for finishes, so the slot is not waited for
with it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from app.connectors.http import UpstreamClient
from app.resilience import deadline


class Held:
    """A loopback HTTP server that answers each request once ``gate`` is set."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.received: list[str] = []

    async def answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            self.received.append(line.split(b" ")[1].decode())
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            await self.gate.wait()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()
        writer.close()


@pytest.fixture
async def held() -> AsyncIterator[tuple[Held, str]]:
    server = Held()
    listening = await asyncio.start_server(server.answer, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield server, f"http://127.0.0.1:{port}"


async def test_a_cancel_landing_as_a_slot_frees_stops_the_waiting_request(
    held: tuple[Held, str],
) -> None:
    server, url = held
    upstream = UpstreamClient("held", url, max_concurrency=1)
    slots = upstream._slots
    try:
        with deadline.within(30):  # as a query's calls are: the slot is waited for in time
            first = asyncio.create_task(upstream.send("GET", "/first", route="GET /first"))
            waiting = asyncio.create_task(upstream.send("GET", "/second", route="GET /second"))
        async with asyncio.timeout(5):
            # the first request at the server, the second waiting for the one slot
            while not (slots._waiters and server.received):  # type: ignore[attr-defined]  # noqa: ASYNC110
                await asyncio.sleep(0)
        assert server.received == ["/first"]
        # The cancel lands at the very moment the slot is handed over: in the same turn of the
        # event loop as the waiting request's wake-up, right after it.
        [handed_over] = slots._waiters  # type: ignore[attr-defined]
        handed_over.add_done_callback(lambda _: waiting.cancel())
        server.gate.set()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(waiting), 5)
        assert (await first).status_code == 200
        # The cancelled request never went, and gave the slot back: the next one gets it.
        third = upstream.send("GET", "/third", route="GET /third")
        assert (await asyncio.wait_for(third, 5)).status_code == 200
        assert server.received == ["/first", "/third"]
    finally:
        await upstream.aclose()

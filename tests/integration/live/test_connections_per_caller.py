"""One caller may hold ``live.max_connections_per_caller`` websockets open on an instance; one
more is closed with 4429 and its reason, and audited; a connection that closes frees its place;
other callers are not counted against it.

Found by a trial: one anonymous caller opened 1,500 subscribed connections to a gateway
(110 → 292 MB, 1,521 file descriptors) and nothing refused any; on a host whose descriptor
limit is 1,024, that alone stops the gateway from accepting anyone."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.simulators.server import RunningSimulators
from tests.integration.live.conftest import PROTOCOL, LiveClient, Served, eventually, serve_live

LIMIT = 2


@pytest.fixture
async def capped(simulators: RunningSimulators, keys_file: Path) -> AsyncIterator[Served]:
    live = {"max_connections_per_caller": LIMIT}
    async with serve_live(simulators.base_url, keys_file, live=live) as served:
        yield served


@contextlib.asynccontextmanager
async def connection(served: Served, api_key: str) -> AsyncIterator[dict[str, Any]]:
    """A connection with ``api_key`` in its connection_init, and the server's first answer:
    ``connection_ack``, or how it closed the socket."""
    async with connect(served.ws_url, subprotocols=PROTOCOL) as ws:
        client = LiveClient(ws)
        await client.send({"type": "connection_init", "payload": {"apiKey": api_key}})
        answer: dict[str, Any]
        try:
            answer = await client.receive()
        except ConnectionClosed as closed:
            frame = closed.rcvd
            answer = {"closed": frame and frame.code, "reason": frame and frame.reason}
        yield answer


async def test_a_caller_over_its_cap_is_closed_with_4429_and_others_are_not(
    capped: Served, keys: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="crmgraph.audit")
    analyst, admin = keys["analyst"], keys["admin"]
    async with contextlib.AsyncExitStack() as held:
        for _ in range(LIMIT):
            first = await held.enter_async_context(connection(capped, analyst))
            assert first["type"] == "connection_ack", first

        async with connection(capped, analyst) as over:
            assert over == {
                "closed": 4429,
                "reason": "too many open connections for this caller (2)",
            }
        async with connection(capped, admin) as other:  # another caller: its own count
            assert other["type"] == "connection_ack", other

    [refused] = [r for r in caplog.records if getattr(r, "code", None) == "TOO_MANY_CONNECTIONS"]
    assert refused.__dict__["transport"] == "websocket"
    assert refused.__dict__["subject"].startswith("key:")
    assert analyst not in caplog.text

    async def acknowledged() -> bool:
        async with connection(capped, analyst) as again:
            return again.get("type") == "connection_ack"

    # Those closed (the server counts a close once its handler has ended): places are free.
    await eventually(acknowledged, "a place freed by the closed connections")

"""A real gateway served in the test's own event loop (so a test can publish on its change
bus), and a graphql-transport-ws client built on the ``websockets`` package."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from app.config import parse_config
from app.demo import demo_settings
from app.gateway import Gateway
from app.live.changes import Change, Entity
from app.main import create_app
from app.simulators.server import RunningSimulators, bind_loopback
from tests.integration.gateway.conftest import gateway_config
from tests.integration.gateway.conftest import keys as keys  # fixtures
from tests.integration.gateway.conftest import keys_file as keys_file

PROTOCOL = [Subprotocol("graphql-transport-ws")]

#: Every wait in these tests is bounded by this; none is a timing assertion.
WAIT = 10.0


async def eventually(check: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    """Poll ``check`` until it holds, failing after :data:`WAIT` seconds."""
    deadline = time.monotonic() + WAIT
    while True:
        found = check()
        if isinstance(found, Awaitable):
            found = await found
        if found:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what}")
        await asyncio.sleep(0.01)


@dataclass
class Served:
    url: str
    gateway: Gateway

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"


@contextlib.asynccontextmanager
async def serve_live(
    simulators_url: str, keys_file: Path, **overrides: Any
) -> AsyncIterator[Served]:
    """The gateway (demo config, as the other integration tests have it) on a loopback port,
    served by uvicorn in this event loop."""
    demo_settings(simulators_url)
    app = create_app(parse_config(gateway_config(simulators_url, keys_file, **overrides)))
    sock = bind_loopback()
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="critical", lifespan="on", access_log=False)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started or task.done(), "the gateway to start")
        if task.done():
            task.result()
            raise RuntimeError("the gateway stopped at start")
        host, port = sock.getsockname()
        yield Served(f"http://{host}:{port}", app.state.gateway)
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def live(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str]
) -> AsyncIterator[Served]:
    async with serve_live(simulators.base_url, keys_file) as served:
        yield served


class Closed(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed {code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass
class LiveClient:
    """One graphql-transport-ws connection."""

    ws: ClientConnection

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self) -> dict[str, Any]:
        async with asyncio.timeout(WAIT):
            message: dict[str, Any] = json.loads(await self.ws.recv())
        return message

    async def subscribe(self, query: str, id: str = "1", **variables: Any) -> str:
        await self.send(
            {"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )
        return id

    async def next(self, id: str = "1") -> dict[str, Any]:
        """The payload of the next ``next`` message for ``id``."""
        message = await self.receive()
        assert message["type"] == "next", message
        assert message["id"] == id, message
        payload: dict[str, Any] = message["payload"]
        return payload


@pytest.fixture
async def connect_as(keys: dict[str, str]) -> AsyncIterator[Any]:
    """``await connect_as(served, "analyst")``: an acknowledged connection with that API key in
    its connection_init (``None``: no credentials)."""
    opened: list[ClientConnection] = []

    async def make(served: Served, key: str | None, **payload: Any) -> LiveClient:
        ws = await connect(served.ws_url, subprotocols=PROTOCOL)
        opened.append(ws)
        client = LiveClient(ws)
        if key is not None:
            payload = {"apiKey": keys[key], **payload}
        await client.send({"type": "connection_init", "payload": payload})
        ack = await client.receive()
        assert ack["type"] == "connection_ack", ack
        return client

    yield make
    for ws in opened:
        await ws.close()


def change(entity: Entity, id: str, brand: str | None, event_id: str | None = None) -> Change:
    return Change(
        event_id=event_id or f"test:{uuid.uuid4().hex}",
        entity=entity,
        source=id.split(":", 1)[0] if ":" in id else "player_stats",
        id=id,
        brand=brand,
        occurred_at=time.time(),
    )


async def subscribed(served: Served, count: int = 1) -> None:
    """Wait until ``count`` subscriptions listen on the gateway's bus."""
    await eventually(lambda: served.gateway.bus.subscribers >= count, f"{count} subscribers")


async def query_data(served: Served, api_key: str, query: str, **variables: Any) -> dict[str, Any]:
    """The data of a query over HTTP to the same gateway (to find ids), which must not fail."""
    async with httpx.AsyncClient(base_url=served.url, headers={"X-API-Key": api_key}) as client:
        response = await client.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    assert not body.get("errors"), body
    data: dict[str, Any] = body["data"]
    return data

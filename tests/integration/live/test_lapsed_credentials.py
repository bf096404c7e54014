"""Credentials that lapse while a websocket is open — an API key revoked, a token past its
``exp`` — stop it: no further event is sent, and the socket is closed with 4403 within a second,
with an audit event."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.auth.keys import KeyStore
from app.simulators.server import RunningSimulators
from app.simulators.world import World
from tests.integration.live.conftest import (
    PROTOCOL,
    LiveClient,
    Served,
    change,
    serve_live,
    subscribed,
)

SECRET = "a-development-secret-of-at-least-32-bytes!"


async def nothing_but_a_close(client: LiveClient) -> None:
    message = await client.receive()
    raise AssertionError(f"sent after its credentials lapsed: {message}")


async def closed_with(client: LiveClient) -> tuple[int | None, float]:
    """The close code of the next thing the server sends, which must be a close, and when."""
    with pytest.raises(ConnectionClosed) as closed:
        await nothing_but_a_close(client)
    at = time.monotonic()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, at


def lapsed_audits(caplog: pytest.LogCaptureFixture, subject: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if getattr(r, "event", None) == "request.refused"
        and r.__dict__.get("transport") == "websocket"
        and r.__dict__.get("subject") == subject
    ]


async def test_a_key_revoked_while_subscribed_gets_no_event_and_is_closed_with_4403(
    live: Served, keys_file: Path, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="crmgraph.audit")
    store = KeyStore(keys_file)
    key, record = store.create("admin", ["*"], label="revoked while subscribed")
    async with connect(live.ws_url, subprotocols=PROTOCOL) as ws:
        client = LiveClient(ws)
        await client.send({"type": "connection_init", "payload": {"apiKey": key}})
        assert (await client.receive())["type"] == "connection_ack"
        await client.subscribe("subscription { customerChanged { id email name } }")
        await subscribed(live)
        store.revoke(record.id)
        revoked = time.monotonic()
        person = world.customers[7]
        await live.gateway.bus.publish(
            change("customer", f"hubspot:{person.hubspot_id}", person.brand.key)
        )
        code, at = await closed_with(client)
    assert code == 4403
    assert at - revoked < 1.0
    [audit] = lapsed_audits(caplog, f"key:{record.id}")
    assert audit.__dict__["code"] == "UNAUTHENTICATED"
    assert key not in caplog.text


async def test_a_key_revoked_while_idle_is_closed_with_4403_within_a_second(
    live: Served, keys_file: Path
) -> None:
    store = KeyStore(keys_file)
    key, record = store.create("analyst", ["*"], label="revoked while idle")
    async with connect(live.ws_url, subprotocols=PROTOCOL) as ws:
        client = LiveClient(ws)
        await client.send({"type": "connection_init", "payload": {"apiKey": key}})
        assert (await client.receive())["type"] == "connection_ack"
        store.revoke(record.id)
        revoked = time.monotonic()
        code, at = await closed_with(client)
    assert code == 4403
    assert at - revoked < 1.0


async def test_a_key_that_expires_while_connected_is_closed_with_4403_within_a_second(
    live: Served, keys_file: Path
) -> None:
    key, record = KeyStore(keys_file).create("analyst", ["*"], expires_in=timedelta(seconds=2))
    assert record.expires_at is not None
    async with connect(live.ws_url, subprotocols=PROTOCOL) as ws:
        client = LiveClient(ws)
        await client.send({"type": "connection_init", "payload": {"apiKey": key}})
        assert (await client.receive())["type"] == "connection_ack"
        code, _ = await closed_with(client)
        closed_at = datetime.now(UTC)
    assert code == 4403
    assert record.expires_at <= closed_at < record.expires_at + timedelta(seconds=1)


@pytest.fixture
async def with_tokens(
    simulators: RunningSimulators, keys_file: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Served]:
    monkeypatch.setenv("CRMGRAPH_TEST_JWT_SECRET", SECRET)
    issuer = {
        "issuer": "dev",
        "audience": "crmgraph",
        "hs256_secret": {"env": "CRMGRAPH_TEST_JWT_SECRET"},
        "algorithms": ["HS256"],
        "leeway_seconds": 0,
    }
    auth: dict[str, Any] = {"keys_file": str(keys_file), "jwt": [issuer]}
    async with serve_live(simulators.base_url, keys_file, auth=auth) as served:
        yield served


async def test_a_token_past_its_exp_is_closed_with_4403_within_a_second(
    with_tokens: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="crmgraph.audit")
    exp = int(time.time()) + 2
    claims = {"iss": "dev", "aud": "crmgraph", "sub": "ada", "exp": exp, "roles": ["admin"]}
    claims["brands"] = ["*"]
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    async with connect(with_tokens.ws_url, subprotocols=PROTOCOL) as ws:
        client = LiveClient(ws)
        await client.send(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        )
        assert (await client.receive())["type"] == "connection_ack"
        await client.subscribe("subscription { ticketChanged { id } }")
        await subscribed(with_tokens)
        code, _ = await closed_with(client)
        closed_at = time.time()
    assert code == 4403
    assert exp <= closed_at < exp + 1.0
    assert lapsed_audits(caplog, "jwt:dev:ada")

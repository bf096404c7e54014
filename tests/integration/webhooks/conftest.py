"""A gateway with webhooks on, and CRM-side helpers: events shaped and signed as each CRM
sends them (the signatures are computed here, independently of app/webhooks)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from app.webhooks.store import EventStore, RedisEventStore, SQLiteEventStore
from tests.integration.gateway.conftest import keys as keys  # fixtures
from tests.integration.gateway.conftest import keys_file as keys_file
from tests.integration.gateway.conftest import serve_gateway

SECRETS = {
    "CRMGRAPH_TEST_WEBHOOK_HUBSPOT": "hubspot-app-client-secret-for-tests",
    "CRMGRAPH_TEST_WEBHOOK_ZENDESK": "zendesk-signing-secret-for-tests",
    "CRMGRAPH_TEST_WEBHOOK_PLAYERS_OLD": "players-old-secret-for-tests",
    "CRMGRAPH_TEST_WEBHOOK_PLAYERS_NEW": "players-new-secret-for-tests",
}
HUBSPOT_SECRET = SECRETS["CRMGRAPH_TEST_WEBHOOK_HUBSPOT"]
ZENDESK_SECRET = SECRETS["CRMGRAPH_TEST_WEBHOOK_ZENDESK"]
PLAYERS_OLD = SECRETS["CRMGRAPH_TEST_WEBHOOK_PLAYERS_OLD"]
PLAYERS_NEW = SECRETS["CRMGRAPH_TEST_WEBHOOK_PLAYERS_NEW"]


def webhooks_config(store_path: Path, **extra: Any) -> dict[str, Any]:
    """The ``webhooks`` section of a test gateway (its secrets put in the environment)."""
    os.environ.update(SECRETS)
    return {
        "hubspot": {"secret": {"env": "CRMGRAPH_TEST_WEBHOOK_HUBSPOT"}},
        "zendesk": {"secret": {"env": "CRMGRAPH_TEST_WEBHOOK_ZENDESK"}},
        "players": {
            "secrets": [
                {"env": "CRMGRAPH_TEST_WEBHOOK_PLAYERS_OLD"},
                {"env": "CRMGRAPH_TEST_WEBHOOK_PLAYERS_NEW"},
            ]
        },
        "store_path": str(store_path),
        "worker_interval": 0.05,
        "backoff_base": 0.01,
        **extra,
    }


@contextlib.contextmanager
def webhook_gateway(
    simulators_url: str,
    keys_file: Path,
    store_path: Path,
    webhooks: dict[str, Any] | None = None,
    **overrides: Any,
) -> Iterator[str]:
    config = webhooks_config(store_path, **(webhooks or {}))
    with serve_gateway(simulators_url, keys_file, webhooks=config, **overrides) as url:
        yield url


@contextlib.asynccontextmanager
async def opened(path: Path) -> AsyncIterator[SQLiteEventStore]:
    """The gateway's store, opened from the test (the same file, as `crmgraph dlq` does)."""
    store = SQLiteEventStore(path)
    try:
        yield store
    finally:
        await store.close()


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """Poll ``check`` until it holds, for at most ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within} s")
        await asyncio.sleep(0.02)


async def applied(store_file: Path) -> None:
    """Until the gateway's worker has applied every stored event."""
    async with opened(store_file) as store:

        async def done() -> bool:
            assert await store.dead_letter_count() == 0
            return await store.depth() == 0

        await eventually(done)


# -- the CRMs' side --------------------------------------------------------------------------


def new_id() -> str:
    return uuid.uuid4().hex


def body_of(document: Any) -> bytes:
    return json.dumps(document).encode()


def hubspot_headers(
    url: str, body: bytes, secret: str = HUBSPOT_SECRET, at: float | None = None
) -> dict[str, str]:
    timestamp = str(int((time.time() if at is None else at) * 1000))
    message = b"POST" + url.encode() + body + timestamp.encode()
    signature = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest())
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": signature.decode(),
        "X-HubSpot-Request-Timestamp": timestamp,
        "X-HubSpot-Signature-Version": "v3",
    }


def zendesk_headers(
    body: bytes, secret: str = ZENDESK_SECRET, at: float | None = None
) -> dict[str, str]:
    moment = datetime.fromtimestamp(time.time() if at is None else at, tz=UTC)
    timestamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = base64.b64encode(
        hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    )
    return {
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Signature": signature.decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        "X-Zendesk-Webhook-Id": "01TESTWEBHOOK",
    }


def players_headers(
    body: bytes, secrets: tuple[str, ...] = (PLAYERS_NEW,), at: float | None = None
) -> dict[str, str]:
    t = str(int(time.time() if at is None else at))
    v1 = [
        hmac.new(s.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest() for s in secrets
    ]
    return {
        "Content-Type": "application/json",
        "X-Signature": ",".join([f"t={t}", *(f"v1={v}" for v in v1)]),
    }


def zendesk_event(
    ticket_id: int, status: str = "solved", brand_id: int = 360003, event_id: str | None = None
) -> dict[str, Any]:
    return {
        "account_id": 1234567,
        "detail": {"id": str(ticket_id), "status": status.upper(), "brand_id": str(brand_id)},
        "event": {"current": status.upper(), "previous": "OPEN"},
        "id": event_id or str(uuid.uuid4()),
        "subject": f"zen:ticket:{ticket_id}",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "type": "zen:event-type:ticket.status_changed",
        "zendesk_event_version": "2022-11-06",
    }


def hubspot_event(
    contact_id: int, prop: str, value: str, event_id: int | None = None
) -> dict[str, Any]:
    return {
        "eventId": event_id if event_id is not None else uuid.uuid4().int % 10**9,
        "subscriptionId": 2345,
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": contact_id,
        "changeSource": "CRM_API",
        "propertyName": prop,
        "propertyValue": value,
    }


def player_event(
    player_id: str, brand: str, changes: dict[str, Any], event_id: str | None = None
) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{new_id()}",
        "type": "player.level.changed" if "level" in changes else "player.stats.updated",
        "occurred_at": int(time.time() * 1000),
        "brand": brand,
        "player_id": player_id,
        "changes": changes,
    }


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "webhooks.sqlite3"


Make = Callable[..., EventStore]


@pytest.fixture(params=["sqlite", "redis"])
async def make(
    request: pytest.FixtureRequest, tmp_path: Path, prefix: str, redis_url: str
) -> AsyncIterator[Make]:
    """Stores over one backend: each call is another process's store on the same queue."""
    made: list[EventStore] = []
    clients: list[Redis] = []

    def build(**options: float) -> EventStore:
        store: EventStore
        if request.param == "sqlite":
            store = SQLiteEventStore(tmp_path / "events.sqlite3", **options)
        else:
            redis = Redis.from_url(redis_url)
            clients.append(redis)
            store = RedisEventStore(redis, prefix, **options)
        made.append(store)
        return store

    yield build
    for store in made:
        await store.close()
    for redis in clients:
        await redis.aclose()

"""Salesforce changes are polled on SystemModstamp: a lead updated through Salesforce's REST
API (in the simulator) becomes one change, and a cached answer shows the new value."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from app.config import Settings, parse_config
from app.demo import demo_settings
from app.gateway import Gateway, build_gateway
from app.live.changes import Change
from app.simulators import credentials
from app.simulators.server import RunningSimulators
from app.webhooks.store import RedisEventStore
from tests.cancels import each_cancel_stops
from tests.integration.gateway.conftest import GraphQL, gateway_config
from tests.integration.webhooks.conftest import eventually, opened, webhook_gateway, webhooks_config
from tests.upstreams import Upstreams

API = f"/salesforce/services/data/{credentials.SALESFORCE_API_VERSION}"
QUERY = "GET /services/data/{version}/query"


@pytest.fixture
async def salesforce(
    simulators: RunningSimulators, control: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """Salesforce's REST API as another of its users would call it."""
    async with httpx.AsyncClient(base_url=simulators.base_url, timeout=10) as http:
        token = await http.post(
            "/salesforce/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": credentials.SALESFORCE_CLIENT_ID,
                "client_secret": credentials.SALESFORCE_CLIENT_SECRET,
            },
        )
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield http


async def a_lead(salesforce: httpx.AsyncClient) -> dict[str, Any]:
    answer = await salesforce.get(
        f"{API}/query", params={"q": "SELECT Id, Company FROM Lead LIMIT 1"}
    )
    record: dict[str, Any] = answer.json()["records"][0]
    return record


async def update(salesforce: httpx.AsyncClient, lead_id: str, company: str) -> None:
    response = await salesforce.patch(f"{API}/sobjects/Lead/{lead_id}", json={"Company": company})
    assert response.status_code == 204, response.text


@pytest.fixture
async def gateway(
    simulators: RunningSimulators, keys_file: Path, tmp_path: Path
) -> AsyncIterator[Gateway]:
    demo_settings(simulators.base_url)  # the simulators' credentials in the environment
    config = gateway_config(simulators.base_url, keys_file)
    config["webhooks"] = webhooks_config(tmp_path / "webhooks.sqlite3", salesforce_poll_interval=60)
    built = build_gateway(parse_config(config))
    yield built
    await built.aclose()


async def test_the_first_poll_starts_from_now_and_replays_no_history(gateway: Gateway) -> None:
    poller = gateway.salesforce_poller()
    assert poller is not None
    assert gateway.webhook_store is not None
    await poller.poll_once()
    await poller.poll_once()
    assert await gateway.webhook_store.depth() == 0
    assert await gateway.webhook_store.cursor(poller.cursor_name) is not None


async def test_a_lead_updated_in_salesforce_becomes_one_change(
    gateway: Gateway, salesforce: httpx.AsyncClient
) -> None:
    poller, worker, store = (
        gateway.salesforce_poller(),
        gateway.webhook_worker(),
        gateway.webhook_store,
    )
    assert poller is not None
    assert worker is not None
    assert store is not None
    await poller.poll_once()  # the cursor: now
    lead = await a_lead(salesforce)
    await update(salesforce, lead["Id"], "Polled Ltd")

    await poller.poll_once()
    await poller.poll_once()  # the same change is not taken twice
    assert await store.depth() == 1
    stream = gateway.bus.subscribe()
    try:
        assert await worker.run_once()
        change: Change = await anext(stream)
    finally:
        await stream.aclose()
    assert (change.entity, change.source, change.id) == (
        "lead",
        "salesforce",
        f"salesforce:{lead['Id']}",
    )
    assert change.event_id.startswith(f"salesforce:{lead['Id']}:")
    assert await store.depth() == 0

    await update(salesforce, lead["Id"], "Polled Again Ltd")  # a later change is a new event
    await poller.poll_once()
    assert await store.depth() == 1


async def test_a_polled_change_reaches_a_cached_answer(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    tmp_path: Path,
    salesforce: httpx.AsyncClient,
) -> None:
    lead = await a_lead(salesforce)
    query = f'{{ lead(id: "salesforce:{lead["Id"]}") {{ company }} }}'
    store_file = tmp_path / "webhooks.sqlite3"
    polling = {"salesforce_poll_interval": 0.05}
    cache = {"hot_ttl": 600, "cold_ttl": 600}
    with webhook_gateway(simulators.base_url, keys_file, store_file, polling, cache=cache) as url:
        async with opened(store_file) as store:
            await eventually(lambda: _has_cursor(store))  # the poller has started
        async with httpx.AsyncClient(
            base_url=url, timeout=10, headers={"X-API-Key": keys["admin"]}
        ) as http:
            gql = GraphQL(http)
            assert (await gql.data(query))["lead"]["company"] == lead["Company"]  # now cached
            await update(salesforce, lead["Id"], "Fresh From Salesforce")

            async def fresh() -> bool:
                return bool((await gql.data(query))["lead"]["company"] == "Fresh From Salesforce")

            await eventually(fresh)


async def _has_cursor(store: Any) -> bool:
    return await store.cursor("salesforce-poll:salesforce") is not None


def redis_polled(
    simulators_url: str, keys_file: Path, tmp_path: Path, redis_url: str, prefix: str
) -> Settings:
    """A gateway's settings with its webhook store in Redis, polling Salesforce every minute."""
    demo_settings(simulators_url)
    config = gateway_config(simulators_url, keys_file)
    config["webhooks"] = webhooks_config(
        tmp_path / "unused.sqlite3",
        salesforce_poll_interval=60,
        redis_url=redis_url,
        redis_prefix=prefix,
    )
    return parse_config(config)


async def test_instances_sharing_a_redis_store_take_turns_to_poll(
    simulators: RunningSimulators,
    keys_file: Path,
    tmp_path: Path,
    prefix: str,
    salesforce: httpx.AsyncClient,
    upstreams: Upstreams,
    redis_url: str,
) -> None:
    """Two gateways on one Redis store: within an interval one of them polls, not both."""
    config = redis_polled(simulators.base_url, keys_file, tmp_path, redis_url, prefix)
    one, two = build_gateway(config), build_gateway(config)
    try:
        first, second = one.salesforce_poller(), two.salesforce_poller()
        assert first is not None
        assert second is not None
        await first.poll_once()  # takes the turn: the cursor starts now
        await update(salesforce, (await a_lead(salesforce))["Id"], "Polled Once")
        before = (await upstreams.routes("salesforce")).get(QUERY, 0)
        for poller in (second, first, second):
            await poller.poll_once()
        assert (await upstreams.routes("salesforce")).get(QUERY, 0) == before
        async with Redis.from_url(redis_url) as redis:  # the interval has passed
            await redis.delete(*[key async for key in redis.scan_iter(f"{prefix}turn:*")])
        await second.poll_once()  # its turn now: one query, and the change is stored
        assert (await upstreams.routes("salesforce")).get(QUERY, 0) == before + 1
        assert two.webhook_store is not None
        assert await two.webhook_store.depth() == 1
    finally:
        await one.aclose()
        await two.aclose()


async def test_a_turn_is_taken_by_one_store_until_it_lapses(
    prefix: str, clients: tuple[Redis, Redis]
) -> None:
    one, two = RedisEventStore(clients[0], prefix), RedisEventStore(clients[1], prefix)
    assert await one.take_turn("salesforce-poll", 60)
    assert not await two.take_turn("salesforce-poll", 60)
    assert not await one.take_turn("salesforce-poll", 60)
    assert await two.take_turn("another-job", 60)
    await clients[0].delete(f"{prefix}turn:salesforce-poll")  # the interval has passed
    assert await two.take_turn("salesforce-poll", 60)


async def test_a_poller_on_redis_stops_at_one_cancel_wherever_it_lands(
    simulators: RunningSimulators, keys_file: Path, tmp_path: Path, prefix: str, redis_url: str
) -> None:
    """redis-py can lose a cancel that lands mid-command (Python 3.11's wait_for): the poller
    still stops at the first one, in the Redis store's turn or cursor or in its sleep."""
    built = build_gateway(redis_polled(simulators.base_url, keys_file, tmp_path, redis_url, prefix))
    try:
        poller = built.salesforce_poller()
        assert poller is not None
        await each_cancel_stops(poller.run, 30)
    finally:
        await built.aclose()

"""Two gateway instances sharing Redis: a change published on one reaches the subscribers of
both, once each, and the bus listener comes back after Redis drops it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from app.live.bus import RedisBus
from app.live.changes import Change
from app.simulators.server import RunningSimulators
from app.simulators.world import World
from tests.cancels import each_cancel_stops
from tests.integration.live.conftest import (
    WAIT,
    Served,
    change,
    eventually,
    serve_live,
    subscribed,
)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def pair(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    prefix: str,
    redis: Redis,
    redis_url: str,
) -> AsyncIterator[tuple[Served, Served, str]]:
    channel = f"{prefix}changes"
    shared: dict[str, Any] = {"redis_url": redis_url, "live": {"channel": channel}}
    async with (
        serve_live(simulators.base_url, keys_file, **shared) as one,
        serve_live(simulators.base_url, keys_file, **shared) as two,
    ):
        await listening(redis, channel, 2)
        yield one, two, channel


async def listening(redis: Redis, channel: str, count: int) -> None:
    async def listeners() -> bool:
        [(_, found)] = await redis.pubsub_numsub(channel)
        return int(found) == count

    await eventually(listeners, f"{count} instances listening on {channel}")


async def test_a_change_round_trips_through_redis_whole(
    redis: Redis, prefix: str, redis_url: str
) -> None:
    bus = RedisBus(redis_url, f"{prefix}changes")
    listener = asyncio.create_task(bus.run())
    try:
        await listening(redis, bus.channel, 1)
        stream = bus.subscribe()
        sent = Change(
            event_id="zendesk:evt-9",
            entity="ticket",
            source="zendesk",
            id="zendesk:9",
            brand="luckyspin",
            occurred_at=1_790_000_000.5,
            fields=("status",),
            values={"status": "SOLVED"},
        )
        await bus.publish(sent)
        async with asyncio.timeout(WAIT):
            assert await anext(stream) == sent
        await stream.aclose()
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await bus.aclose()


async def test_a_change_published_on_one_instance_reaches_both_once(
    pair: tuple[Served, Served, str], connect_as: Any, world: World
) -> None:
    one, two, _ = pair
    on_one = await connect_as(one, "admin")
    on_two = await connect_as(two, "admin")
    for client, served in ((on_one, one), (on_two, two)):
        await client.subscribe("subscription { customerChanged { id } }")
        await subscribed(served)
    first, second = world.customers[50], world.customers[51]
    await one.gateway.bus.publish(change("customer", f"hubspot:{first.hubspot_id}", None))
    await one.gateway.bus.publish(change("customer", f"hubspot:{second.hubspot_id}", None))
    for client in (on_one, on_two):
        # Each instance sends the first change once: the next message is already the second.
        assert (await client.next())["data"]["customerChanged"][
            "id"
        ] == f"hubspot:{first.hubspot_id}"
        assert (await client.next())["data"]["customerChanged"][
            "id"
        ] == f"hubspot:{second.hubspot_id}"


async def test_the_listener_reconnects_after_redis_drops_it(
    pair: tuple[Served, Served, str],
    connect_as: Any,
    world: World,
    redis: Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="app.live.bus")
    one, two, channel = pair
    client = await connect_as(two, "admin")
    await client.subscribe("subscription { customerChanged { id } }")
    await subscribed(two)
    listeners = [
        entry["id"]
        for entry in await redis.client_list(_type="pubsub")
        if entry.get("name") == f"crmgraph-bus:{channel}"
    ]
    assert len(listeners) == 2  # one per instance
    for listener in listeners:
        await redis.client_kill_filter(_id=listener)
    lost = f"change bus on {channel} failed ("
    await eventually(lambda: lost in caplog.text, "the loss to be logged")
    await listening(redis, channel, 2)
    person = world.customers[60]
    await one.gateway.bus.publish(change("customer", f"hubspot:{person.hubspot_id}", None))
    assert (await client.next())["data"]["customerChanged"]["id"] == f"hubspot:{person.hubspot_id}"
    assert f"change bus on {channel} works again, after 1 failed connection" in caplog.text


async def test_the_listener_stops_at_one_cancel_wherever_it_lands(
    redis: Redis, prefix: str, redis_url: str
) -> None:
    """redis-py can lose a cancel that lands mid-command (Python 3.11's wait_for): the
    listener still stops at the first one, while it subscribes or while it waits."""
    bus = RedisBus(redis_url, f"{prefix}changes")
    try:
        await each_cancel_stops(bus.run, 30)
    finally:
        await bus.aclose()

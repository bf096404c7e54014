"""The change bus without a network: redeliveries dropped per subscription, a stalled
subscriber losing its oldest changes and holding no one back, the bound of
what is remembered, what a subscription may be told without a lookup, and a Redis that is
not there."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import pytest

from app.auth.principal import Principal
from app.domain.ids import NodeId
from app.live.bus import BusUnavailable, MemoryBus, RedisBus
from app.live.changes import Change
from app.live.subscriptions import Watch, changes


def change(event_id: str, id: str = "hubspot:1", brand: str | None = "luckyspin") -> Change:
    return Change(event_id, "customer", "hubspot", id, brand, 0.0)


async def listening(bus: MemoryBus, remember: int) -> tuple[AsyncGenerator[Change], Any]:
    """``changes`` of ``bus``, subscribed (its first step runs until it waits), and the
    future of its first change."""
    stream = changes(bus, remember)
    first = asyncio.ensure_future(anext(stream))
    for _ in range(100):
        if bus.subscribers:
            return stream, first
        await asyncio.sleep(0)
    raise AssertionError("changes() never subscribed")


async def test_a_redelivered_event_is_passed_on_once() -> None:
    bus = MemoryBus()
    stream, first = await listening(bus, remember=100)
    for event_id in ("a", "a", "b", "a"):
        await bus.publish(change(event_id))
    assert [(await first).event_id, (await anext(stream)).event_id] == ["a", "b"]
    await stream.aclose()
    assert bus.subscribers == 0


async def test_only_the_last_events_are_remembered() -> None:
    bus = MemoryBus()
    stream, first = await listening(bus, remember=2)
    for event_id in ("a", "b", "c", "a"):
        await bus.publish(change(event_id))
    got = [(await first).event_id]
    got += [(await anext(stream)).event_id for _ in range(3)]
    assert got == ["a", "b", "c", "a"]
    await stream.aclose()


LUCKY = Principal("key:1", "api_key", ("admin",), frozenset({"luckyspin"}))


@pytest.mark.parametrize(
    ("watch", "sent", "wanted"),
    [
        (Watch("customer"), change("e"), True),
        (Watch("lead"), change("e"), False),
        (Watch("customer", id="hubspot:2"), change("e"), False),
        (Watch("customer", id="hubspot:1"), change("e"), True),
        (Watch("customer"), change("e", brand="goldcoast"), False),
        # Not named in the change: the lookup decides (and hides another brand's record).
        (Watch("customer"), change("e", brand=None), True),
    ],
)
def test_what_a_watch_can_tell_without_a_lookup(watch: Watch, sent: Change, wanted: bool) -> None:
    assert watch.wants(sent, LUCKY) is wanted


def test_filters_ask_for_the_fields_they_read() -> None:
    assert set(Watch("ticket").needs("ticket")) == set()
    assert set(Watch("ticket", statuses=frozenset()).needs("ticket")) == {"status"}
    customer = NodeId("hubspot", "1")
    assert set(Watch("ticket", customer=customer).needs("ticket")) == {"requester_id"}
    assert set(Watch("lead", customer=customer).needs("lead")) == {"email"}
    assert list(Watch("lead", customer=customer).needs("customer")) == []


async def test_without_redis_a_change_reaches_this_instance_and_the_publisher_is_told() -> None:
    bus = RedisBus("redis://127.0.0.1:1/0", "crmgraph:test:nowhere")
    stream = bus.subscribe()
    try:
        with pytest.raises(BusUnavailable, match="Redis is unavailable"):
            await bus.publish(change("a"))
        assert (await anext(stream)).event_id == "a"
    finally:
        await stream.aclose()
        await bus.aclose()


async def test_a_subscriber_that_never_reads_loses_its_oldest_and_holds_no_one_back() -> None:
    bus = MemoryBus(queue_size=10)
    stalled, reading = bus.subscribe(), bus.subscribe()
    sent = [change(f"e{i}") for i in range(25)]
    got: list[Change] = []
    for item in sent:
        await bus.publish(item)  # never waits, whoever is behind
        got += reading.ready(100)

    assert got == sent
    assert stalled.ready(100) == sent[-10:]  # the newest 10 (its queue's size), in order

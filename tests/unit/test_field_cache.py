"""The field cache over a real in-process tier, with a fake clock and a CRM stand-in that
counts what it is asked (the CRM is the edge; nothing of ours is replaced)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.cache.groups import default_groups
from app.cache.memory_tier import MemoryTier
from app.cache.records import FieldCache, Served
from app.connectors.errors import UpstreamUnavailable
from app.domain.ids import NodeId
from app.domain.models import Ticket, TicketStatus


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Zendesk:
    """Answers tickets by id with every field asked for; records each ask."""

    def __init__(self) -> None:
        self.asked: list[tuple[list[str], frozenset[str]]] = []
        self.down = False
        self.gate: asyncio.Event | None = None

    async def fetch(self, ids: list[str], fields: frozenset[str]) -> dict[str, Any]:
        self.asked.append((sorted(ids), fields))
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise UpstreamUnavailable("zendesk", "HTTP 503")
        return {
            i: Ticket(
                id=NodeId("zendesk", i),
                status=TicketStatus.OPEN,
                subject=f"subject {i}",
                brand="luckyspin",
                created_at=None,
            )
            for i in ids
            if i != "404"
        }


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(clock: Clock) -> FieldCache:
    groups = default_groups(hot_ttl=5, cold_ttl=300)
    return FieldCache(groups, MemoryTier(1000, clock=clock), max_stale=60, clock=clock)


async def load(cache: FieldCache, crm: Zendesk, ids: list[str], fields: set[str]) -> dict[str, Any]:
    return await cache.records("ticket", "zendesk", ids, fields, crm.fetch, Served())


async def test_only_the_groups_a_query_needs_are_fetched(cache: FieldCache) -> None:
    crm = Zendesk()
    await load(cache, crm, ["1"], {"subject"})
    [(_, fields)] = crm.asked
    assert "subject" in fields
    assert "status" not in fields  # hot


async def test_a_hit_costs_nothing_and_an_expired_hot_group_refetches_hot_only(
    cache: FieldCache, clock: Clock
) -> None:
    crm = Zendesk()
    await load(cache, crm, ["1", "2"], {"subject", "status"})
    await load(cache, crm, ["1", "2"], {"subject", "status"})
    assert len(crm.asked) == 1
    clock.now += 6  # past the hot TTL, within the cold
    found = await load(cache, crm, ["1", "2"], {"subject", "status"})
    assert len(crm.asked) == 2
    _, fields = crm.asked[1]
    assert "status" in fields
    assert "subject" not in fields
    assert found["1"].subject == "subject 1"


async def test_a_missing_record_is_absent_and_not_cached(cache: FieldCache) -> None:
    crm = Zendesk()
    assert "404" not in await load(cache, crm, ["404"], {"subject"})
    await load(cache, crm, ["404"], {"subject"})
    assert len(crm.asked) == 2


async def test_concurrent_loads_of_the_same_record_share_one_fetch(cache: FieldCache) -> None:
    crm = Zendesk()
    crm.gate = asyncio.Event()
    loads = [asyncio.create_task(load(cache, crm, ["7"], {"subject"})) for _ in range(10)]
    await asyncio.sleep(0)
    crm.gate.set()
    answers = await asyncio.gather(*loads)
    assert len(crm.asked) == 1
    assert {a["7"].subject for a in answers} == {"subject 7"}


async def test_a_failing_source_is_answered_stale_within_max_stale(
    cache: FieldCache, clock: Clock
) -> None:
    crm = Zendesk()
    await load(cache, crm, ["1"], {"subject", "status"})
    clock.now += 30
    crm.down = True
    served = Served()
    found = await cache.records("ticket", "zendesk", ["1"], {"status"}, crm.fetch, served)
    assert found["1"].status is TicketStatus.OPEN
    [stale] = served.stale
    assert (stale.entity, stale.id, stale.age_seconds) == ("ticket", "1", 30)


async def test_past_max_stale_the_failure_is_raised(cache: FieldCache, clock: Clock) -> None:
    crm = Zendesk()
    await load(cache, crm, ["1"], {"status"})
    clock.now += 100
    crm.down = True
    with pytest.raises(UpstreamUnavailable):
        await load(cache, crm, ["1"], {"status"})


async def test_invalidating_one_group_refetches_that_group_only(cache: FieldCache) -> None:
    crm = Zendesk()
    await load(cache, crm, ["1"], {"subject", "status"})
    await cache.invalidate("ticket", "zendesk", "1", "hot")
    await load(cache, crm, ["1"], {"subject", "status"})
    _, fields = crm.asked[-1]
    assert "status" in fields
    assert "subject" not in fields


async def test_flushing_an_entity_forgets_its_records(cache: FieldCache) -> None:
    crm = Zendesk()
    await load(cache, crm, ["1", "2"], {"subject"})
    assert await cache.flush("ticket") == 2
    await load(cache, crm, ["1", "2"], {"subject"})
    assert len(crm.asked) == 2


async def test_relations_are_cached_and_shared(cache: FieldCache, clock: Clock) -> None:
    computed: list[list[str]] = []

    async def compute(keys: list[str]) -> dict[str, Any]:
        computed.append(keys)
        return {k: [f"{k}-t1"] for k in keys}

    first = await cache.relations("tickets", "zendesk", ["a", "b"], 5, compute, Served())
    again = await cache.relations("tickets", "zendesk", ["a", "b", "c"], 5, compute, Served())
    assert first == {"a": ["a-t1"], "b": ["b-t1"]}
    assert again["c"] == ["c-t1"]
    assert computed == [["a", "b"], ["c"]]
    clock.now += 6
    await cache.relations("tickets", "zendesk", ["a"], 5, compute, Served())
    assert computed[-1] == ["a"]

"""The in-process tier: per-entry keep on an injected clock, LRU bound, counted evictions."""

from __future__ import annotations

import pytest

from app.cache.memory_tier import MemoryTier
from app.cache.tier import Entry, Tier


class Clock:
    """Seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def entry(value: object, fetched_at: float = 1_700_000_000.0) -> Entry:
    return Entry(value, fetched_at)


async def test_set_then_get_returns_the_entries_found(clock: Clock) -> None:
    tier: Tier = MemoryTier(10, clock)  # typed as the protocol: mypy checks that it is one
    await tier.set_many({"a": entry(1), "b": entry({"x": [2]})}, keep=60)
    found = await tier.get_many(["a", "b", "missing"])
    assert found == {"a": entry(1), "b": entry({"x": [2]})}


async def test_each_entry_expires_after_its_own_keep(clock: Clock) -> None:
    tier = MemoryTier(10, clock)
    await tier.set_many({"short": entry(1)}, keep=10)
    await tier.set_many({"long": entry(2)}, keep=20)
    clock.now += 9.999
    assert set(await tier.get_many(["short", "long"])) == {"short", "long"}
    clock.now += 0.001
    assert set(await tier.get_many(["short", "long"])) == {"long"}
    clock.now += 10
    assert await tier.get_many(["short", "long"]) == {}


async def test_rewriting_an_entry_renews_its_keep(clock: Clock) -> None:
    tier = MemoryTier(10, clock)
    await tier.set_many({"a": entry(1)}, keep=10)
    clock.now += 8
    await tier.set_many({"a": entry(2)}, keep=10)
    clock.now += 8
    assert await tier.get_many(["a"]) == {"a": entry(2)}


async def test_expiries_are_counted_as_evictions(clock: Clock) -> None:
    tier = MemoryTier(10, clock)
    await tier.set_many({"a": entry(1), "b": entry(2), "c": entry(3)}, keep=5)
    clock.now += 5
    assert len(tier) == 0
    assert tier.evictions == 3
    assert tier.expired == 3


async def test_least_recently_used_entry_is_evicted_and_counted(clock: Clock) -> None:
    tier = MemoryTier(2, clock)
    await tier.set_many({"a": entry(1), "b": entry(2)}, keep=60)
    await tier.get_many(["a"])  # b is now the least recently used
    await tier.set_many({"c": entry(3)}, keep=60)
    assert set(await tier.get_many(["a", "b", "c"])) == {"a", "c"}
    assert tier.evictions == 1
    assert tier.expired == 0


async def test_an_expired_entry_makes_room_before_a_live_one_is_evicted(clock: Clock) -> None:
    tier = MemoryTier(2, clock)
    await tier.set_many({"old": entry(1)}, keep=1)
    await tier.set_many({"live": entry(2)}, keep=60)
    clock.now += 2
    await tier.set_many({"new": entry(3)}, keep=60)
    assert set(await tier.get_many(["old", "live", "new"])) == {"live", "new"}
    assert (tier.evictions, tier.expired) == (1, 1)


async def test_overwrites_and_deletes_are_not_evictions(clock: Clock) -> None:
    tier = MemoryTier(2, clock)
    await tier.set_many({"a": entry(1), "b": entry(2)}, keep=60)
    await tier.set_many({"a": entry(3), "b": entry(4)}, keep=60)
    await tier.delete(["a"])
    await tier.delete_prefix("b")
    assert len(tier) == 0
    assert tier.evictions == 0


async def test_len_counts_only_live_entries(clock: Clock) -> None:
    tier = MemoryTier(10, clock)
    await tier.set_many({"a": entry(1)}, keep=5)
    await tier.set_many({"b": entry(2)}, keep=50)
    assert len(tier) == 2
    clock.now += 10
    assert len(tier) == 1


async def test_a_keep_of_zero_removes_the_entry(clock: Clock) -> None:
    tier = MemoryTier(10, clock)
    await tier.set_many({"a": entry(1)}, keep=60)
    await tier.set_many({"a": entry(2)}, keep=0)
    assert await tier.get_many(["a"]) == {}


async def test_delete_removes_only_the_keys_named(clock: Clock) -> None:
    tier = MemoryTier(10, clock)
    await tier.set_many({"a": entry(1), "b": entry(2)}, keep=60)
    await tier.delete(["a", "never-stored"])
    assert set(await tier.get_many(["a", "b"])) == {"b"}


async def test_delete_prefix_removes_only_that_prefix_and_counts(clock: Clock) -> None:
    tier = MemoryTier(100, clock)
    await tier.set_many({f"customer:hot:{i}": entry(i) for i in range(5)}, keep=60)
    await tier.set_many({"customer:cold:1": entry(1), "lead:hot:1": entry(1)}, keep=60)
    assert await tier.delete_prefix("customer:hot:") == 5
    assert len(tier) == 2
    assert set(await tier.get_many(["customer:cold:1", "lead:hot:1"])) == {
        "customer:cold:1",
        "lead:hot:1",
    }


async def test_delete_prefix_does_not_count_expired_entries(clock: Clock) -> None:
    tier = MemoryTier(10, clock)
    await tier.set_many({"p:1": entry(1)}, keep=1)
    await tier.set_many({"p:2": entry(2)}, keep=60)
    clock.now += 5
    assert await tier.delete_prefix("p:") == 1


def test_max_entries_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryTier(0)

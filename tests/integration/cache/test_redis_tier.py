"""The Redis cache tier against the test run's own real Redis (and against ones that fail)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.cache.codec import encode
from app.cache.redis_tier import RedisTier, TierUnavailable
from app.cache.tier import Entry, Tier
from app.domain.ids import NodeId
from app.domain.models import TicketStatus
from app.domain.money import Money

FETCHED = 1_741_000_000.125
RECORD = {
    "status": TicketStatus.PENDING,
    "updated_at": datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=UTC),
    "balance": Money(Decimal("12.50"), "EUR"),
    "requester": NodeId("zendesk", "42"),
    "tags": ("vip", "churn"),
}


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    name = f"crmgraph:test:cache:{uuid.uuid4().hex}:"
    yield name
    keys = [key async for key in redis.scan_iter(match=f"{name}*", count=1000)]
    if keys:
        await redis.unlink(*keys)


@pytest.fixture
def tier(redis: Redis, prefix: str) -> RedisTier:
    return RedisTier(redis, prefix)


async def test_entries_round_trip(tier: RedisTier) -> None:
    shared: Tier = tier  # typed as the protocol: mypy checks that it is one
    await shared.set_many({"ticket:hot:1": Entry(RECORD, FETCHED), "n": Entry(None, 1.0)}, 60)
    found = await shared.get_many(["ticket:hot:1", "n", "missing"])
    assert found == {"ticket:hot:1": Entry(RECORD, FETCHED), "n": Entry(None, 1.0)}
    assert type(found["ticket:hot:1"].value["tags"]) is tuple


async def test_entries_are_stored_under_the_prefix_in_the_codec_format(
    tier: RedisTier, redis: Redis, prefix: str
) -> None:
    await tier.set_many({"k": Entry([1, 2], FETCHED)}, 60)
    assert await redis.get(f"{prefix}k") == encode(([1, 2], FETCHED))


async def test_another_instance_reads_what_one_wrote(
    tier: RedisTier, prefix: str, redis_url: str
) -> None:
    other_client = Redis.from_url(redis_url)
    try:
        other = RedisTier(other_client, prefix)
        await tier.set_many({"customer:cold:1001": Entry(RECORD, FETCHED)}, 60)
        assert await other.get_many(["customer:cold:1001"]) == {
            "customer:cold:1001": Entry(RECORD, FETCHED)
        }
    finally:
        await other_client.aclose()


async def test_get_many_of_no_keys_is_empty(tier: RedisTier) -> None:
    assert await tier.get_many([]) == {}


async def test_delete_removes_only_the_keys_named(tier: RedisTier) -> None:
    await tier.set_many({"a": Entry(1, FETCHED), "b": Entry(2, FETCHED)}, 60)
    await tier.delete(["a", "never-stored"])
    assert await tier.get_many(["a", "b"]) == {"b": Entry(2, FETCHED)}


async def test_each_write_sets_its_own_expiry(tier: RedisTier, redis: Redis, prefix: str) -> None:
    await tier.set_many({"hot": Entry(1, FETCHED)}, keep=100)
    await tier.set_many({"cold": Entry(2, FETCHED)}, keep=10_000)
    hot, cold = await redis.pttl(f"{prefix}hot"), await redis.pttl(f"{prefix}cold")
    assert 50_000 < hot <= 100_000
    assert 5_000_000 < cold <= 10_000_000


async def test_a_fractional_keep_is_rounded_up_to_whole_milliseconds(
    tier: RedisTier, redis: Redis, prefix: str
) -> None:
    await tier.set_many({"k": Entry(1, FETCHED)}, keep=500.0004)
    assert 250_000 < await redis.pttl(f"{prefix}k") <= 500_001


async def test_a_keep_of_zero_removes_the_entry(tier: RedisTier) -> None:
    await tier.set_many({"k": Entry(1, FETCHED)}, keep=60)
    await tier.set_many({"k": Entry(2, FETCHED)}, keep=0)
    assert await tier.get_many(["k"]) == {}


async def test_a_value_the_codec_cannot_hold_writes_nothing(tier: RedisTier) -> None:
    with pytest.raises(TypeError, match="set"):
        await tier.set_many({"good": Entry(1, FETCHED), "bad": Entry({1, 2}, FETCHED)}, 60)
    assert await tier.get_many(["good", "bad"]) == {}


async def test_delete_prefix_removes_only_that_prefix_across_scan_pages(
    tier: RedisTier, redis: Redis, prefix: str
) -> None:
    await tier.set_many({f"customer:hot:{i}": Entry(i, FETCHED) for i in range(1200)}, 60)
    await tier.set_many({"customer:cold:1": Entry(1, FETCHED)}, 60)
    await tier.set_many({"customer:hot": Entry(1, FETCHED)}, 60)  # no trailing colon
    await redis.set(f"{prefix[:-1]}-sibling:customer:hot:1", b"not this tier's", px=60_000)

    assert await tier.delete_prefix("customer:hot:") == 1200

    assert await tier.get_many([f"customer:hot:{i}" for i in range(1200)]) == {}
    left = {key async for key in redis.scan_iter(match=f"{prefix[:-1]}*", count=1000)}
    assert left == {
        f"{prefix}customer:cold:1".encode(),
        f"{prefix}customer:hot".encode(),
        f"{prefix[:-1]}-sibling:customer:hot:1".encode(),
    }
    await redis.unlink(f"{prefix[:-1]}-sibling:customer:hot:1")


async def test_delete_prefix_takes_glob_characters_literally(tier: RedisTier) -> None:
    await tier.set_many({"a*[b]?\\1": Entry(1, FETCHED), "ax[b]?\\1": Entry(2, FETCHED)}, 60)
    await tier.set_many({"a*b1": Entry(3, FETCHED)}, 60)
    assert await tier.delete_prefix("a*[b]?\\") == 1
    assert set(await tier.get_many(["a*[b]?\\1", "ax[b]?\\1", "a*b1"])) == {"ax[b]?\\1", "a*b1"}


async def test_delete_prefix_of_nothing_empties_the_tier(tier: RedisTier) -> None:
    await tier.set_many({"a": Entry(1, FETCHED), "b:c": Entry(2, FETCHED)}, 60)
    assert await tier.delete_prefix("") == 2
    assert await tier.get_many(["a", "b:c"]) == {}


async def test_a_corrupt_value_is_a_miss_and_counted(
    tier: RedisTier, redis: Redis, prefix: str
) -> None:
    await tier.set_many({"good": Entry(1, FETCHED)}, 60)
    await redis.set(f"{prefix}garbage", b"\x00not ours", px=60_000)
    await redis.set(f"{prefix}old-version", b'cg0:{"a":1}', px=60_000)
    await redis.set(f"{prefix}not-a-pair", encode("just a value"), px=60_000)
    await redis.set(f"{prefix}bad-time", encode((1, "yesterday")), px=60_000)

    found = await tier.get_many(["good", "garbage", "old-version", "not-a-pair", "bad-time"])

    assert found == {"good": Entry(1, FETCHED)}
    assert tier.corrupt == 4


async def test_a_corrupt_value_is_replaced_by_the_next_write(
    tier: RedisTier, redis: Redis, prefix: str
) -> None:
    await redis.set(f"{prefix}k", b"garbage", px=60_000)
    await tier.set_many({"k": Entry(1, FETCHED)}, 60)
    assert await tier.get_many(["k"]) == {"k": Entry(1, FETCHED)}
    assert tier.corrupt == 0


async def test_ping_answers_true_when_redis_is_up(tier: RedisTier) -> None:
    assert await tier.ping() is True


async def test_a_client_that_decodes_responses_is_refused(redis_url: str) -> None:
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        with pytest.raises(ValueError, match="decode_responses"):
            RedisTier(client)
    finally:
        await client.aclose()


# --- a Redis that fails --------------------------------------------------------------------

Operation = Callable[[RedisTier], Awaitable[object]]
OPERATIONS: dict[str, Operation] = {
    "get_many": lambda tier: tier.get_many(["a", "b"]),
    "set_many": lambda tier: tier.set_many({"a": Entry(1, FETCHED)}, 60),
    "delete": lambda tier: tier.delete(["a"]),
    "delete_prefix": lambda tier: tier.delete_prefix("a"),
}


def fast_failing_client(port: int) -> Redis:
    return Redis(
        host="127.0.0.1",
        port=port,
        socket_connect_timeout=0.2,
        socket_timeout=0.2,
        retry=Retry(NoBackoff(), 0),
    )


@pytest.fixture
async def down() -> AsyncIterator[RedisTier]:
    """A tier whose Redis refuses connections (nothing listens on port 1)."""
    client = fast_failing_client(1)
    yield RedisTier(client, "crmgraph:test:cache:down:")
    await client.aclose()


@pytest.fixture
async def silent() -> AsyncIterator[RedisTier]:
    """A tier whose Redis accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read()  # until the client hangs up

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = fast_failing_client(port)
    yield RedisTier(client, "crmgraph:test:cache:silent:")
    await client.aclose()
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize("operation", OPERATIONS.values(), ids=OPERATIONS.keys())
async def test_a_refused_connection_is_tier_unavailable_naming_only_the_class(
    down: RedisTier, operation: Operation
) -> None:
    # The bound only keeps a broken retry setting from hanging the suite; refusal is instant.
    async with asyncio.timeout(10):
        with pytest.raises(TierUnavailable) as raised:
            await operation(down)
    message = str(raised.value)
    assert "ConnectionError" in message
    assert "127.0.0.1" not in message
    assert ":1" not in message
    assert raised.value.__cause__ is None


@pytest.mark.parametrize("operation", OPERATIONS.values(), ids=OPERATIONS.keys())
async def test_a_redis_that_never_answers_is_tier_unavailable(
    silent: RedisTier, operation: Operation
) -> None:
    async with asyncio.timeout(10):
        with pytest.raises(TierUnavailable, match="TimeoutError"):
            await operation(silent)


async def test_ping_answers_false_when_redis_is_down(down: RedisTier) -> None:
    async with asyncio.timeout(10):
        assert await down.ping() is False


async def test_ping_answers_false_when_redis_never_answers(silent: RedisTier) -> None:
    async with asyncio.timeout(10):
        assert await silent.ping() is False

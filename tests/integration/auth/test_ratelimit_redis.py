"""The Redis rate limiter against the test run's own real Redis server."""

from __future__ import annotations

import asyncio
import socket

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.auth.ratelimit import RateLimiterUnavailable, RedisRateLimiter

# Slow enough that nothing refills while a test runs (one unit every 100 s).
SLOW = 0.01


async def test_two_instances_share_one_budget_exactly(
    clients: tuple[Redis, Redis], prefix: str
) -> None:
    one = RedisRateLimiter(clients[0], SLOW, burst=5, prefix=prefix)
    two = RedisRateLimiter(clients[1], SLOW, burst=5, prefix=prefix)
    allowed = [
        (await limiter.acquire("caller", 1)).allowed for limiter in (one, two, one, two, one)
    ]
    assert allowed == [True] * 5
    assert not (await two.acquire("caller", 1)).allowed
    assert not (await one.acquire("caller", 1)).allowed


async def test_concurrent_requests_from_two_instances_never_overspend(
    clients: tuple[Redis, Redis], prefix: str
) -> None:
    one = RedisRateLimiter(clients[0], SLOW, burst=10, prefix=prefix)
    two = RedisRateLimiter(clients[1], SLOW, burst=10, prefix=prefix)
    decisions = await asyncio.gather(
        *(limiter.acquire("caller", 1) for _ in range(20) for limiter in (one, two))
    )
    assert sum(d.allowed for d in decisions) == 10


async def test_retry_after_is_honoured(clients: tuple[Redis, Redis], prefix: str) -> None:
    limiter = RedisRateLimiter(clients[0], 20, burst=1, prefix=prefix)
    assert (await limiter.acquire("caller", 1)).allowed
    refused = await limiter.acquire("caller", 1)
    assert not refused.allowed
    assert 0 < refused.retry_after <= 0.05
    await asyncio.sleep(refused.retry_after + 0.01)
    assert (await limiter.acquire("caller", 1)).allowed


async def test_costs_are_weighted(clients: tuple[Redis, Redis], prefix: str) -> None:
    limiter = RedisRateLimiter(clients[0], SLOW, burst=10, prefix=prefix)
    spent = await limiter.acquire("caller", 7)
    assert (spent.allowed, spent.remaining) == (True, 3)
    refused = await limiter.acquire("caller", 4)
    assert not refused.allowed
    assert 99 < refused.retry_after <= 100  # one unit short, at 100 s a unit
    assert (await limiter.acquire("caller", 3)).allowed
    assert not (await limiter.acquire("caller", 1)).allowed


async def test_a_cost_above_burst_takes_the_whole_budget(
    clients: tuple[Redis, Redis], prefix: str
) -> None:
    limiter = RedisRateLimiter(clients[0], SLOW, burst=5, prefix=prefix)
    first = await limiter.acquire("caller", 500)
    assert (first.allowed, first.remaining) == (True, 0)
    assert not (await limiter.acquire("caller", 1)).allowed


async def test_callers_have_separate_budgets(clients: tuple[Redis, Redis], prefix: str) -> None:
    limiter = RedisRateLimiter(clients[0], SLOW, burst=1, prefix=prefix)
    assert (await limiter.acquire("a", 1)).allowed
    assert (await limiter.acquire("b", 1)).allowed


async def test_the_key_expires_when_the_budget_is_full_again(
    clients: tuple[Redis, Redis], prefix: str
) -> None:
    limiter = RedisRateLimiter(clients[0], 2, burst=10, prefix=prefix)
    await limiter.acquire("caller", 3)
    ttl = await clients[0].pttl(limiter.key("caller"))
    assert 0 < ttl <= 1500  # 3 units at 2 a second


async def test_a_refused_request_neither_charges_nor_extends_the_key(
    clients: tuple[Redis, Redis], prefix: str
) -> None:
    limiter = RedisRateLimiter(clients[0], SLOW, burst=2, prefix=prefix)
    await limiter.acquire("caller", 2)
    stored = await clients[0].get(limiter.key("caller"))
    assert not (await limiter.acquire("caller", 1)).allowed
    assert await clients[0].get(limiter.key("caller")) == stored


async def test_an_unreachable_redis_is_reported_as_unavailable(prefix: str) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # No retries: redis-py's default (3, with backoff) only makes the test slower.
    client = Redis(
        host="127.0.0.1", port=port, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
    )
    limiter = RedisRateLimiter(client, 1, burst=1, prefix=prefix)
    try:
        with pytest.raises(RateLimiterUnavailable, match="unavailable"):
            await limiter.acquire("caller", 1)
    finally:
        await client.aclose()

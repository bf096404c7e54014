"""Rate budgets over the test run's own real Redis: one configured pace for every instance."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.auth.ratelimit import RedisRateLimiter
from app.connectors.errors import UpstreamRateLimited
from app.connectors.hubspot.ratelimit import HubSpotRates
from app.resilience.budget import SourceBudget

# Slow enough that nothing refills while a test runs (one request every 100 s).
SLOW = 0.01


@pytest.fixture
async def dead_redis() -> AsyncIterator[Redis]:
    """A client of a loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = Redis(
        host="127.0.0.1", port=port, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
    )
    yield client
    await client.aclose()


class Sleeps:
    """A real asyncio sleep that records what it was asked for."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        await asyncio.sleep(seconds)


def instance(redis: Redis, prefix: str, rate: float, burst: int) -> tuple[SourceBudget, Sleeps]:
    """One gateway instance's budget of the ``hubspot`` source."""
    sleeps = Sleeps()
    limiter = RedisRateLimiter(redis, rate, burst, prefix=prefix)
    return SourceBudget("hubspot", HubSpotRates(), limiter, sleep=sleeps), sleeps


def soon() -> float:
    return time.monotonic() + 1


async def test_two_instances_share_one_configured_budget(
    clients: tuple[Redis, Redis], prefix: str
) -> None:
    (one, _), (two, _) = (instance(c, prefix, SLOW, burst=5) for c in clients)
    for budget in (one, two, one, two, one):
        await budget.acquire(soon())
    for budget in (two, one):
        with pytest.raises(UpstreamRateLimited) as refused:
            await budget.acquire(soon())
        assert refused.value.retry_after is not None
        assert 99 < refused.value.retry_after <= 100  # the next request, at 100 s a request


async def test_concurrent_requests_from_two_instances_never_overspend(
    clients: tuple[Redis, Redis], prefix: str
) -> None:
    (one, _), (two, _) = (instance(c, prefix, SLOW, burst=10) for c in clients)
    outcomes = await asyncio.gather(
        *(budget.acquire(soon()) for _ in range(20) for budget in (one, two)),
        return_exceptions=True,
    )
    assert sum(outcome is None for outcome in outcomes) == 10
    assert all(isinstance(o, UpstreamRateLimited) for o in outcomes if o is not None)


async def test_an_instance_waits_for_the_budget_the_other_spent(
    clients: tuple[Redis, Redis], prefix: str
) -> None:
    (one, _), (two, waits) = (instance(c, prefix, 20, burst=1) for c in clients)
    await one.acquire(None)
    await two.acquire(None)
    assert waits.slept  # it waited for the shared pace (one request every 50 ms)
    assert all(0 < seconds <= 0.05 for seconds in waits.slept)


async def test_a_pause_that_begins_while_the_store_answers_holds_the_request(
    clients: tuple[Redis, Redis], prefix: str
) -> None:
    budget, sleeps = instance(clients[0], prefix, SLOW, burst=5)
    request = asyncio.create_task(budget.acquire(soon()))
    await asyncio.sleep(0)  # the request is now waiting on Redis
    budget.observe(429, {"Retry-After": "30"})
    with pytest.raises(UpstreamRateLimited) as refused:
        await request
    assert refused.value.retry_after == pytest.approx(30, abs=1)
    assert sleeps.slept == []


async def test_an_unavailable_store_falls_back_to_the_headers_and_logs_once(
    dead_redis: Redis, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    budget, sleeps = instance(dead_redis, prefix, SLOW, burst=1)
    with caplog.at_level(logging.WARNING, logger="app.resilience.budget"):
        for _ in range(3):
            await budget.acquire(soon())
    assert sleeps.slept == []
    warnings = [r for r in caplog.records if r.name == "app.resilience.budget"]
    assert len(warnings) == 1
    assert "headers alone" in warnings[0].getMessage()


async def test_without_the_store_a_429_still_pauses(dead_redis: Redis, prefix: str) -> None:
    budget, sleeps = instance(dead_redis, prefix, SLOW, burst=1)
    budget.observe(429, {"Retry-After": "30"})
    with pytest.raises(UpstreamRateLimited) as refused:
        await budget.acquire(soon())
    assert refused.value.retry_after == pytest.approx(30, abs=1)
    assert sleeps.slept == []

"""``/readyz`` asks every Redis at once, each for at most ``redis_timeout``.

Before, it asked them one after the other, each for as long as its client waits (0.25 s,
and 1 s for the webhook store's). With a Redis that takes connections and never answers, the
probe took ~1.5 s: over Kubernetes' 1 s probe timeout, so every instance would have left the
Service because Redis was away, where the design says Redis down is "degraded", not "not
ready". The Redis servers here speak RESP over loopback (``tests.redis_server.HeldRedis``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from redis.asyncio import Redis

from app.config import REDIS_TIMEOUT
from app.main import answering
from app.simulators.server import RunningSimulators
from tests.integration.gateway.conftest import serve_gateway
from tests.redis_server import HeldRedis


async def test_every_redis_is_asked_before_any_answers() -> None:
    one, two = HeldRedis(frozenset({b"PING"})), HeldRedis(frozenset({b"PING"}))
    async with one.serving() as first, two.serving() as second:
        clients = [Redis.from_url(url, socket_timeout=30) for url in (first, second)]
        try:
            asked = asyncio.create_task(answering([c.ping() for c in clients], within=30))
            async with asyncio.timeout(10):
                # Both pings reach their servers while neither has been answered (one after
                # the other, the second would wait for the first's answer, or its 30 s).
                while not (one.received and two.received):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            one.gate.set()
            two.gate.set()
            assert await asked == [True, True]
        finally:
            for client in clients:
                await client.aclose()


async def test_a_redis_that_does_not_answer_is_down_and_another_up(redis_url: str) -> None:
    silent = HeldRedis(frozenset({b"PING"}))
    async with silent.serving() as url:
        clients = [Redis.from_url(url, socket_timeout=30), Redis.from_url(redis_url)]
        try:
            assert await answering([c.ping() for c in clients], REDIS_TIMEOUT) == [False, True]
        finally:
            for client in clients:
                await client.aclose()


async def test_readyz_with_redis_not_answering_is_degraded_not_unready(
    simulators: RunningSimulators, keys_file: Path
) -> None:
    silent = HeldRedis(frozenset({b"PING"}))
    async with silent.serving() as url:
        with serve_gateway(
            simulators.base_url,
            keys_file,
            redis_url=url,
            redis_timeout=REDIS_TIMEOUT,
            cache={"enabled": True, "redis_url": url},
        ) as gateway:
            async with httpx.AsyncClient(base_url=gateway, timeout=30) as http:
                ready = await http.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "degraded"
    assert body["cache"] == {"shared_tier": "down"}
    assert body["redis"] == "down"

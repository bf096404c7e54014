"""Idempotency keys: claimed once, answered again, released on failure; shared through a real
Redis, and kept by the local store when Redis is out of reach."""

from __future__ import annotations

import uuid
from pathlib import Path

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.writes.idempotency import IN_PROGRESS, IdempotencyStore, SharedIdempotencyStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_key_is_claimed_once_then_answers_its_outcome(tmp_path: Path) -> None:
    store = IdempotencyStore(tmp_path / "keys.sqlite3")
    assert await store.claim("k") is None
    assert await store.claim("k") == IN_PROGRESS
    await store.settle("k", {"status": "APPLIED"})
    assert await store.claim("k") == {"status": "APPLIED"}


async def test_a_released_key_may_be_claimed_again(tmp_path: Path) -> None:
    store = IdempotencyStore(tmp_path / "keys.sqlite3")
    await store.claim("k")
    await store.settle("k", None)
    assert await store.claim("k") is None


async def test_keys_expire_after_the_window_and_survive_a_reopen(tmp_path: Path) -> None:
    clock = Clock()
    store = IdempotencyStore(tmp_path / "keys.sqlite3", window_seconds=60, clock=clock)
    await store.claim("k")
    await store.settle("k", {"status": "QUEUED"})
    reopened = IdempotencyStore(tmp_path / "keys.sqlite3", window_seconds=60, clock=clock)
    assert await reopened.claim("k") == {"status": "QUEUED"}
    clock.now += 61
    assert await reopened.claim("k") is None


async def test_two_instances_share_claims_through_redis(
    tmp_path: Path, clients: tuple[Redis, Redis], prefix: str
) -> None:
    one = SharedIdempotencyStore(clients[0], IdempotencyStore(tmp_path / "a"), prefix=prefix)
    two = SharedIdempotencyStore(clients[1], IdempotencyStore(tmp_path / "b"), prefix=prefix)
    assert await one.claim("k") is None
    assert await two.claim("k") == IN_PROGRESS
    await one.settle("k", {"status": "APPLIED", "record_id": "salesforce:1"})
    assert await two.claim("k") == {"status": "APPLIED", "record_id": "salesforce:1"}
    assert 0 < await clients[0].ttl(prefix + "k") <= 86_400


async def test_with_redis_unreachable_the_local_store_keeps_the_promise(tmp_path: Path) -> None:
    dead = Redis(
        host="127.0.0.1",
        port=1,
        socket_connect_timeout=0.2,
        socket_timeout=0.2,
        retry=Retry(NoBackoff(), 0),
    )
    store = SharedIdempotencyStore(
        dead, IdempotencyStore(tmp_path / "keys.sqlite3"), prefix=f"t:{uuid.uuid4().hex}:"
    )
    try:
        assert await store.claim("k") is None
        await store.settle("k", {"status": "APPLIED"})
        assert await store.claim("k") == {"status": "APPLIED"}
    finally:
        await dead.aclose()

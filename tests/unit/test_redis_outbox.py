"""What only the Redis outbox has: several instances on the same keys, leases renewed by a live
worker and recovered from a dead one, the shared import ledger, and the settings that pick it.
(The common contract runs on both backends in test_outbox.py.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from app.config import ConfigError, parse_config
from app.demo import demo_config
from app.writes.backends import import_ledger, open_outbox
from app.writes.importer import FileLedger, RedisLedger
from app.writes.outbox import Outbox
from app.writes.redis_outbox import RedisOutbox
from app.writes.worker import OutboxWorker

LEASE = 60.0


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def pair(
    clients: tuple[Redis, Redis], prefix: str, clock: Clock
) -> AsyncIterator[tuple[RedisOutbox, RedisOutbox]]:
    """Two instances: each its own Redis connection, the same keys."""
    one, two = (RedisOutbox(c, prefix, clock=clock, lease_seconds=LEASE) for c in clients)
    yield one, two
    await one.close()
    await two.close()


async def test_two_instances_never_claim_the_same_job_and_keep_each_records_order(
    pair: tuple[RedisOutbox, RedisOutbox],
) -> None:
    a, b = pair
    enqueued: dict[str, list[str]] = {}
    for n in range(4):  # interleaved: record 0, 1, ..., 9, then each again
        for record in range(10):
            job = await (a if n % 2 else b).enqueue(
                "salesforce", "lead", f"lead:{record}", "update_lead", {"n": n}
            )
            enqueued.setdefault(job.record_key, []).append(job.id)
    applied: dict[str, list[str]] = {}
    claimed: list[str] = []
    while True:
        got_a, got_b = await asyncio.gather(a.claim_due(limit=4), b.claim_due(limit=4))
        if not got_a and not got_b:
            break
        in_flight = [job.record_key for job in got_a + got_b]
        assert len(in_flight) == len(set(in_flight))  # at most one job per record in flight
        claimed += [job.id for job in got_a + got_b]
        for box, jobs in ((a, got_a), (b, got_b)):
            for job in jobs:
                await box.applied(job.id, {})
                applied.setdefault(job.record_key, []).append(job.id)
    assert len(claimed) == len(set(claimed)) == 40  # every job once, none by both
    assert applied == enqueued  # each record's jobs in the order they were enqueued
    assert (await a.depth())["applied"] == 40


async def test_a_dead_instances_job_goes_to_another_once_its_lease_runs_out(
    pair: tuple[RedisOutbox, RedisOutbox], clock: Clock
) -> None:
    dead, alive = pair
    job = await dead.enqueue("salesforce", "lead", "lead:1", "create_lead", {})
    later = await alive.enqueue("salesforce", "lead", "lead:1", "update_lead", {})
    assert [j.id for j in await dead.claim_due()] == [job.id]
    await dead.close()  # it stops renewing: the instance died mid-write

    clock.now += LEASE - 1
    assert await alive.recover() == 0  # still within its lease: maybe it is only slow
    assert await alive.claim_due() == []
    clock.now += 1
    assert await alive.recover() == 1
    [again] = await alive.claim_due()
    assert (again.id, again.state, again.attempts) == (job.id, "applying", 0)
    await alive.applied(job.id, {"record_id": "salesforce:00Q1"})
    assert [j.id for j in await alive.claim_due()] == [later.id]  # the record's order held


async def test_keepalive_keeps_a_long_write_from_being_recovered(
    pair: tuple[RedisOutbox, RedisOutbox], clock: Clock
) -> None:
    busy, other = pair
    job = await busy.enqueue("salesforce", "lead", "import:1", "import_leads", {})
    await busy.claim_due()
    for _ in range(5):  # five leases long, renewed as the worker does
        clock.now += LEASE / 3
        assert await busy.keepalive([job.id]) == 1
        clock.now += LEASE / 3
        assert await other.recover() == 0
    clock.now += LEASE
    assert await other.recover() == 1  # once renewals stop, the lease runs out
    assert await busy.keepalive([job.id]) == 0  # and a late renewal does not take it back


async def test_a_dropped_jobs_stale_entry_does_not_take_a_claims_slot(
    pair: tuple[RedisOutbox, RedisOutbox],
) -> None:
    a, _ = pair
    dropped = await a.enqueue("salesforce", "lead", "lead:1", "update_lead", {})
    kept = await a.enqueue("salesforce", "lead", "lead:2", "update_lead", {})
    await a.drop(dropped.id)
    assert [j.id for j in await a.claim_due(limit=1)] == [kept.id]
    assert await a.claim_due() == []


async def test_the_worker_renews_its_leases_and_recovers_a_dead_instances_jobs(
    clients: tuple[Redis, Redis], prefix: str
) -> None:
    """Real time and a short lease: a write that takes several leases stays with its worker,
    and a job a dead instance left applying is recovered and applied by the live one."""
    lease = 0.3
    dead = RedisOutbox(clients[0], prefix, lease_seconds=lease)
    box = RedisOutbox(clients[1], prefix, lease_seconds=lease)
    orphan = await dead.enqueue("salesforce", "lead", "lead:a", "create_lead", {"name": "orphan"})
    assert [j.id for j in await dead.claim_due()] == [orphan.id]
    slow = await box.enqueue("salesforce", "lead", "lead:b", "update_lead", {"name": "slow"})
    release = asyncio.Event()
    started = asyncio.Event()
    seen: list[str] = []

    async def handler(payload: dict[str, Any]) -> dict[str, Any]:
        seen.append(payload["name"])
        if payload["name"] == "slow":
            started.set()
            await release.wait()
        return {}

    worker = OutboxWorker(box, {"create_lead": handler, "update_lead": handler}, interval=0.02)
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(started.wait(), 10)
        first_expiry = await clients[0].zscore(f"{prefix}leases", slow.id)
        assert first_expiry is not None
        deadline = time.monotonic() + 10
        while True:  # until the slow job's lease has been renewed past three leases
            job = await box.get(slow.id)
            assert job is not None
            assert job.state == "applying"
            score = await clients[0].zscore(f"{prefix}leases", slow.id)
            if score is not None and score > first_expiry + 3 * lease:
                break
            assert time.monotonic() < deadline, "the lease was not renewed"
            await asyncio.sleep(0.05)
        orphaned = await box.get(orphan.id)
        assert orphaned is not None
        assert orphaned.state == "applied"
        release.set()
        while (done := await box.get(slow.id)) is not None and done.state != "applied":
            assert time.monotonic() < deadline + 10
            await asyncio.sleep(0.02)
        assert sorted(seen) == ["orphan", "slow"]  # each applied once
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await dead.close()
        await box.close()


async def test_the_redis_ledger_is_read_back_by_another_instance(
    clients: tuple[Redis, Redis], prefix: str
) -> None:
    first = RedisLedger(clients[0], f"{prefix}import:1")
    await first.load()
    await first.sending([1, 2, 3], 1700000000.25)
    await first.record([(1, "00Q1"), (2, "00Q2")])
    second = RedisLedger(clients[1], f"{prefix}import:1")
    await second.load()
    assert second.created == {1: "00Q1", 2: "00Q2"}
    assert (second.in_doubt(1), second.in_doubt(3)) == (None, 1700000000.25)


def settings(tmp_path: Path, writes: dict[str, Any], **top: Any) -> Any:
    config = demo_config("http://127.0.0.1:9", tmp_path / "keys.json")
    config["writes"] = writes
    config.update(top)
    return parse_config(config, check_secrets=False)


def test_backend_redis_without_any_redis_url_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        settings(tmp_path, {"backend": "redis"})
    assert [path for path, _ in raised.value.problems] == ["writes.backend"]
    assert "redis_url" in raised.value.problems[0][1]


async def test_the_backend_setting_picks_the_outbox_and_its_ledgers(
    tmp_path: Path, prefix: str, redis_url: str
) -> None:
    local = open_outbox(settings(tmp_path, {"outbox_path": str(tmp_path / "o.sqlite3")}))
    shared = open_outbox(
        settings(
            tmp_path,
            {"backend": "redis", "redis_prefix": prefix, "lease_seconds": 5},
            redis_url=redis_url,  # the top-level URL, as the fallback
        )
    )
    async with local, shared:
        assert isinstance(local, Outbox)
        assert isinstance(shared, RedisOutbox)
        assert (shared.prefix, shared.lease_seconds) == (prefix, 5)
        job = await shared.enqueue("salesforce", "lead", "lead:1", "create_lead", {})
        assert (await shared.get(job.id)) == job
        file_ledger = import_ledger(local, "x")
        assert isinstance(file_ledger, FileLedger)
        assert file_ledger.path == tmp_path / "o.sqlite3.imports" / "x.ledger"
        ledger = import_ledger(shared, "x")
        assert isinstance(ledger, RedisLedger)
        assert ledger.key == f"{prefix}import:x"

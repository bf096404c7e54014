"""The durable outbox, with an injected clock: every test on both backends, a real SQLite
file and a real Redis (the test run's own, keys under the test's own prefix)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from app.writes.backends import AnyOutbox
from app.writes.outbox import InvalidTransition, JobNotFound, Outbox, OutboxError, backoff
from app.writes.redis_outbox import RedisOutbox

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
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite3"


MakeOutbox = Callable[[], AnyOutbox]


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def make_outbox(
    backend: str, db_path: Path, clock: Clock, prefix: str, clients: tuple[Redis, Redis]
) -> AsyncIterator[MakeOutbox]:
    """A new outbox on the same storage each call: the same SQLite file, or the same Redis
    keys through the two clients in turn (as two instances would)."""
    made: list[AnyOutbox] = []

    def make() -> AnyOutbox:
        box: AnyOutbox
        if backend == "sqlite":
            box = Outbox(db_path, clock=clock)
        else:
            box = RedisOutbox(clients[len(made) % 2], prefix, clock=clock, lease_seconds=LEASE)
        made.append(box)
        return box

    yield make
    for box in made:
        await box.close()


@pytest.fixture
def outbox(make_outbox: MakeOutbox) -> AnyOutbox:
    return make_outbox()


async def lead(box: AnyOutbox, key: str = "lead:00Q1", email: str = "a@example.com") -> str:
    job = await box.enqueue("salesforce", "lead", key, "update_lead", {"email": email})
    return job.id


async def test_enqueued_job_is_queued_and_due_now(outbox: AnyOutbox, clock: Clock) -> None:
    job = await outbox.enqueue("salesforce", "lead", "lead:00Q1", "create_lead", {"n": 1})
    assert job.id.startswith("job_")
    assert job.state == "queued"
    assert job.attempts == 0
    assert job.next_attempt_at == clock.now
    assert job.created_at == job.updated_at == clock.now
    assert job.payload == {"n": 1}
    assert job.last_error is None
    assert job.result is None
    assert await outbox.get(job.id) == job


async def test_get_of_an_unknown_id_is_none(outbox: AnyOutbox) -> None:
    assert await outbox.get("job_nope") is None


async def test_claim_marks_applying_and_applied_keeps_the_result(
    outbox: AnyOutbox, clock: Clock
) -> None:
    job_id = await lead(outbox)
    clock.now += 1
    [claimed] = await outbox.claim_due()
    assert claimed.id == job_id
    assert claimed.state == "applying"
    assert claimed.updated_at == clock.now
    assert await outbox.claim_due() == []  # nobody else gets it

    clock.now += 1
    done = await outbox.applied(job_id, {"id": "00Q1", "success": True})
    assert done.state == "applied"
    assert done.result == {"id": "00Q1", "success": True}
    assert await outbox.get(job_id) == done
    assert await outbox.claim_due() == []


async def test_claim_returns_jobs_of_different_records_oldest_first_up_to_limit(
    outbox: AnyOutbox,
) -> None:
    ids = [await lead(outbox, key=f"lead:{i}") for i in range(5)]
    first = await outbox.claim_due(limit=3)
    assert [j.id for j in first] == ids[:3]
    second = await outbox.claim_due(limit=3)
    assert [j.id for j in second] == ids[3:]


async def test_a_later_job_of_the_same_record_waits_until_the_first_is_applied(
    outbox: AnyOutbox,
) -> None:
    first = await lead(outbox, email="one@example.com")
    second = await lead(outbox, email="two@example.com")
    other = await lead(outbox, key="lead:00Q2")

    claimed = await outbox.claim_due(limit=10)
    assert [j.id for j in claimed] == [first, other]  # at most one per record
    assert await outbox.claim_due() == []  # the second waits while the first is applying

    await outbox.applied(first, {})
    assert [j.id for j in await outbox.claim_due()] == [second]


async def test_a_later_job_waits_while_the_first_is_backing_off(
    outbox: AnyOutbox, clock: Clock
) -> None:
    first = await lead(outbox)
    second = await lead(outbox)
    await outbox.claim_due()
    await outbox.retry_later(first, "503 Service Unavailable", delay=10, max_attempts=5)
    assert await outbox.claim_due() == []  # the first is not due, and the second is behind it
    clock.now += 10
    assert [j.id for j in await outbox.claim_due()] == [first]
    await outbox.applied(first, {})
    assert [j.id for j in await outbox.claim_due()] == [second]


async def test_dropping_the_first_job_releases_the_second(outbox: AnyOutbox) -> None:
    first = await lead(outbox)
    second = await lead(outbox)
    await outbox.drop(first)
    assert [j.id for j in await outbox.claim_due()] == [second]


async def test_a_failed_job_blocks_later_jobs_of_its_record_only(outbox: AnyOutbox) -> None:
    first = await lead(outbox)
    second = await lead(outbox)
    other = await lead(outbox, key="lead:00Q2")
    claimed = await outbox.claim_due()
    assert {j.id for j in claimed} == {first, other}
    await outbox.retry_later(first, "400 INVALID_FIELD", delay=0, max_attempts=1)
    await outbox.applied(other, {})
    # Parked as failed, the first still holds up the second: no write overtakes a lost one.
    assert await outbox.claim_due() == []
    # The operator's retry lets the first go again, still ahead of the second.
    await outbox.retry(first)
    assert [j.id for j in await outbox.claim_due()] == [first]
    await outbox.applied(first, {})
    assert [j.id for j in await outbox.claim_due()] == [second]


async def test_retry_later_counts_the_attempt_and_requeues_after_the_delay(
    outbox: AnyOutbox, clock: Clock
) -> None:
    job_id = await lead(outbox)
    await outbox.claim_due()
    job = await outbox.retry_later(job_id, "timeout", delay=4.5, max_attempts=3)
    assert job.state == "queued"
    assert job.attempts == 1
    assert job.last_error == "timeout"
    assert job.next_attempt_at == clock.now + 4.5
    clock.now += 4
    assert await outbox.claim_due() == []
    clock.now += 0.5
    assert [j.id for j in await outbox.claim_due()] == [job_id]


async def test_retry_later_parks_the_job_as_failed_after_max_attempts_with_the_error(
    outbox: AnyOutbox, clock: Clock
) -> None:
    job_id = await lead(outbox)
    for attempt in (1, 2):
        await outbox.claim_due()
        job = await outbox.retry_later(job_id, f"503 try {attempt}", delay=1, max_attempts=3)
        assert job.state == "queued"
        clock.now += 1
    await outbox.claim_due()
    job = await outbox.retry_later(job_id, "503 Service Unavailable", delay=1, max_attempts=3)
    assert job.state == "failed"
    assert job.attempts == 3
    assert job.last_error == "503 Service Unavailable"
    clock.now += 1000
    assert await outbox.claim_due() == []


async def test_operator_retry_requeues_a_failed_job_with_attempts_reset(
    outbox: AnyOutbox, clock: Clock
) -> None:
    job_id = await lead(outbox)
    await outbox.claim_due()
    await outbox.retry_later(job_id, "boom", delay=60, max_attempts=1)
    clock.now += 5
    job = await outbox.retry(job_id)
    assert job.state == "queued"
    assert job.attempts == 0
    assert job.next_attempt_at == clock.now
    assert [j.id for j in await outbox.claim_due()] == [job_id]


async def test_operator_retry_refuses_a_job_that_has_not_failed(outbox: AnyOutbox) -> None:
    job_id = await lead(outbox)
    with pytest.raises(InvalidTransition):
        await outbox.retry(job_id)


async def test_drop_keeps_the_job_on_record_out_of_the_queue(outbox: AnyOutbox) -> None:
    job_id = await lead(outbox)
    job = await outbox.drop(job_id)
    assert job.state == "dropped"
    assert await outbox.get(job_id) == job
    assert await outbox.claim_due() == []
    assert [j.id for j in await outbox.list(state="dropped")] == [job_id]


async def test_a_job_being_applied_cannot_be_dropped(outbox: AnyOutbox) -> None:
    job_id = await lead(outbox)
    await outbox.claim_due()
    with pytest.raises(InvalidTransition):
        await outbox.drop(job_id)


async def test_applied_refuses_a_job_that_was_not_claimed(outbox: AnyOutbox) -> None:
    job_id = await lead(outbox)
    with pytest.raises(InvalidTransition):
        await outbox.applied(job_id, {})
    assert (await outbox.get(job_id)) is not None
    assert (await outbox.depth())["queued"] == 1  # the refused change left nothing behind


async def test_changes_to_an_unknown_job_raise_job_not_found(outbox: AnyOutbox) -> None:
    with pytest.raises(JobNotFound):
        await outbox.drop("job_nope")


async def test_list_filters_by_state_in_enqueue_order_with_a_limit(outbox: AnyOutbox) -> None:
    ids = [await lead(outbox, key=f"lead:{i}") for i in range(4)]
    await outbox.drop(ids[1])
    assert [j.id for j in await outbox.list()] == ids
    assert [j.id for j in await outbox.list(limit=2)] == ids[:2]
    assert [j.id for j in await outbox.list(state="queued")] == [ids[0], ids[2], ids[3]]


async def test_depth_counts_every_state(outbox: AnyOutbox) -> None:
    a, b, c, d, _ = [await lead(outbox, key=f"lead:{i}") for i in range(5)]
    await outbox.claim_due(limit=4)
    await outbox.applied(a, {})
    await outbox.retry_later(b, "no", delay=0, max_attempts=1)
    await outbox.retry_later(c, "later", delay=5, max_attempts=3)
    await outbox.drop(c)
    assert await outbox.depth() == {
        "queued": 1,
        "applying": 1,
        "applied": 1,
        "failed": 1,
        "dropped": 1,
    }
    assert d  # still applying


async def test_recover_requeues_jobs_a_killed_process_left_applying(
    make_outbox: MakeOutbox, clock: Clock, backend: str
) -> None:
    crashed = make_outbox()
    claimed_id = await lead(crashed)
    waiting_id = await lead(crashed, key="lead:00Q2")
    await crashed.claim_due(limit=1)
    await crashed.close()  # the process dies: the claim is never applied nor retried
    del crashed

    # SQLite recovers at start-up, whenever that is; Redis once the claim's lease ran out.
    clock.now += LEASE
    async with make_outbox() as restarted:
        assert await restarted.recover() == 1
        job = await restarted.get(claimed_id)
        assert job is not None
        assert job.state == "queued"
        assert job.attempts == 0
        assert job.updated_at == clock.now
        claimed = await restarted.claim_due()
        assert [j.id for j in claimed] == [claimed_id, waiting_id]
        if backend == "sqlite":
            assert await restarted.recover() == 2  # nothing else distinguishes a live claim
        else:
            assert await restarted.recover() == 0  # live claims hold their leases


async def test_a_new_outbox_on_the_same_storage_sees_everything(make_outbox: MakeOutbox) -> None:
    async with make_outbox() as first:
        queued = await lead(first, key="lead:1")
        applied = await lead(first, key="lead:2")
        await first.claim_due(limit=2)
        await first.applied(applied, {"id": "00Q2"})
        await first.retry_later(queued, "timeout", delay=7, max_attempts=5)
        before = await first.list()

    async with make_outbox() as second:
        assert await second.list() == before
        reopened = await second.get(applied)
        assert reopened is not None
        assert reopened.result == {"id": "00Q2"}
        assert await second.depth() == {
            "queued": 1,
            "applying": 0,
            "applied": 1,
            "failed": 0,
            "dropped": 0,
        }


async def test_concurrent_claims_from_two_outboxes_never_share_a_job(
    make_outbox: MakeOutbox,
) -> None:
    async with make_outbox() as a, make_outbox() as b:
        ids = {await lead(a, key=f"lead:{i}") for i in range(200)}
        seen_a: list[str] = []
        seen_b: list[str] = []
        # Each SQLite Outbox claims on its own thread, each RedisOutbox on its own connection:
        # the two really race on the storage.
        while True:
            got_a, got_b = await asyncio.gather(a.claim_due(limit=3), b.claim_due(limit=3))
            if not got_a and not got_b:
                break
            seen_a += [j.id for j in got_a]
            seen_b += [j.id for j in got_b]
        assert not set(seen_a) & set(seen_b)
        assert len(seen_a) + len(seen_b) == len(ids)
        assert set(seen_a) | set(seen_b) == ids


async def test_concurrent_claims_take_at_most_one_job_per_record(
    make_outbox: MakeOutbox,
) -> None:
    async with make_outbox() as a, make_outbox() as b:
        for _ in range(3):
            await lead(a, key="lead:same")
        got_a, got_b = await asyncio.gather(a.claim_due(), b.claim_due())
        assert len(got_a) + len(got_b) == 1


async def test_enqueue_refuses_a_payload_that_is_not_json(outbox: AnyOutbox) -> None:
    with pytest.raises(TypeError):
        await outbox.enqueue("hubspot", "contact", "customer:1", "update_customer", {"x": {1}})
    assert await outbox.list() == []


async def test_a_closed_outbox_refuses_work(make_outbox: MakeOutbox) -> None:
    box = make_outbox()
    await box.close()
    with pytest.raises(OutboxError, match="closed"):
        await box.depth()


def test_backoff_is_full_jitter_under_the_exponential_ceiling() -> None:
    rng = random.Random(7)
    for attempt, ceiling in ((1, 2.0), (2, 4.0), (3, 8.0), (10, 30.0)):
        draws = [backoff(attempt, base=2.0, cap=30.0, rng=rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in draws)
        assert max(draws) > ceiling * 0.8  # it spreads over the whole range...
        assert min(draws) < ceiling * 0.2  # ...down to zero


def test_backoff_of_a_huge_attempt_is_capped() -> None:
    assert 0 <= backoff(10_000, base=1.0, cap=300.0, rng=random.Random(1)) <= 300.0


async def test_an_open_breaker_spends_none_of_a_writes_attempts(tmp_path: Path) -> None:
    """A source failing fast sent nothing: the write waits for it however long that takes,
    rather than being parked after max_attempts of nothing."""
    from app.connectors.errors import CircuitOpen
    from app.writes.worker import OutboxWorker

    box = Outbox(tmp_path / "outbox.sqlite3")
    job = await box.enqueue("players", "player", "player:p-1", "award_points", {"delta": 5})
    refusals = 0

    async def handler(payload: dict[str, object]) -> dict[str, object]:
        nonlocal refusals
        if refusals < 6:  # three times the attempts the worker allows
            refusals += 1
            raise CircuitOpen("players", "failing fast", retry_after=0.0)
        return {"record_id": "players:p-1"}

    worker = OutboxWorker(box, {"award_points": handler}, interval=0.01, max_attempts=2)
    running = asyncio.create_task(worker.run())
    try:
        for _ in range(500):
            found = await box.get(job.id)
            assert found is not None
            if found.state in ("applied", "failed"):
                break
            await asyncio.sleep(0.01)
        assert (found.state, refusals) == ("applied", 6)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

"""The event store's contract, run over both backends: SQLite on disk, and a Redis Stream with
a consumer group (the test run's own Redis, keys under the test's own prefix)."""

from __future__ import annotations

import asyncio

import pytest

from app.webhooks.store import (
    EventNotFound,
    EventStore,
    NewEvent,
)
from tests.integration.webhooks.conftest import Make, eventually


def event(n: int, kind: str = "zendesk") -> NewEvent:
    return NewEvent(f"zendesk:evt-{n}", kind, {"id": f"evt-{n}", "n": n})


async def test_events_are_claimed_in_the_order_stored_and_gone_once_done(make: Make) -> None:
    store = make()
    assert await store.add([event(1), event(2), event(3)]) == [True, True, True]
    assert await store.depth() == 3
    claimed = await store.claim(2)
    assert [e.payload["n"] for e in claimed] == [1, 2]
    for e in claimed:
        await store.done(e)
    rest = await store.claim(5)
    assert [e.payload["n"] for e in rest] == [3]
    await store.done(rest[0])
    assert await store.depth() == 0


async def test_a_claimed_event_is_not_claimed_again_while_its_worker_lives(make: Make) -> None:
    store = make()
    await store.add([event(1)])
    assert len(await store.claim(5)) == 1
    assert await store.claim(5) == []
    assert await make().claim(5) == []  # nor by another worker


async def test_an_event_id_is_stored_once_within_the_window_and_again_after_it(make: Make) -> None:
    store = make(dedupe_seconds=0.3)
    assert await store.add([event(1), event(1)]) == [True, False]
    assert await make(dedupe_seconds=0.3).add([event(1)]) == [False]  # another instance too
    assert await store.depth() == 1
    await eventually(lambda: _accepted(store, event(1)))


async def _accepted(store: EventStore, new: NewEvent) -> bool:
    return (await store.add([new])) == [True]


async def test_a_failed_event_is_due_again_after_its_backoff(make: Make) -> None:
    store = make()
    await store.add([event(1)])
    [first] = await store.claim(1)
    assert await store.retry_later(first, "RuntimeError: down", 0.2, max_attempts=3) is False
    assert await store.claim(1) == []  # not before its delay

    async def due() -> bool:
        found = await store.claim(1)
        if found:
            assert found[0].attempts == 1
            assert found[0].last_error == "RuntimeError: down"
            assert found[0].id == first.id
        return bool(found)

    await eventually(due)


async def test_an_event_out_of_attempts_is_a_dead_letter_with_its_reason(make: Make) -> None:
    store = make()
    await store.add([event(1)])
    [claimed] = await store.claim(1)
    assert await store.retry_later(claimed, "RuntimeError: still down", 0, max_attempts=1) is True
    [dead] = await store.dead_letters()
    assert (dead.id, dead.attempts, dead.last_error) == (claimed.id, 1, "RuntimeError: still down")
    assert dead.dead_at is not None
    assert await store.dead_letter_count() == 1
    assert await store.depth() == 0
    assert (await store.dead_letter(dead.id)).payload == {"id": "evt-1", "n": 1}


async def test_a_replayed_dead_letter_is_claimed_again_with_its_attempts_reset(make: Make) -> None:
    store = make()
    await store.add([event(1), event(2)])
    for claimed in await store.claim(2):
        await store.dead(claimed, "Poisoned: unknown brand")
    letters = await store.dead_letters()
    assert await store.replay([letters[0].id]) == [letters[0].id]
    [again] = await store.claim(5)
    assert (again.id, again.attempts, again.payload["n"]) == (letters[0].id, 0, 1)
    assert await store.dead_letter_count() == 1
    assert await store.replay(None) == [letters[1].id]
    assert await store.dead_letter_count() == 0


async def test_replaying_an_unknown_id_changes_nothing(make: Make) -> None:
    store = make()
    await store.add([event(1)])
    [claimed] = await store.claim(1)
    await store.dead(claimed, "Poisoned")
    with pytest.raises(EventNotFound):
        await store.replay([claimed.id, "whk_unknown"])
    assert await store.dead_letter_count() == 1
    with pytest.raises(EventNotFound):
        await store.dead_letter("whk_unknown")


async def test_purge_forgets_every_dead_letter(make: Make) -> None:
    store = make()
    await store.add([event(1), event(2)])
    for claimed in await store.claim(2):
        await store.dead(claimed, "Poisoned")
    assert await store.purge() == 2
    assert await store.dead_letters() == []
    assert await store.purge() == 0


async def test_an_event_whose_worker_died_is_claimed_again_by_the_next(make: Make) -> None:
    dying = make(claim_timeout=0.3)
    await dying.add([event(1)])
    [lost] = await dying.claim(1)  # ...and the process is killed before done
    successor = make(claim_timeout=0.3)
    await successor.recover()  # at start-up

    async def reclaimed() -> bool:
        found = await successor.claim(1)
        if found:
            assert (found[0].id, found[0].event_id) == (lost.id, lost.event_id)
            await successor.done(found[0])
        return bool(found)

    await eventually(reclaimed)
    assert await successor.depth() == 0


async def test_the_cursor_is_kept(make: Make) -> None:
    store = make()
    assert await store.cursor("salesforce-poll:salesforce") is None
    await store.set_cursor("salesforce-poll:salesforce", "one")
    await store.set_cursor("salesforce-poll:salesforce", "two")
    assert await make().cursor("salesforce-poll:salesforce") == "two"


async def test_concurrent_workers_never_claim_the_same_event(make: Make) -> None:
    await make().add([event(n) for n in range(40)])
    workers = [make() for _ in range(4)]
    claims = await asyncio.gather(*(w.claim(15) for w in workers))
    ids = [e.id for batch in claims for e in batch]
    assert len(ids) == 40
    assert len(set(ids)) == 40


async def test_concurrent_deliveries_of_one_event_store_it_once(make: Make) -> None:
    store = make()
    answers = await asyncio.gather(*(store.add([event(1), event(n)]) for n in range(2, 12)))
    assert sum(answer[0] for answer in answers) == 1
    assert all(answer[1] for answer in answers)
    assert await store.depth() == 11

"""The durable queue of webhook events, between the intake (which answers the CRM once an
event is stored) and the worker (which applies it).

Two backends with one interface (:class:`EventStore`):

- :class:`SQLiteEventStore` (one machine): a WAL-mode SQLite file with ``synchronous=FULL``,
  so an event is on disk when ``add`` returns. Every change is one ``BEGIN IMMEDIATE``
  transaction, so several stores on one file never claim the same event.
- :class:`RedisEventStore` (several instances): a Redis Stream read through a consumer group
  (``XREADGROUP``, ``XACK`` once applied, ``XAUTOCLAIM`` of entries a dead consumer left
  pending), a sorted set of events waiting for their retry, and a hash of dead letters.

An event's life::

    add --> pending --claim--> claimed --done--> (gone; its id stays "seen" for the window)
              ^                   |--retry_later (attempts left)--> pending at now + delay
              |                   |--retry_later (attempts spent) | dead--> dead letter
              +------replay--------------------------------------------------+
    claimed by a worker that died --recover (start-up) / claim timeout--> claimed again

Duplicates: ``add`` stores an ``event_id`` only once within the dedupe window. Delivery to
the worker is at least once: an event whose worker died before ``done`` is claimed again.

``depth()`` and ``dead_letter_count()`` are async on both backends.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from app.durable import open_durable

if TYPE_CHECKING:
    from app.config import Settings

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event as the intake (or the Salesforce poller) hands it over. ``event_id`` is the
    de-duplication key, ``"<source>:<vendor event id>"``; ``kind`` says which CRM's format
    ``payload`` is in: the kind of its dialect (:mod:`app.webhooks.dialects`)."""

    event_id: str
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """``id`` is the store's own id (stable across retries and replays; the CLI shows it);
    ``receipt`` is what the backend needs to finish this claim."""

    id: str
    event_id: str
    kind: str
    payload: dict[str, Any]
    received_at: float
    attempts: int = 0
    last_error: str | None = None
    dead_at: float | None = None
    receipt: str = ""


class EventNotFound(KeyError):
    def __init__(self, event_id: str) -> None:
        super().__init__(event_id)
        self.event_id = event_id

    def __str__(self) -> str:
        return f"no dead letter {self.event_id}"


class EventStore(Protocol):
    async def add(self, events: Sequence[NewEvent]) -> list[bool]:
        """Store each event durably unless its ``event_id`` was seen within the window;
        per event, in order: True if stored, False if a duplicate."""
        ...

    async def claim(self, limit: int = 10) -> list[StoredEvent]:
        """Up to ``limit`` due events, oldest first, now claimed by this store's worker."""
        ...

    async def done(self, event: StoredEvent) -> None: ...

    async def retry_later(
        self, event: StoredEvent, error: str, delay: float, max_attempts: int
    ) -> bool:
        """Count a failed attempt: due again in ``delay`` s, or a dead letter once
        ``max_attempts`` are spent (True)."""
        ...

    async def dead(self, event: StoredEvent, error: str) -> None:
        """A dead letter at once (an event no retry can fix)."""
        ...

    async def recover(self) -> int:
        """At start-up: events a stopped worker left claimed are due again."""
        ...

    async def dead_letters(self, limit: int = 100) -> list[StoredEvent]: ...

    async def dead_letter(self, event_id: str) -> StoredEvent:
        """One dead letter by its ``id``; :class:`EventNotFound` if there is none."""
        ...

    async def replay(self, ids: Sequence[str] | None = None) -> list[str]:
        """Dead letters (those of ``ids``, or all) back to the worker, attempts reset; the ids
        replayed. An unknown id raises :class:`EventNotFound` before anything changes."""
        ...

    async def purge(self) -> int:
        """Forget every dead letter; how many there were."""
        ...

    async def depth(self) -> int:
        """Events stored and not yet applied (due, waiting for a retry, or in flight)."""
        ...

    async def dead_letter_count(self) -> int: ...

    async def cursor(self, name: str) -> str | None: ...

    async def set_cursor(self, name: str, value: str) -> None: ...

    async def take_turn(self, name: str, seconds: float) -> bool:
        """Whether this instance may do the periodic work ``name`` now: one instance a
        ``seconds`` when several share the store (the Salesforce poll), always on one."""
        ...

    async def close(self) -> None: ...


# -- SQLite -----------------------------------------------------------------------------------

PENDING, CLAIMED, DEAD = "pending", "claimed", "dead"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT    NOT NULL UNIQUE,
    event_id    TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    due_at      REAL    NOT NULL,
    claimed_at  REAL,
    last_error  TEXT,
    received_at REAL    NOT NULL,
    updated_at  REAL    NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_events_due ON webhook_events (state, due_at);
CREATE TABLE IF NOT EXISTS webhook_seen (event_id TEXT PRIMARY KEY, seen_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS webhook_seen_at ON webhook_seen (seen_at);
CREATE TABLE IF NOT EXISTS webhook_cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_COLUMNS = "id, event_id, kind, payload, attempts, last_error, received_at, state, updated_at"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _new_id() -> str:
    return f"whk_{uuid.uuid4().hex}"


def _from_row(row: sqlite3.Row) -> StoredEvent:
    return StoredEvent(
        id=row["id"],
        event_id=row["event_id"],
        kind=row["kind"],
        payload=json.loads(row["payload"]),
        received_at=row["received_at"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        dead_at=row["updated_at"] if row["state"] == DEAD else None,
        receipt=row["id"],
    )


class SQLiteEventStore:
    def __init__(
        self,
        path: Path,
        *,
        dedupe_seconds: float = 86_400,
        claim_timeout: float = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.dedupe_seconds = dedupe_seconds
        self.claim_timeout = claim_timeout
        self._clock = clock
        # Transactions are explicit (BEGIN IMMEDIATE) in _write.
        self._conn = open_durable(self.path, _SCHEMA)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-store")
        self._closed = False
        self._adding: list[tuple[list[tuple[NewEvent, str]], asyncio.Future[list[bool]]]] = []
        self._committing: asyncio.Task[None] | None = None

    async def _run(self, fn: Callable[[], _T]) -> _T:
        if self._closed:
            raise RuntimeError("the webhook store is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def _write(self, fn: Callable[[sqlite3.Connection, float], _T]) -> _T:
        def tx() -> _T:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                out = fn(self._conn, self._clock())
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            return out

        return await self._run(tx)

    async def _read(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        return await self._run(lambda: fn(self._conn))

    async def add(self, events: Sequence[NewEvent]) -> list[bool]:
        rows = [(e, _dumps(e.payload)) for e in events]  # not JSON: fail before storing
        added: asyncio.Future[list[bool]] = asyncio.get_running_loop().create_future()
        self._adding.append((rows, added))
        if self._committing is None:
            self._committing = asyncio.create_task(self._commit_added())
        return await added

    async def _commit_added(self) -> None:
        """Group commit: the deliveries that arrive while one transaction is being written
        share the next one (and its fsync), each answered only once it is on disk."""
        try:
            while self._adding:
                batch, self._adding = self._adding, []
                try:
                    results = await self._write(partial(self._insert, [r for r, _ in batch]))
                except Exception as exc:
                    for _, added in batch:
                        if not added.done():
                            added.set_exception(exc)
                    continue
                for (_, added), stored in zip(batch, results, strict=True):
                    if not added.done():
                        added.set_result(stored)
        finally:
            self._committing = None

    def _insert(
        self, deliveries: list[list[tuple[NewEvent, str]]], conn: sqlite3.Connection, now: float
    ) -> list[list[bool]]:
        conn.execute("DELETE FROM webhook_seen WHERE seen_at < ?", (now - self.dedupe_seconds,))
        return [self._insert_one(conn, now, rows) for rows in deliveries]

    def _insert_one(
        self, conn: sqlite3.Connection, now: float, rows: list[tuple[NewEvent, str]]
    ) -> list[bool]:
        stored = []
        for event, body in rows:
            seen = conn.execute(
                "INSERT OR IGNORE INTO webhook_seen (event_id, seen_at) VALUES (?, ?)",
                (event.event_id, now),
            )
            if seen.rowcount == 1:
                conn.execute(
                    "INSERT INTO webhook_events (id, event_id, kind, payload, state, due_at,"
                    " received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (_new_id(), event.event_id, event.kind, body, PENDING, now, now, now),
                )
            stored.append(seen.rowcount == 1)
        return stored

    async def claim(self, limit: int = 10) -> list[StoredEvent]:
        def tx(conn: sqlite3.Connection, now: float) -> list[StoredEvent]:
            rows = conn.execute(
                f"SELECT {_COLUMNS}, seq FROM webhook_events"
                " WHERE (state = ? AND due_at <= ?) OR (state = ? AND claimed_at <= ?)"
                " ORDER BY seq LIMIT ?",
                (PENDING, now, CLAIMED, now - self.claim_timeout, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE webhook_events SET state = ?, claimed_at = ?, updated_at = ? WHERE seq = ?",
                [(CLAIMED, now, now, row["seq"]) for row in rows],
            )
            return [_from_row(row) for row in rows]

        return await self._write(tx) if limit > 0 else []

    async def done(self, event: StoredEvent) -> None:
        await self._write(
            lambda conn, _: conn.execute(
                "DELETE FROM webhook_events WHERE id = ? AND state = ?", (event.receipt, CLAIMED)
            )
        )

    async def retry_later(
        self, event: StoredEvent, error: str, delay: float, max_attempts: int
    ) -> bool:
        attempts = event.attempts + 1
        if attempts >= max_attempts:
            await self._bury(event, error, attempts)
            return True
        await self._write(
            lambda conn, now: conn.execute(
                "UPDATE webhook_events SET state = ?, attempts = ?, last_error = ?, due_at = ?,"
                " updated_at = ? WHERE id = ? AND state = ?",
                (PENDING, attempts, error, now + max(delay, 0.0), now, event.receipt, CLAIMED),
            )
        )
        return False

    async def dead(self, event: StoredEvent, error: str) -> None:
        await self._bury(event, error, event.attempts + 1)

    async def _bury(self, event: StoredEvent, error: str, attempts: int) -> None:
        await self._write(
            lambda conn, now: conn.execute(
                "UPDATE webhook_events SET state = ?, attempts = ?, last_error = ?,"
                " updated_at = ? WHERE id = ? AND state = ?",
                (DEAD, attempts, error, now, event.receipt, CLAIMED),
            )
        )

    async def recover(self) -> int:
        def tx(conn: sqlite3.Connection, now: float) -> int:
            return conn.execute(
                "UPDATE webhook_events SET state = ?, due_at = MIN(due_at, ?), updated_at = ?"
                " WHERE state = ?",
                (PENDING, now, now, CLAIMED),
            ).rowcount

        return await self._write(tx)

    async def dead_letters(self, limit: int = 100) -> list[StoredEvent]:
        def read(conn: sqlite3.Connection) -> list[StoredEvent]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM webhook_events WHERE state = ? ORDER BY seq LIMIT ?",
                (DEAD, limit),
            )
            return [_from_row(row) for row in rows]

        return await self._read(read)

    async def dead_letter(self, event_id: str) -> StoredEvent:
        def read(conn: sqlite3.Connection) -> StoredEvent:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM webhook_events WHERE id = ? AND state = ?",
                (event_id, DEAD),
            ).fetchone()
            if row is None:
                raise EventNotFound(event_id)
            return _from_row(row)

        return await self._read(read)

    async def replay(self, ids: Sequence[str] | None = None) -> list[str]:
        def tx(conn: sqlite3.Connection, now: float) -> list[str]:
            dead = [
                r["id"]
                for r in conn.execute("SELECT id FROM webhook_events WHERE state = ?", (DEAD,))
            ]
            wanted = dead if ids is None else list(dict.fromkeys(ids))
            for unknown in set(wanted) - set(dead):
                raise EventNotFound(unknown)
            conn.executemany(
                "UPDATE webhook_events SET state = ?, attempts = 0, due_at = ?, updated_at = ?"
                " WHERE id = ?",
                [(PENDING, now, now, event_id) for event_id in wanted],
            )
            return wanted

        return await self._write(tx)

    async def purge(self) -> int:
        return await self._write(
            lambda conn, _: (
                conn.execute("DELETE FROM webhook_events WHERE state = ?", (DEAD,)).rowcount
            )
        )

    async def depth(self) -> int:
        return await self._count("state != ?")

    async def dead_letter_count(self) -> int:
        return await self._count("state = ?")

    async def _count(self, condition: str) -> int:
        def read(conn: sqlite3.Connection) -> int:
            row = conn.execute(f"SELECT COUNT(*) FROM webhook_events WHERE {condition}", (DEAD,))
            return int(row.fetchone()[0])

        return await self._read(read)

    async def cursor(self, name: str) -> str | None:
        def read(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT value FROM webhook_cursors WHERE name = ?", (name,))
            found = row.fetchone()
            return None if found is None else str(found[0])

        return await self._read(read)

    async def set_cursor(self, name: str, value: str) -> None:
        await self._write(
            lambda conn, _: conn.execute(
                "INSERT INTO webhook_cursors (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )
        )

    async def take_turn(self, name: str, seconds: float) -> bool:
        return True  # a SQLite file belongs to one instance

    async def close(self) -> None:
        if self._closed:
            return
        if self._committing is not None:
            await self._committing
        await self._run(self._conn.close)
        self._closed = True
        self._executor.shutdown(wait=False)


# -- Redis ------------------------------------------------------------------------------------

GROUP = "crmgraph-webhooks"

# Stored once per event id within the window, atomically: a crash between the two steps
# cannot leave an id marked seen whose event was never queued.
_ADD = """
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  redis.call('XADD', KEYS[2], '*', 'event', ARGV[2])
  return 1
end
return 0
"""
# Due retries go back on the stream.
_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, event in ipairs(due) do
  redis.call('ZREM', KEYS[1], event)
  redis.call('XADD', KEYS[2], '*', 'event', event)
end
return #due
"""
# A dead letter back on the stream, once even if two operators replay it at the same time.
_REPLAY = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('XADD', KEYS[2], '*', 'event', ARGV[2])
  return 1
end
return 0
"""


def _encode(event: StoredEvent) -> str:
    body = asdict(event)
    del body["receipt"]
    return _dumps(body)


def _decode(raw: str | bytes, receipt: str = "") -> StoredEvent:
    return StoredEvent(**json.loads(raw), receipt=receipt)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _field(fields: dict[Any, Any], name: str) -> str | bytes:
    value = fields.get(name.encode(), fields.get(name))
    if value is None:
        raise ValueError(f"a stream entry without its {name!r} field")
    return value  # type: ignore[no-any-return]


class RedisEventStore:
    def __init__(
        self,
        redis: Redis,
        prefix: str = "crmgraph:webhooks:",
        *,
        dedupe_seconds: float = 86_400,
        claim_timeout: float = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.stream = f"{prefix}stream"
        self.retries = f"{prefix}retry"
        self.dead_key = f"{prefix}dead"
        self.dedupe_seconds = dedupe_seconds
        self.claim_timeout = claim_timeout
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._clock = clock
        self._add = redis.register_script(_ADD)
        self._due = redis.register_script(_DUE)
        self._replay = redis.register_script(_REPLAY)
        self._group_ready = False

    async def _group(self) -> None:
        if self._group_ready:
            return
        try:
            # From the stream's start: events added before the group existed are read too.
            await self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def add(self, events: Sequence[NewEvent]) -> list[bool]:
        now = self._clock()
        window = str(int(self.dedupe_seconds * 1000))
        stored = []
        for event in events:
            body = _encode(
                StoredEvent(_new_id(), event.event_id, event.kind, event.payload, received_at=now)
            )
            seen = f"{self.prefix}seen:{event.event_id}"
            added = await self._add(keys=[seen, self.stream], args=[window, body])
            stored.append(added == 1)
        return stored

    async def claim(self, limit: int = 10) -> list[StoredEvent]:
        if limit <= 0:
            return []
        await self._group()
        await self._due(keys=[self.retries, self.stream], args=[self._clock(), limit])
        # Entries a consumer claimed and never acknowledged (it died) come first.
        idle_ms = int(self.claim_timeout * 1000)
        try:
            answer: Any = await self.redis.xautoclaim(
                self.stream, GROUP, self.consumer, idle_ms, start_id="0-0", count=limit
            )
        except ResponseError as exc:
            if "NOGROUP" in str(exc):  # the stream was deleted: make it again next time
                self._group_ready = False
            raise
        claimed: list[tuple[Any, Any]] = [(i, f) for i, f in answer[1] if f]
        if len(claimed) < limit:
            read: Any = await self.redis.xreadgroup(
                GROUP, self.consumer, {self.stream: ">"}, count=limit - len(claimed)
            )
            for _, found in read or []:
                claimed += found
        return [_decode(_field(fields, "event"), _text(entry)) for entry, fields in claimed]

    async def done(self, event: StoredEvent) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, GROUP, event.receipt)
            pipe.xdel(self.stream, event.receipt)
            await pipe.execute()

    async def retry_later(
        self, event: StoredEvent, error: str, delay: float, max_attempts: int
    ) -> bool:
        attempts = event.attempts + 1
        if attempts >= max_attempts:
            await self._bury(event, error, attempts)
            return True
        again = replace(event, attempts=attempts, last_error=error)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, GROUP, event.receipt)
            pipe.xdel(self.stream, event.receipt)
            pipe.zadd(self.retries, {_encode(again): self._clock() + max(delay, 0.0)})
            await pipe.execute()
        return False

    async def dead(self, event: StoredEvent, error: str) -> None:
        await self._bury(event, error, event.attempts + 1)

    async def _bury(self, event: StoredEvent, error: str, attempts: int) -> None:
        buried = replace(event, attempts=attempts, last_error=error, dead_at=self._clock())
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, GROUP, event.receipt)
            pipe.xdel(self.stream, event.receipt)
            pipe.hset(self.dead_key, event.id, _encode(buried))
            await pipe.execute()

    async def recover(self) -> int:
        # A new consumer takes over a dead one's entries by XAUTOCLAIM once they have been
        # idle for the claim timeout: it cannot tell a dead consumer from a slow one sooner.
        return 0

    async def dead_letters(self, limit: int = 100) -> list[StoredEvent]:
        found = [_decode(raw) for raw in (await self.redis.hgetall(self.dead_key)).values()]
        return sorted(found, key=lambda e: (e.dead_at or 0, e.id))[:limit]

    async def dead_letter(self, event_id: str) -> StoredEvent:
        raw = await self.redis.hget(self.dead_key, event_id)
        if raw is None:
            raise EventNotFound(event_id)
        return _decode(raw)

    async def replay(self, ids: Sequence[str] | None = None) -> list[str]:
        wanted = (
            [e.id for e in await self.dead_letters(limit=10**9)]
            if ids is None
            else list(dict.fromkeys(ids))
        )
        letters = [await self.dead_letter(event_id) for event_id in wanted]  # all known first
        replayed = []
        for letter in letters:
            again = _encode(replace(letter, attempts=0, dead_at=None))
            if await self._replay(keys=[self.dead_key, self.stream], args=[letter.id, again]):
                replayed.append(letter.id)
        return replayed

    async def purge(self) -> int:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hlen(self.dead_key)
            pipe.delete(self.dead_key)
            count, _ = await pipe.execute()
        return int(count)

    async def depth(self) -> int:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xlen(self.stream)
            pipe.zcard(self.retries)
            queued, waiting = await pipe.execute()
        return int(queued) + int(waiting)

    async def dead_letter_count(self) -> int:
        return int(await self.redis.hlen(self.dead_key))

    async def cursor(self, name: str) -> str | None:
        value = await self.redis.get(f"{self.prefix}cursor:{name}")
        return None if value is None else _text(value)

    async def set_cursor(self, name: str, value: str) -> None:
        await self.redis.set(f"{self.prefix}cursor:{name}", value)

    async def take_turn(self, name: str, seconds: float) -> bool:
        key = f"{self.prefix}turn:{name}"
        return bool(await self.redis.set(key, "1", nx=True, px=max(1, int(seconds * 1000))))

    async def close(self) -> None:
        """The Redis client belongs to whoever made it (the gateway closes its own)."""


def open_store(settings: Settings) -> tuple[EventStore, Redis | None]:
    """The store the settings name: a Redis Stream when ``webhooks.redis_url`` (or the
    top-level ``redis_url``) is set, else the SQLite file; and the Redis client it opened."""
    webhooks = settings.webhooks
    url = webhooks.redis_url or settings.redis_url
    dedupe = webhooks.dedupe_hours * 3600
    if url is None:
        path = webhooks.sqlite_path(settings.writes)
        store = SQLiteEventStore(
            path, dedupe_seconds=dedupe, claim_timeout=webhooks.claim_timeout_seconds
        )
        return store, None
    # Stored before the CRM is answered: a Redis that is down fails the delivery (5xx, and the
    # CRM retries) in about a second rather than hanging it.
    redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    return (
        RedisEventStore(
            redis,
            webhooks.redis_prefix,
            dedupe_seconds=dedupe,
            claim_timeout=webhooks.claim_timeout_seconds,
        ),
        redis,
    )

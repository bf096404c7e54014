"""The durable outbox: writes that could not reach their CRM, kept until they can.

A job is one write (``create_lead``, ``update_ticket``...) for one record. Its life::

    queued --claim_due--> applying --applied--> applied
      ^                      |
      |   retry_later        +--retry_later (attempts left)--> queued (at now + delay)
      |                      +--retry_later (attempts spent)--> failed (the CRM's error kept)
      +--------retry--------- failed
    queued | failed --drop--> dropped            applying --recover (start-up)--> queued

Storage is SQLite (stdlib ``sqlite3``) in WAL mode with ``synchronous=FULL``: once
``enqueue`` returns, the job survives a crash of the process. Every state change is one
``BEGIN IMMEDIATE`` transaction, so several ``Outbox`` objects (or processes) on the same file
never claim the same job. Each ``Outbox`` owns one connection used only from its own
single worker thread; the async methods hand their work to that thread.

Per-record order: jobs of one ``record_key`` are applied in the order they were enqueued.
Only the oldest *unfinished* job of a record (``queued``, ``applying`` or ``failed``) may be
claimed. A ``failed`` job therefore blocks the later jobs of its record until an operator
retries or drops it: applying a later update over a write that never happened could leave
the record in a state nobody asked for (e.g. an update to a lead whose creation failed),
so the outbox stops that record rather than guess. Other records are not held up.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import random
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from app.durable import open_durable

QUEUED = "queued"
APPLYING = "applying"
APPLIED = "applied"
FAILED = "failed"
DROPPED = "dropped"
STATES = (QUEUED, APPLYING, APPLIED, FAILED, DROPPED)
#: States that hold up the later jobs of the same record.
UNFINISHED = (QUEUED, APPLYING, FAILED)

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox_jobs (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    source          TEXT    NOT NULL,
    entity          TEXT    NOT NULL,
    record_key      TEXT    NOT NULL,
    operation       TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL    NOT NULL,
    last_error      TEXT,
    created_at      REAL    NOT NULL,
    updated_at      REAL    NOT NULL,
    result          TEXT
);
CREATE INDEX IF NOT EXISTS outbox_jobs_record ON outbox_jobs (record_key, seq);
CREATE INDEX IF NOT EXISTS outbox_jobs_due ON outbox_jobs (state, next_attempt_at);
"""

_COLUMNS = (
    "id, source, entity, record_key, operation, payload, state, attempts, "
    "next_attempt_at, last_error, created_at, updated_at, result"
)


class OutboxError(Exception):
    """Base of the outbox's errors."""


class WritesUnavailable(Exception):
    """A write refused before anything was sent: the outbox, which keeps every write until its
    CRM has it, cannot take it (its Redis or its disk is down). The caller may retry."""

    def __init__(self) -> None:
        super().__init__(
            "writes are unavailable: the outbox that keeps them cannot be reached, so nothing "
            "was sent to the CRM; retry later"
        )
        self.extensions = {"code": "SERVICE_UNAVAILABLE"}


class JobNotFound(OutboxError, KeyError):
    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id

    def __str__(self) -> str:
        return f"no outbox job {self.job_id}"


class InvalidTransition(OutboxError, ValueError):
    """The job is not in a state the requested change starts from."""

    def __init__(self, job_id: str, state: str, action: str) -> None:
        super().__init__(f"cannot {action} outbox job {job_id}: it is {state}")
        self.job_id = job_id
        self.state = state
        self.action = action


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    source: str
    entity: str
    record_key: str
    operation: str
    payload: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    updated_at: float
    result: dict[str, Any] | None


def backoff(
    attempt: int, base: float = 1.0, cap: float = 300.0, rng: random.Random | None = None
) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based), full jitter: uniform in
    [0, min(cap, base * 2**(attempt-1))]."""
    exponent = min(max(attempt - 1, 0), 64)  # past 2**64 the cap has long won
    ceiling = min(cap, base * 2.0**exponent)
    return (rng or random).uniform(0, ceiling)


def _row_to_job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        source=row["source"],
        entity=row["entity"],
        record_key=row["record_key"],
        operation=row["operation"],
        payload=json.loads(row["payload"]),
        state=row["state"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        result=None if row["result"] is None else json.loads(row["result"]),
    )


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Outbox:
    """Durable queue of pending CRM writes in one SQLite file (see the module docstring).
    :class:`~app.writes.redis_outbox.RedisOutbox` has the same interface, for several
    instances."""

    #: No leases here: a claim lasts until the process ends, and ``recover`` runs at start-up.
    lease_seconds: float | None = None

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self._path = Path(path)
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        # Transactions are explicit (BEGIN IMMEDIATE) in _write.
        self._conn = open_durable(self._path, _SCHEMA)
        self._closed = False

    @property
    def path(self) -> Path:
        return self._path

    # -- plumbing -------------------------------------------------------------------------

    async def _run(self, fn: Callable[[], _T]) -> _T:
        if self._closed:
            raise OutboxError("the outbox is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _write(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``fn`` in one write transaction (taken up front, so two writers serialise)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            out = fn(self._conn)
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        return out

    @staticmethod
    def _fetch(conn: sqlite3.Connection, job_id: str) -> Job:
        row = conn.execute(f"SELECT {_COLUMNS} FROM outbox_jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        return _row_to_job(row)

    def _transition(
        self,
        job_id: str,
        action: str,
        allowed: Iterable[str],
        change: Callable[[Job, float], dict[str, Any]],
    ) -> Job:
        allowed = tuple(allowed)

        def tx(conn: sqlite3.Connection) -> Job:
            job = self._fetch(conn, job_id)
            if job.state not in allowed:
                raise InvalidTransition(job_id, job.state, action)
            now = self._clock()
            fields = change(job, now) | {"updated_at": now}
            assignments = ", ".join(f"{name} = ?" for name in fields)
            conn.execute(
                f"UPDATE outbox_jobs SET {assignments} WHERE id = ?",
                (*fields.values(), job_id),
            )
            return self._fetch(conn, job_id)

        return self._write(tx)

    # -- the interface ------------------------------------------------------------------

    async def enqueue(
        self,
        source: str,
        entity: str,
        record_key: str,
        operation: str,
        payload: dict[str, Any],
        *,
        applying: bool = False,
    ) -> Job:
        """Store a write durably; it is due at once (behind earlier jobs of its record).

        ``applying``: the caller is about to apply it itself (a write tried inline), so it is
        stored claimed; a process killed meanwhile leaves it for ``recover`` to queue again."""
        job_id = f"job_{uuid.uuid4().hex}"
        body = _dumps(payload)  # not JSON: fail here, in the caller, before anything is stored
        state = APPLYING if applying else QUEUED

        def tx(conn: sqlite3.Connection) -> Job:
            now = self._clock()
            conn.execute(
                "INSERT INTO outbox_jobs (id, source, entity, record_key, operation, payload,"
                " state, attempts, next_attempt_at, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
                (job_id, source, entity, record_key, operation, body, state, now, now, now),
            )
            return self._fetch(conn, job_id)

        return await self._run(lambda: self._write(tx))

    async def get(self, job_id: str) -> Job | None:
        def read() -> Job | None:
            try:
                return self._fetch(self._conn, job_id)
            except JobNotFound:
                return None

        return await self._run(read)

    async def list(self, state: str | None = None, limit: int = 100) -> builtins.list[Job]:
        """Jobs in the order they were enqueued, optionally only those in ``state``."""

        def read() -> builtins.list[Job]:
            if state is None:
                rows = self._conn.execute(
                    f"SELECT {_COLUMNS} FROM outbox_jobs ORDER BY seq LIMIT ?", (limit,)
                )
            else:
                rows = self._conn.execute(
                    f"SELECT {_COLUMNS} FROM outbox_jobs WHERE state = ? ORDER BY seq LIMIT ?",
                    (state, limit),
                )
            return [_row_to_job(row) for row in rows]

        return await self._run(read)

    async def claim_due(self, limit: int = 10) -> builtins.list[Job]:
        """Mark up to ``limit`` due jobs ``applying`` and return them, oldest first.

        A job is claimable when it is queued, its ``next_attempt_at`` has come, and no earlier
        job of its record is unfinished (queued, applying or failed): so at most one job per
        record is ever in flight, and never out of order.
        """
        placeholders = ", ".join("?" for _ in UNFINISHED)

        def tx(conn: sqlite3.Connection) -> builtins.list[Job]:
            now = self._clock()
            rows = conn.execute(
                f"SELECT {_COLUMNS}, seq FROM outbox_jobs AS j"
                " WHERE j.state = ? AND j.next_attempt_at <= ?"
                " AND NOT EXISTS (SELECT 1 FROM outbox_jobs AS e"
                "   WHERE e.record_key = j.record_key AND e.seq < j.seq"
                f"   AND e.state IN ({placeholders}))"
                " ORDER BY j.seq LIMIT ?",
                (QUEUED, now, *UNFINISHED, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE outbox_jobs SET state = ?, updated_at = ? WHERE seq = ?",
                [(APPLYING, now, row["seq"]) for row in rows],
            )
            return [self._fetch(conn, row["id"]) for row in rows]

        if limit <= 0:
            return []
        return await self._run(lambda: self._write(tx))

    async def applied(self, job_id: str, result: dict[str, Any]) -> Job:
        """The CRM took the write; ``result`` (JSON) is kept for ``syncJob``."""
        body = _dumps(result)
        return await self._run(
            lambda: self._transition(
                job_id,
                "mark applied",
                (APPLYING,),
                lambda _job, _now: {
                    "state": APPLIED,
                    "result": body,
                    "last_error": None,
                },
            )
        )

    async def retry_later(
        self,
        job_id: str,
        error: str,
        delay: float,
        max_attempts: int,
        payload: dict[str, Any] | None = None,
    ) -> Job:
        """The attempt failed: count it; queue the job again at now + ``delay``, or park it as
        failed with ``error`` once ``max_attempts`` attempts have been made. ``payload``
        replaces the job's (what the failed attempt taught about how to apply it)."""
        body = _dumps(payload) if payload is not None else None

        def change(job: Job, now: float) -> dict[str, Any]:
            attempts = job.attempts + 1
            fields: dict[str, Any] = {} if body is None else {"payload": body}
            if attempts >= max_attempts:
                return fields | {"state": FAILED, "attempts": attempts, "last_error": error}
            return fields | {
                "state": QUEUED,
                "attempts": attempts,
                "last_error": error,
                "next_attempt_at": now + max(delay, 0.0),
            }

        return await self._run(lambda: self._transition(job_id, "retry", (APPLYING,), change))

    async def retry(self, job_id: str) -> Job:
        """An operator sends a failed job round again: queued, due now, attempts reset
        (``last_error`` is kept until the next attempt replaces it)."""
        return await self._run(
            lambda: self._transition(
                job_id,
                "re-queue",
                (FAILED,),
                lambda _job, now: {"state": QUEUED, "attempts": 0, "next_attempt_at": now},
            )
        )

    async def drop(self, job_id: str) -> Job:
        """An operator gives up on a queued or failed job: it leaves the queue (state
        ``dropped``) but stays on record. A job being applied cannot be dropped."""
        return await self._run(
            lambda: self._transition(
                job_id, "drop", (QUEUED, FAILED), lambda _job, _now: {"state": DROPPED}
            )
        )

    async def recover(self) -> int:
        """At start-up: jobs a killed process left ``applying`` are queued again (due now).

        Call it before any worker of this file runs: it cannot tell a dead claimant from a
        live one. A recovered write may have reached the CRM before the crash, so it must be
        applied idempotently (the idempotency key travels in the payload).
        """

        def tx(conn: sqlite3.Connection) -> int:
            now = self._clock()
            cursor = conn.execute(
                "UPDATE outbox_jobs SET state = ?, next_attempt_at = MIN(next_attempt_at, ?),"
                " updated_at = ? WHERE state = ?",
                (QUEUED, now, now, APPLYING),
            )
            return cursor.rowcount

        return await self._run(lambda: self._write(tx))

    async def keepalive(self, job_ids: Iterable[str]) -> int:
        """Nothing to renew: a SQLite claim holds until ``recover`` at the next start-up."""
        return 0

    async def depth(self) -> dict[str, int]:
        """How many jobs are in each state (every state listed, zeros included)."""

        def read() -> dict[str, int]:
            counts = dict.fromkeys(STATES, 0)
            for row in self._conn.execute(
                "SELECT state, COUNT(*) AS n FROM outbox_jobs GROUP BY state"
            ):
                counts[row["state"]] = row["n"]
            return counts

        return await self._run(read)

    async def close(self) -> None:
        """Close the connection and stop the worker thread (idempotent)."""
        if self._closed:
            return
        await self._run(self._conn.close)
        self._closed = True
        self._executor.shutdown(wait=False)

    async def __aenter__(self) -> Outbox:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

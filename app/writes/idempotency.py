"""Idempotency keys: the same key (per caller) within the window returns the first outcome and
writes once, across restarts (SQLite beside the outbox) and, with Redis, across instances.

A key is claimed before the write is tried, so two concurrent requests with one key cannot both
write: the second sees the claim and is told the first is still in progress. A claim holds only
until the write is stored in the outbox (the key is then settled with its job), so a claim left
without an outcome for ``claim_seconds`` belongs to a process that died before storing anything:
it lapses, and the key may be claimed again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.durable import LOCK_SECONDS, use_wal

IN_PROGRESS = "in_progress"
#: How long a claim without an outcome holds (its holder stores the write within milliseconds).
CLAIM_SECONDS = 60.0
log = logging.getLogger(__name__)


class IdempotencyStore:
    def __init__(
        self,
        path: Path,
        window_seconds: float = 86_400,
        clock: Callable[[], float] = time.time,
        claim_seconds: float = CLAIM_SECONDS,
    ) -> None:
        self.path = path
        self.window = window_seconds
        self.claim_seconds = claim_seconds
        self.clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS idempotency ("
                " key TEXT PRIMARY KEY, outcome TEXT, created_at REAL NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=LOCK_SECONDS, isolation_level=None)
        try:
            use_wal(db)
        except BaseException:
            db.close()
            raise
        return db

    async def claim(self, key: str) -> dict[str, Any] | str | None:
        """None: the key is ours now, go ahead. A dict: the first outcome, answer it again.
        ``IN_PROGRESS``: another request holds the key and has not finished."""
        return await asyncio.to_thread(self._claim, key)

    def _claim(self, key: str) -> dict[str, Any] | str | None:
        now = self.clock()
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM idempotency WHERE created_at < ?", (now - self.window,))
            db.execute(  # a claim its holder never settled: the holder died
                "DELETE FROM idempotency WHERE outcome IS NULL AND created_at < ?",
                (now - self.claim_seconds,),
            )
            row = db.execute("SELECT outcome FROM idempotency WHERE key = ?", (key,)).fetchone()
            if row is None:
                db.execute("INSERT INTO idempotency VALUES (?, NULL, ?)", (key, now))
                db.execute("COMMIT")
                return None
            db.execute("COMMIT")
        if row[0] is None:
            return IN_PROGRESS
        outcome: dict[str, Any] = json.loads(row[0])
        return outcome

    async def settle(self, key: str, outcome: dict[str, Any] | None) -> None:
        """Record the outcome of a claimed key (None: release it, nothing was written)."""
        await asyncio.to_thread(self._settle, key, outcome)

    def _settle(self, key: str, outcome: dict[str, Any] | None) -> None:
        with self._connect() as db:
            if outcome is None:
                db.execute("DELETE FROM idempotency WHERE key = ?", (key,))
            else:
                db.execute(
                    "UPDATE idempotency SET outcome = ? WHERE key = ?", (json.dumps(outcome), key)
                )


class SharedIdempotencyStore:
    """The same promise across instances: claims in Redis (``SET NX`` with the window as TTL),
    so a key sent to two instances writes once. If Redis cannot be reached, the local store
    keeps the promise for this instance, and the log says so."""

    IN_PROGRESS_MARK = b"\x00in-progress"

    def __init__(
        self,
        redis: Any,
        local: IdempotencyStore,
        window_seconds: float = 86_400,
        prefix: str = "crmgraph:idem:",
        claim_seconds: float = CLAIM_SECONDS,
    ) -> None:
        self.redis = redis
        self.local = local
        self.window = int(window_seconds)
        self.claim_seconds = max(1, int(claim_seconds))
        self.prefix = prefix
        self._warned = False

    async def claim(self, key: str) -> dict[str, Any] | str | None:
        try:
            name = self.prefix + key
            if await self.redis.set(name, self.IN_PROGRESS_MARK, nx=True, ex=self.claim_seconds):
                return None
            value = await self.redis.get(name)
        except Exception as exc:  # Redis away: this instance's own store
            self._fallback(exc)
            return await self.local.claim(key)
        if value is None:  # expired between the two calls: claim again
            return await self.claim(key)
        if value == self.IN_PROGRESS_MARK:
            return IN_PROGRESS
        outcome: dict[str, Any] = json.loads(value)
        return outcome

    async def settle(self, key: str, outcome: dict[str, Any] | None) -> None:
        try:
            name = self.prefix + key
            if outcome is None:
                await self.redis.delete(name)
            else:
                await self.redis.set(name, json.dumps(outcome), ex=self.window)
        except Exception as exc:
            self._fallback(exc)
            await self.local.settle(key, outcome)

    def _fallback(self, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "idempotency keys: Redis unreachable (%s); using this instance's store",
                type(exc).__name__,
            )

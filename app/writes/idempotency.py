"""Idempotency keys: the same key (per caller) within the window returns the first outcome and
writes once, across restarts. Stored in SQLite beside the outbox.

A key is claimed before the write is tried, so two concurrent requests with one key cannot both
write: the second sees the claim and is told the first is still in progress.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

IN_PROGRESS = "in_progress"


class IdempotencyStore:
    def __init__(
        self, path: Path, window_seconds: float = 86_400, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = path
        self.window = window_seconds
        self.clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS idempotency ("
                " key TEXT PRIMARY KEY, outcome TEXT, created_at REAL NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
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

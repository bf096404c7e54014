"""One SQLite file that keeps what it is told once a transaction commits: WAL, with
``synchronous=FULL`` (the outbox, the webhook queue)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_durable(path: Path, schema: str) -> sqlite3.Connection:
    """A connection in autocommit mode (callers take ``BEGIN IMMEDIATE`` themselves), usable
    from the one worker thread its owner runs it on, with ``schema`` applied."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(schema)
    except BaseException:
        conn.close()
        raise
    return conn

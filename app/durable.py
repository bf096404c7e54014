"""One SQLite file that keeps what it is told once a transaction commits: WAL, with
``synchronous=FULL`` (the outbox, the webhook queue)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

#: How long a connection waits for a lock (sqlite3's ``timeout``), and for the switch to WAL.
LOCK_SECONDS = 30.0


def use_wal(conn: sqlite3.Connection, within: float = LOCK_SECONDS) -> None:
    """Put ``conn``'s file in WAL mode (it stays so). On a new file that other processes open
    at the same moment (the workers of ``serve --workers N`` starting together), SQLite may
    refuse the switch with "database is locked" at once, without waiting out the busy
    timeout. Then the connection waits for the file's write lock the ordinary way (with its
    busy timeout), so whoever holds it is done, and tries again, until ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        conn.execute("BEGIN IMMEDIATE")  # waits while another connection writes
        conn.execute("COMMIT")


def open_durable(path: Path, schema: str) -> sqlite3.Connection:
    """A connection in autocommit mode (callers take ``BEGIN IMMEDIATE`` themselves), usable
    from the one worker thread its owner runs it on, with ``schema`` applied."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        path, timeout=LOCK_SECONDS, isolation_level=None, check_same_thread=False
    )
    try:
        conn.row_factory = sqlite3.Row
        use_wal(conn)
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(schema)
    except BaseException:
        conn.close()
        raise
    return conn

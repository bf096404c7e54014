"""Several processes opening the same new SQLite file at once (the workers of ``crmgraph serve
--workers N`` starting together, each opening the outbox and the idempotency keys beside it).

Found by CI: a worker's start failed with "database is locked" from ``PRAGMA journal_mode=WAL``,
which SQLite may answer at once, without waiting out the busy timeout, and the whole server
stopped. Here 6 processes open each of 20 new files at the same planned instants; every open
must succeed. (Before the fix, 7 and 9 of 180 opens failed in two runs of the same trial,
and this test failed with 5.)
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

OPENER = """
import sys, time
from pathlib import Path
from app.durable import open_durable
from app.writes.idempotency import IdempotencyStore

folder, start, apart = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
files = int(sys.argv[4])
failed = 0
for n in range(files):
    time.sleep(max(0.0, start + n * apart - time.time()))
    path = folder / f"outbox-{n}.sqlite3"
    try:
        IdempotencyStore(path)
        open_durable(path, "CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY)").close()
    except Exception as exc:
        failed += 1
        print(f"{path.name}: {exc}", file=sys.stderr)
print(failed)
"""

PROCESSES, FILES, APART = 6, 20, 0.15


def test_processes_opening_a_new_file_together_all_open_it(tmp_path: Path) -> None:
    start = time.time() + 2.0  # after every process has imported what it needs
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, str(tmp_path), str(start), str(APART), str(FILES)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    results = [opener.communicate(timeout=120) for opener in openers]
    errors = [err for _, err in results if err.strip()]
    assert errors == []
    assert [int(out) for out, _ in results] == [0] * PROCESSES
    assert len(list(tmp_path.glob("outbox-*.sqlite3"))) == FILES

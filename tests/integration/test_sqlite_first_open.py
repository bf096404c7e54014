"""Several processes opening the same new SQLite file at once (the workers of ``crmgraph serve
--workers N`` starting together, each opening the outbox and the idempotency keys beside it).

Found by CI: a worker's start failed with "database is locked" from ``PRAGMA journal_mode=WAL``,
which SQLite may answer at once, without waiting out the busy timeout, and the whole server
stopped. Here 6 processes open each of 20 new files together: each waits on its stdin for the
file's number, which the test writes to all of them at once, and answers on its stdout before
the next. Every open must succeed. (Before the fix, 7 and 9 of 180 opens failed in two runs of
a similar trial, and this test failed.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

OPENER = """
import sys
from pathlib import Path
from app.durable import open_durable
from app.writes.idempotency import IdempotencyStore

folder = Path(sys.argv[1])
print("ready", flush=True)
for line in sys.stdin:
    path = folder / f"outbox-{int(line)}.sqlite3"
    try:
        IdempotencyStore(path)
        open_durable(path, "CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY)").close()
    except Exception as exc:
        print(f"{path.name}: {exc}", flush=True)
    else:
        print("opened", flush=True)
"""

PROCESSES, FILES = 6, 20


def test_processes_opening_a_new_file_together_all_open_it(tmp_path: Path) -> None:
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, str(tmp_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        assert [o.stdout.readline() for o in openers if o.stdout] == ["ready\n"] * PROCESSES
        answers = []
        for n in range(FILES):
            for opener in openers:  # every one is waiting: released as one
                assert opener.stdin is not None
                opener.stdin.write(f"{n}\n")
                opener.stdin.flush()
            answers += [o.stdout.readline().strip() for o in openers if o.stdout]
    finally:
        for opener in openers:
            if opener.stdin:
                opener.stdin.close()
            opener.wait(timeout=30)
            if opener.stdout:
                opener.stdout.close()
    assert [a for a in answers if a != "opened"] == []
    assert len(answers) == PROCESSES * FILES
    assert len(list(tmp_path.glob("outbox-*.sqlite3"))) == FILES

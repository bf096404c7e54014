"""How ``serve`` runs its processes, in real processes. A worker of ``serve --workers N`` stops
when its supervisor dies (a shell stands in for the supervisor: it starts the worker, then
exits); the garbage collector is tuned for serving."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.serving import SUPERVISOR_ENV

ROOT = str(Path(__file__).resolve().parents[2])

# The worker: follows its supervisor (with the kernel's death signal, or, as where there is
# none, the watching thread), says its pid, then would sleep for a minute.
WORKER = """
import sys, time
from app import serving
if sys.argv[1] == "thread":
    serving._death_signal = lambda signum: False
serving.follow_supervisor()
print(__import__("os").getpid(), flush=True)
time.sleep(60)
"""


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has stopped


def stopped_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return False


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
@pytest.mark.parametrize("how", ["kernel", "thread"])
def test_a_worker_stops_when_its_supervisor_exits(how: str, tmp_path: Path) -> None:
    out = tmp_path / "pid"
    # The shell is the supervisor: it starts the worker, waits for its pid, then exits.
    script = (
        f'export {SUPERVISOR_ENV}=$$; "{sys.executable}" -c "$WORKER" {how} > "{out}" & '
        f'while [ ! -s "{out}" ]; do sleep 0.01; done'
    )
    env = {**os.environ, "WORKER": WORKER, "PYTHONPATH": ROOT}
    subprocess.run(["sh", "-c", script], env=env, check=True, timeout=60)
    pid = int(out.read_text())
    try:
        assert stopped_within(pid, 10), "the worker outlived its supervisor"
    finally:
        if alive(pid):
            os.kill(pid, 9)


def test_a_worker_whose_supervisor_died_before_it_started_stops_at_once(tmp_path: Path) -> None:
    """Its parent is no longer the supervisor it was started by (here: never was)."""
    env = {**os.environ, SUPERVISOR_ENV: "1", "PYTHONPATH": ROOT}
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, "kernel"], env=env, capture_output=True, timeout=60
    )
    assert proc.returncode == -15, proc.stderr  # SIGTERM, before it said its pid
    assert proc.stdout == b""


def test_a_process_not_started_by_a_supervisor_follows_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != SUPERVISOR_ENV}
    code = "from app.serving import follow_supervisor; follow_supervisor(); print('on')"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "PYTHONPATH": ROOT},
        capture_output=True,
        timeout=60,
    )
    assert (proc.returncode, proc.stdout) == (0, b"on\n"), proc.stderr


TUNED = """
import gc, sys
from app.serving import tune_gc
tune_gc(int(sys.argv[1]))
print(gc.get_threshold()[0], gc.get_freeze_count() > 0)
"""


@pytest.mark.parametrize(("allocations", "expected"), [(50_000, "50000 True"), (0, "700 False")])
def test_the_collector_is_tuned_for_serving(allocations: int, expected: str) -> None:
    """In a fresh interpreter, as ``serve`` and each worker do once their app is built."""
    proc = subprocess.run(
        [sys.executable, "-c", TUNED, str(allocations)],
        env={**os.environ, "PYTHONPATH": ROOT},
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout.decode().strip() == expected

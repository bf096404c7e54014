"""Issue 16: gateway instances sharing one Redis behind a real load balancer (HAProxy).

All real processes on loopback: the simulators, a Redis server of the bench's own, gateway
instances (``crmgraph serve --config``, the same config, each on its port), and ``haproxy``
in front of them. Measured in one run:

- dashboard throughput (``tests/dashboard.py``, first: 100, 20 ms upstream latency) at a fixed
  client concurrency with 1 instance behind the load balancer, then 2 (and 1 instance with
  ``--workers 2``), with the CPU seconds each kind of process used meanwhile;
- a burst of dashboards through the load balancer at 2 instances against a HubSpot that
  answers 429 past its limit, with that limit configured as the account's: the upstream 429s
  (and, beside it, the same 2 instances without Redis, each pacing itself alone);
- a subscription opened on instance A receiving changes accepted by instance B (signed Zendesk
  webhooks posted to B).

Without ``haproxy`` on PATH it says how to install it and what it did not measure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from app.demo import DEMO_ENV, demo_config, demo_webhooks
from tests.benchmarks import harness
from tests.benchmarks.report import percentile, table
from tests.benchmarks.webhooks import events, post_all
from tests.dashboard import DASHBOARD
from tests.redis_server import RedisServerError, running_redis

ROOT = Path(__file__).resolve().parents[2]
LATENCY_MS = 20
PAGE = 100
CONCURRENCY = 8
#: Rounds of QUERIES dashboards, each setup in turn: side by side under the same noise.
ROUNDS = 3
QUERIES = 40
#: HubSpot's limit in the simulator, and the same limit configured as the account's.
LIMIT = {"requests": 50, "per_seconds": 5}
BURST = 150
EVENTS = 20
NOT_MEASURED = (
    "Scaling: not measured. `haproxy` is not on PATH; install it (Debian/Ubuntu: "
    "`sudo apt-get install -y haproxy`) and run `.venv/bin/python -m tests.benchmarks "
    "scaling`. Not measured: dashboard throughput at 1 and 2 instances behind the load "
    "balancer, upstream 429s with an account limit across instances, a subscription on one "
    "instance receiving a change accepted by another, `haproxy -c` of deploy/haproxy.cfg.\n"
)


def _config(simulators_url: str, folder: Path, redis_url: str | None, limited: bool) -> Path:
    """The instances' config: the simulators, no per-caller budget and no field cache (the
    gateway's own work is what is measured), state shared through ``redis_url``."""
    config: dict[str, Any] = demo_config(simulators_url)
    config["server"] = {"graphiql": False}
    config["auth"] = {"anonymous_role": "admin"}
    config["limits"] = {"rate": None}
    config["cache"] = {"enabled": False}
    config["writes"] = {"outbox_path": str(folder / "outbox.sqlite3")}
    config["webhooks"] = demo_webhooks()
    if redis_url is not None:
        config["redis_url"] = redis_url
        config["writes"]["backend"] = "redis"
    if limited:
        sources = config["sources"]
        sources["hubspot"] = {**sources["hubspot"], "resilience": {"rate_limit": LIMIT}}
    path = folder / f"crmgraph-{'redis' if redis_url else 'alone'}-{limited}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextlib.asynccontextmanager
async def _instance(config: Path, workers: int = 1) -> AsyncIterator[tuple[str, int]]:
    """One gateway instance (``workers`` processes): its URL and the serve process's pid."""
    port = harness.free_port()
    args = ("--port", str(port), "--workers", str(workers))
    with harness.process("serve", "--config", str(config), *args, env=DEMO_ENV) as proc:
        url = f"http://127.0.0.1:{port}"
        await harness.wait_until_up(f"{url}/readyz", within=60)
        yield url, proc.pid


HAPROXY_CFG = """\
global
    maxconn 2000
defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    timeout tunnel 1h
    option http-keep-alive
frontend gateway
    bind 127.0.0.1:{port}
    default_backend gateways
backend gateways
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 1s fall 2 rise 1
{servers}
"""


@contextlib.contextmanager
def _haproxy(binary: str, folder: Path, backends: list[str]) -> Iterator[tuple[str, int]]:
    """``haproxy`` in front of ``backends`` (URLs): its URL and pid. Its config is checked
    with ``haproxy -c`` first."""
    port = harness.free_port()
    servers = "\n".join(
        f"    server gw{n} {url.removeprefix('http://')} check" for n, url in enumerate(backends, 1)
    )
    path = folder / f"haproxy-{port}.cfg"
    path.write_text(HAPROXY_CFG.format(port=port, servers=servers))
    subprocess.run([binary, "-c", "-q", "-f", str(path)], check=True)
    proc = subprocess.Popen(
        [binary, "-db", "-f", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _until_listening(port, proc)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _until_listening(port: int, proc: subprocess.Popen[bytes], within: float = 10) -> None:
    """Return once ``proc`` accepts connections on ``port`` (it was just started)."""
    until = time.monotonic() + within
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > until:
                raise RuntimeError(f"haproxy did not listen on {port}") from None
            time.sleep(0.02)


def _descendants(pid: int) -> set[int]:
    """``pid`` and its children (a serve process's workers)."""
    found = {pid}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.add(int(entry.name))
    return found


def _machine() -> tuple[int, int]:
    """The machine's CPU time so far (all cores, in ticks), and the idle part of it."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(ticks), ticks[3] + ticks[4]  # idle + iowait


@dataclass
class Setup:
    """One way of serving behind the load balancer, measured round after round."""

    name: str
    url: str  # the load balancer's
    gateways: set[int]  # the serve processes and their workers
    seconds: float = 0.0
    queries: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    #: The whole machine's CPU time meanwhile (every core), and how much of it was idle.
    machine: list[float] = field(default_factory=lambda: [0.0, 0.0])

    def row(self) -> list[object]:
        return [
            self.name,
            self.queries / self.seconds,
            percentile(self.latencies, 50),
            percentile(self.latencies, 95),
            self.errors,
            *self.cpu,
            self.cpu[0] / self.seconds,
            f"{100 * self.machine[1] / self.machine[0]:.0f} %",
        ]


async def _round(setup: Setup, simulators: set[int], others: set[int], warm: bool) -> None:
    """``QUERIES`` dashboards through ``setup`` from ``CONCURRENCY`` clients at once, added to
    its figures with the CPU seconds its gateways, the simulators and the rest (client, load
    balancer, Redis) used meanwhile; ``warm``: one round of ``CONCURRENCY`` first, not counted."""
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=setup.url, timeout=120, limits=limits) as client:

        async def query() -> tuple[float, bool]:
            started = time.perf_counter()
            answer = await client.post(
                "/graphql", json={"query": DASHBOARD, "variables": {"first": PAGE}}
            )
            failed = answer.status_code != 200 or bool(answer.json().get("errors"))
            return (time.perf_counter() - started) * 1000, failed

        if warm:  # connections, tokens, every backend
            await asyncio.gather(*(query() for _ in range(CONCURRENCY)))
        left = QUERIES

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                latency, failed = await query()
                setup.latencies.append(latency)
                setup.errors += failed

        groups = (setup.gateways, simulators, others | {os.getpid()})
        before, machine = [harness.process_cpu(pids) for pids in groups], _machine()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        setup.seconds += time.perf_counter() - started
        setup.queries += QUERIES
        for n, pids in enumerate(groups):
            setup.cpu[n] += harness.process_cpu(pids) - before[n]
        for n, (then, now) in enumerate(zip(machine, _machine(), strict=True)):
            setup.machine[n] += now - then


async def _burst(url: str, simulators_url: str) -> tuple[int, dict[str, int], int, int]:
    """``BURST`` dashboards (first: 10) at once through ``url`` against the HubSpot simulator
    limited to ``LIMIT``: completed, refusals by code, HubSpot requests received, 429s sent."""
    async with (
        httpx.AsyncClient(base_url=url, timeout=120) as client,
        httpx.AsyncClient(base_url=simulators_url) as sims,
    ):
        for _ in range(4):  # warm both instances (connections, the Salesforce token)
            await client.post("/graphql", json={"query": "{ sources { name } }"})
        await sims.post("/hubspot/__reset")
        await sims.put("/hubspot/__config", json={"rate_limit": LIMIT})

        async def one() -> str:
            answer = await client.post(
                "/graphql", json={"query": DASHBOARD, "variables": {"first": 10}}
            )
            errors = answer.json().get("errors") or []
            root = [e for e in errors if e.get("path") == ["customers"]]
            return str(root[0]["extensions"]["code"]) if root else "completed"

        outcomes = await asyncio.gather(*(one() for _ in range(BURST)))
        stats = (await sims.get("/hubspot/__stats")).json()
        await sims.put("/hubspot/__config", json={})
    refused = {c: outcomes.count(c) for c in set(outcomes) if c != "completed"}
    return outcomes.count("completed"), refused, stats["total"], stats["refused"]["total"]


async def _across(a: str, b: str) -> tuple[int, dict[str, int], float]:
    """A ``ticketChanged`` subscription on ``a``; ``EVENTS`` signed Zendesk webhooks posted
    to ``b``: how many reached the subscriber on ``a`` with their ticket, how many with an
    error instead (by code), and the p50 ms from POST to push."""
    *bodies, first = events(EVENTS + 1)
    sent: dict[str, float] = {}
    arrived: dict[str, float] = {}
    failed: dict[str, int] = {}
    ws_url = a.replace("http://", "ws://") + "/graphql"
    async with connect(ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        query = "subscription { ticketChanged { id } }"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))

        async def listen(count: int) -> None:
            while len(arrived) + sum(failed.values()) < count:
                message = json.loads(await ws.recv())
                if message.get("type") != "next":
                    continue
                payload = message["payload"]
                ticket = (payload.get("data") or {}).get("ticketChanged")
                if ticket:
                    arrived.setdefault(ticket["id"], time.monotonic())
                for error in payload.get("errors") or []:
                    code = str(error.get("extensions", {}).get("code"))
                    failed[code] = failed.get(code, 0) + 1

        # The first change tells that the subscription is live (subscribing is asynchronous).
        with contextlib.suppress(TimeoutError):
            await post_all(b, [first], sent)
            await asyncio.wait_for(listen(1), timeout=30)
        if not arrived and not failed:
            return 0, {}, float("nan")
        arrived.clear()
        failed.clear()
        sent.clear()
        await post_all(b, bodies, sent)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(listen(EVENTS), timeout=60)
    latencies = [(arrived[t] - sent[t]) * 1000 for t in arrived if t in sent]
    return len(latencies), failed, percentile(latencies, 50)


def _version(binary: str) -> str:
    """``HAProxy version 2.6.12-1``: the first words ``haproxy -v`` says."""
    said = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False).stdout
    return said.split(" - ")[0].split(" 20")[0].strip() or "haproxy"


def _check_deploy_haproxy(binary: str) -> str:
    """``haproxy -c`` of the deployment's own config: valid or not, and its warnings (here,
    outside compose, the service name ``gateway`` does not resolve: expected)."""
    check = subprocess.run(
        [binary, "-c", "-f", str(ROOT / "deploy" / "haproxy.cfg")],
        capture_output=True,
        text=True,
        check=False,
    )
    said = (check.stdout + check.stderr).splitlines()
    warnings = [line.split(" : ")[-1] for line in said if "[WARNING]" in line]
    if check.returncode != 0:
        alerts = [line for line in said if "[ALERT]" in line]
        return f"`haproxy -c -f deploy/haproxy.cfg`: INVALID: {' | '.join(alerts or said)}"
    shown = f" ({len(warnings)} warnings, e.g. {warnings[0]})" if warnings else ""
    return f"`haproxy -c -f deploy/haproxy.cfg`: valid{shown}"


async def run() -> None:
    binary = shutil.which("haproxy")
    if binary is None:
        print(NOT_MEASURED)
        return
    try:
        with running_redis() as redis, tempfile.TemporaryDirectory() as tmp:
            await _run(binary, _version(binary), redis.url, Path(tmp))
    except RedisServerError as exc:
        print(f"Scaling: not measured: no Redis server to share ({exc})\n")


async def _run(binary: str, version: str, redis_url: str, folder: Path) -> None:
    sims_port = harness.free_port()
    with harness.process("simulate", "--port", str(sims_port)) as sims_proc:
        sims = f"http://127.0.0.1:{sims_port}"
        await harness.wait_until_up(f"{sims}/hubspot/__stats")
        # Throughput is measured, not the simulators' nominal limits (~700 Zendesk calls a
        # minute, which 3 setups x 3 rounds x 40 dashboards x 2 would spend): those are lifted.
        unlimited = {"requests": 1_000_000, "per_seconds": 60}
        await harness.configure_all(sims, {"latency_ms": LATENCY_MS, "rate_limit": unlimited})
        shared = _config(sims, folder, redis_url, limited=False)
        simulators = {sims_proc.pid}
        async with (
            _instance(shared) as (a, a_pid),
            _instance(shared) as (b, b_pid),
            _instance(shared, workers=2) as (c, c_pid),
        ):
            # First, while every source's budget is whole: the throughput rounds below spend
            # much of the simulators' nominal limits, which the gateways learn and respect.
            received, failed, push_p50 = await _across(a, b)
            with (
                _haproxy(binary, folder, [a]) as (lb1, lb1_pid),
                _haproxy(binary, folder, [a, b]) as (lb2, lb2_pid),
                _haproxy(binary, folder, [c]) as (lb3, lb3_pid),
            ):
                setups = [
                    Setup("1 instance", lb1, _descendants(a_pid)),
                    Setup("2 instances", lb2, _descendants(a_pid) | _descendants(b_pid)),
                    Setup("1 instance, --workers 2", lb3, _descendants(c_pid)),
                ]
                others = {lb1_pid, lb2_pid, lb3_pid}
                for n in range(ROUNDS):
                    for setup in setups:
                        await _round(setup, simulators, others, warm=n == 0)
        await harness.configure_all(sims, {})
        bursts = []
        for name, config in (
            ("2 instances sharing Redis", _config(sims, folder, redis_url, limited=True)),
            ("2 instances without Redis (each paces alone)", _config(sims, folder, None, True)),
        ):
            async with _instance(config) as (a2, _), _instance(config) as (b2, _):
                with _haproxy(binary, folder, [a2, b2]) as (lb, _):
                    completed, refused, sent, throttled = await _burst(lb, sims)
            shown = ", ".join(f"{n} {c}" for c, n in sorted(refused.items())) or "0"
            bursts.append([name, completed, shown, sent, throttled])
    rows = [setup.row() for setup in setups]
    one, two, workers = (setup.queries / setup.seconds for setup in setups)
    cores = os.cpu_count() or 1
    print(
        table(
            f"Scaling: dashboards (first: {PAGE}, {LATENCY_MS} ms upstream latency) through "
            f"{version}, {CONCURRENCY} concurrent clients, {ROUNDS} rounds of {QUERIES} queries "
            f"each in turn; {cores} cores",
            [
                "behind the load balancer",
                "queries/s",
                "p50 ms",
                "p95 ms",
                "errors",
                "CPU s gateways",
                "CPU s simulators",
                "CPU s client+LB",
                "gateway cores used",
                "machine idle",
            ],
            rows,
        )
        + f"ratio 2 instances / 1: {two / one:.2f}x (aim >= 1.7x on 2 cores); "
        f"--workers 2 / 1 instance: {workers / one:.2f}x\n"
    )
    print(
        table(
            f"Account limit across instances: {BURST} concurrent dashboards (first: 10) through "
            f"the load balancer, HubSpot limited to {LIMIT['requests']} requests per "
            f"{LIMIT['per_seconds']} s and that limit configured",
            [
                "2 instances",
                "completed",
                "refused (code)",
                "HubSpot requests sent",
                "429s received",
            ],
            bursts,
        )
    )
    print(
        f"Subscription on instance A, {EVENTS} signed Zendesk webhooks posted to instance B: "
        f"{received} of {EVENTS} pushed on A with their ticket (p50 {push_p50:.0f} ms from POST "
        f"to push){''.join(f', {n} with {code}' for code, n in sorted(failed.items()))}\n"
        f"{_check_deploy_haproxy(binary)}\n"
    )

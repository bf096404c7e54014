"""Issue 3: the dashboard query with 20 ms upstream latency, crmgraph vs a naive baseline.

The baseline is the same gateway and schema with batching off (``server.batch_loads: false``):
every relation costs one upstream call per object, as a resolver-per-field gateway would (and
its rate budgets off, so that what is compared is batching alone).
Both run as real processes against the same simulator process, one after the other.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from app.demo import demo_config
from tests.benchmarks import harness
from tests.benchmarks.report import percentile, table
from tests.dashboard import DASHBOARD

LATENCY_MS = 20
PAGE = 100
SEQUENTIAL = 30
CONCURRENT = 4
CONCURRENT_QUERIES = 40
APART = "crmgraph, each CRM's simulator a process"


@dataclass
class Run:
    name: str
    upstream_per_query: float
    p50: float
    p95: float
    qps: float
    failed: int
    #: CPU ms per sequential query of the gateway's process and of the simulators' process.
    gateway_cpu: float
    simulators_cpu: float


async def _measure(name: str, gateway_url: str, simulators: harness.Simulators) -> Run:
    failures: list[str] = []
    async with httpx.AsyncClient(base_url=gateway_url, timeout=120) as client:

        async def query() -> float:
            started = time.perf_counter()
            response = await client.post(
                "/graphql", json={"query": DASHBOARD, "variables": {"first": PAGE}}
            )
            elapsed = (time.perf_counter() - started) * 1000
            body = response.json()
            if body.get("errors"):
                failures.append(body["errors"][0]["message"])
            return elapsed

        await query()  # warm: connections, the Salesforce token
        await harness.upstream_total(simulators, reset=True)
        cpu = harness.cpu_seconds(gateway_url), harness.simulators_cpu(simulators)
        latencies = [await query() for _ in range(SEQUENTIAL)]
        gateway_cpu = (harness.cpu_seconds(gateway_url) - cpu[0]) * 1000 / SEQUENTIAL
        simulators_cpu = (harness.simulators_cpu(simulators) - cpu[1]) * 1000 / SEQUENTIAL
        upstream = await harness.upstream_total(simulators) / SEQUENTIAL

        queue = list(range(CONCURRENT_QUERIES))

        async def worker() -> None:
            while queue:
                queue.pop()
                await query()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENT)))
        qps = CONCURRENT_QUERIES / (time.perf_counter() - started)
    if failures:
        print(f"  {name}: {len(failures)} answers had errors, e.g. {failures[0]}")
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    return Run(name, upstream, p50, p95, qps, len(failures), gateway_cpu, simulators_cpu)


async def run() -> None:
    async with harness.simulators() as sims:
        async with harness.gateway(sims) as url:
            # The same query with no added latency: what the gateway and simulators cost alone.
            floor = await _measure("crmgraph, 0 ms upstream latency", url, sims)
            await harness.configure_all(sims, {"latency_ms": LATENCY_MS})
            batched = await _measure("crmgraph", url, sims)
        # The baseline isolates batching: its hundreds of calls would otherwise be paced by
        # the rate budget (the simulators' nominal limits count down), which is not the point.
        sources = demo_config(sims)["sources"]
        assert isinstance(sources, dict)
        unpaced = {k: {**v, "resilience": {"enabled": False}} for k, v in sources.items()}
        async with harness.gateway(sims, {"sources": unpaced}, batch_loads=False) as url:
            naive = await _measure("naive (one call per object)", url, sims)
    # Four CRMs are four services: with one simulator process, the second wave's six
    # answers are made one after the other; here each CRM's in a process of its own.
    async with harness.simulators_apart() as apart, harness.gateway(apart) as url:
        await harness.configure_all(apart, {"latency_ms": LATENCY_MS})
        separate = await _measure(APART, url, apart)
    target = 2 * LATENCY_MS + 25

    def row(r: Run) -> list[object]:
        cpu = [r.gateway_cpu, r.simulators_cpu]
        return [r.name, r.upstream_per_query, r.p50, r.p95, r.qps, r.failed, *cpu]

    rows = [row(batched), row(naive)]
    rows.append(
        [
            "ratio naive / crmgraph",
            naive.upstream_per_query / batched.upstream_per_query,
            naive.p50 / batched.p50,
            naive.p95 / batched.p95,
            batched.qps / naive.qps,
            "",
            naive.gateway_cpu / batched.gateway_cpu,
            "",
        ]
    )
    rows.append(row(floor))
    rows.append(row(separate))
    ratio = batched.p50 / separate.p50
    rows.append(["ratio one simulator process / one per CRM", "", ratio, "", "", "", "", ""])
    print(
        table(
            f"Dashboard: {PAGE} customers with leads, open tickets + requesters, player stats; "
            f"{LATENCY_MS} ms upstream latency",
            [
                "gateway",
                "upstream req/query",
                "p50 ms",
                "p95 ms",
                f"queries/s (x{CONCURRENT})",
                "answers with errors",
                "gateway CPU ms",
                "simulators CPU ms",
            ],
            rows,
        )
        + f"aim: p50 <= 2 dependent round trips x {LATENCY_MS} ms + 25 ms = {target} ms; "
        f"measured {batched.p50:.1f} ms with the four simulators in one process, of which "
        f"{floor.p50:.1f} ms is spent with no upstream latency at all (gateway CPU for ~4,400 "
        "fields, simulators' own work; CPU columns: per sequential query, each process, from "
        f"/proc); {separate.p50:.1f} ms with each CRM's simulator in a process of its own\n"
    )

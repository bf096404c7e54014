"""Issue 5: a dashboard polling the same page, with and without the field cache.

Three gateways against one simulator process with 20 ms upstream latency: no cache; the cache
warm (every poll within the hot TTL); and the cache with a hot TTL shorter than the poll
interval, so every poll refreshes the hot group (and only it).
"""

from __future__ import annotations

import time

import httpx

from tests.benchmarks import harness
from tests.benchmarks.report import percentile, table
from tests.dashboard import DASHBOARD

LATENCY_MS = 20
POLLS = 20
PAGE = 100


async def _poll(name: str, gateway_url: str, simulators_url: str) -> list[object]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=120) as client:

        async def query() -> float:
            started = time.perf_counter()
            response = await client.post(
                "/graphql", json={"query": DASHBOARD, "variables": {"first": PAGE}}
            )
            elapsed = (time.perf_counter() - started) * 1000
            if response.json().get("errors"):
                raise RuntimeError(f"{name}: {response.json()['errors'][:1]}")
            return elapsed

        await query()  # the first poll fills the cache (and the Salesforce token)
        await harness.upstream_total(simulators_url, reset=True)
        latencies = [await query() for _ in range(POLLS)]
        upstream = await harness.upstream_total(simulators_url) / POLLS
    return [name, upstream, percentile(latencies, 50), percentile(latencies, 95)]


async def run() -> None:
    async with harness.simulators() as sims:
        await harness.configure_all(sims, {"latency_ms": LATENCY_MS})
        async with harness.gateway(sims) as url:
            none = await _poll("no cache", url, sims)
        warm_cache = {"cache": {"enabled": True, "hot_ttl": 300, "cold_ttl": 600}}
        async with harness.gateway(sims, warm_cache) as url:
            warm = await _poll("cache warm (within the hot TTL)", url, sims)
        hot_cache = {"cache": {"enabled": True, "hot_ttl": 0.001, "cold_ttl": 600}}
        async with harness.gateway(sims, hot_cache) as url:
            hot = await _poll("cache, hot group refreshed every poll", url, sims)
    rows = [none, warm, hot]
    rows.append(
        [
            "ratio no cache / warm",
            none[1] / max(float(warm[1]), 1e-9) if warm[1] else "all requests saved",  # type: ignore[arg-type]
            float(none[2]) / float(warm[2]),  # type: ignore[arg-type]
            float(none[3]) / float(warm[3]),  # type: ignore[arg-type]
        ]
    )
    print(
        table(
            f"Polling dashboard: {PAGE} customers, {POLLS} polls, {LATENCY_MS} ms upstream latency",
            ["gateway", "upstream req/poll", "p50 ms", "p95 ms"],
            rows,
        )
    )

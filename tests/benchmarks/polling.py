"""Issue 5: a dashboard polling the same page, with and without the field cache.

Gateways against one simulator process with 20 ms upstream latency: no cache; the field cache
warm (every poll within the hot TTL); the field cache with a hot TTL shorter than the poll
interval, so every poll refreshes the hot group (and only it); and the response cache warm
(the identical poll answered before execution). Latency is of sequential polls; queries/s is
of ``CONCURRENCY`` clients polling for ``SECONDS`` against the one gateway process.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson

from tests.benchmarks import harness
from tests.benchmarks.report import percentile, table
from tests.dashboard import DASHBOARD

LATENCY_MS = 20
POLLS = 20
PAGE = 100
CONCURRENCY = 4
SECONDS = 3.0
FIELDS_ONLY = {"responses": {"enabled": False}}


async def _poll(
    name: str, gateway_url: str, simulators_url: str, polls: int = POLLS
) -> list[object]:
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=120, limits=limits) as client:

        async def query() -> float:
            started = time.perf_counter()
            response = await client.post(
                "/graphql", json={"query": DASHBOARD, "variables": {"first": PAGE}}
            )
            elapsed = (time.perf_counter() - started) * 1000
            errors = orjson.loads(response.content).get("errors")  # the client's share: small
            if errors:
                raise RuntimeError(f"{name}: {errors[:1]}")
            return elapsed

        await query()  # the first poll fills the cache (and the Salesforce token)
        await harness.upstream_total(simulators_url, reset=True)
        latencies = [await query() for _ in range(polls)]
        upstream = await harness.upstream_total(simulators_url) / polls
        done = 0
        until = time.perf_counter() + SECONDS

        async def poller() -> None:
            nonlocal done
            while time.perf_counter() < until:
                await query()
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(poller() for _ in range(CONCURRENCY)))
        per_second = done / (time.perf_counter() - started)
    return [name, upstream, percentile(latencies, 50), percentile(latencies, 95), per_second]


def _ratio(name: str, slow: list[object], fast: list[object]) -> list[object]:
    upstream = float(slow[1]) / float(fast[1]) if fast[1] else "all requests saved"  # type: ignore[arg-type]
    return [
        name,
        upstream,
        float(slow[2]) / float(fast[2]),  # type: ignore[arg-type]
        float(slow[3]) / float(fast[3]),  # type: ignore[arg-type]
        float(fast[4]) / float(slow[4]),  # type: ignore[arg-type]
    ]


async def run() -> None:
    async with harness.simulators() as sims:
        await harness.configure_all(sims, {"latency_ms": LATENCY_MS})
        async with harness.gateway(sims) as url:
            none = await _poll("no cache", url, sims)
        warm_cache = {"enabled": True, "hot_ttl": 300, "cold_ttl": 600}
        async with harness.gateway(sims, {"cache": {**warm_cache, **FIELDS_ONLY}}) as url:
            warm = await _poll("cache warm (within the hot TTL)", url, sims)
        hot_cache = {"cache": {"enabled": True, "hot_ttl": 0.001, "cold_ttl": 600, **FIELDS_ONLY}}
        async with harness.gateway(sims, hot_cache) as url:
            hot = await _poll("cache, hot group refreshed every poll", url, sims)
        async with harness.gateway(sims, {"cache": warm_cache}) as url:
            answers = await _poll("response cache warm", url, sims, polls=10 * POLLS)
    rows = [none, warm, hot, answers]
    rows.append(_ratio("ratio no cache / warm", none, warm))
    rows.append(_ratio("ratio no cache / response cache", none, answers))
    rows.append(_ratio("ratio cache warm / response cache", warm, answers))
    print(
        table(
            f"Polling dashboard: {PAGE} customers, {POLLS} polls ({10 * POLLS} for the response "
            f"cache), {LATENCY_MS} ms upstream latency",
            ["gateway", "upstream req/poll", "p50 ms", "p95 ms", f"queries/s (x{CONCURRENCY})"],
            rows,
        )
    )

"""How fast the simulators start and how many HubSpot batch reads of 100 contacts they serve.

`crmgraph simulate` is started as a real process (as `make simulate` would), timed from exec
until its port answers, then driven over loopback by an httpx client with a few connections.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from app.simulators.credentials import HUBSPOT_TOKEN
from app.simulators.world import build_world
from tests.benchmarks import harness
from tests.benchmarks.report import percentile, table

BATCH_READS = 1000
CONCURRENCY = 8


async def _batch_reads(base_url: str, ids: list[str]) -> tuple[float, list[float], int]:
    headers = {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}
    body_for = [
        {
            "inputs": [{"id": i} for i in ids[(n * 100) % 1000 : (n * 100) % 1000 + 100]],
            "properties": ["firstname", "lastname", "email", "phone", "company"],
        }
        for n in range(BATCH_READS)
    ]
    latencies: list[float] = []
    served = 0
    queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    for body in body_for:
        queue.put_nowait(body)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal served
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            response = await client.post("/crm/v3/objects/contacts/batch/read", json=body)
            latencies.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            served += len(response.json()["results"])

    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
        wall = time.perf_counter() - started
    return wall, latencies, served


async def run() -> None:
    async with harness.timed_simulators() as (base, startup):
        ids = [p.hubspot_id for p in build_world().customers if p.hubspot_id]
        wall, latencies, served = await _batch_reads(f"{base}/hubspot", ids)
    print(
        table(
            "Simulators: `crmgraph simulate` start-up, then 1,000 HubSpot batch reads of 100",
            ["measure", "value"],
            [
                ["start-up until the port answers (s)", round(startup, 2)],
                ["batch reads", BATCH_READS],
                ["client concurrency", CONCURRENCY],
                ["contacts returned", served],
                ["wall time (s)", round(wall, 2)],
                ["batch reads per second", BATCH_READS / wall],
                ["contacts per second", served / wall],
                ["latency p50 (ms)", percentile(latencies, 50)],
                ["latency p95 (ms)", percentile(latencies, 95)],
            ],
        )
    )

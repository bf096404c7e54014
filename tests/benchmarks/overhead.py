"""Issue 9: what metrics and logging cost on the dashboard query.

Two gateway processes against one simulator process, identical but for ``observability``:
"on" counts every metric and logs one JSON event per upstream call and per operation (to
stderr, which the harness discards: the rendering is paid, the terminal is not); "off" counts
nothing and logs warnings only. Tracing is off in both. Queries alternate between them, one
at a time, so both see the same machine; with no upstream latency, the gateway's own CPU is
all there is to measure, the worst case for a relative overhead.
"""

from __future__ import annotations

import time

import httpx

from tests.benchmarks import harness
from tests.benchmarks.report import mean, percentile, table
from tests.dashboard import DASHBOARD

PAGE = 100
ROUNDS = 40
ON = {"observability": {"metrics": True, "log_level": "INFO", "log_upstream_calls": True}}
OFF = {"observability": {"metrics": False, "log_level": "WARNING", "log_upstream_calls": False}}


async def _query(client: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    response = await client.post(
        "/graphql", json={"query": DASHBOARD, "variables": {"first": PAGE}}
    )
    elapsed = (time.perf_counter() - started) * 1000
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"the dashboard answered errors: {body['errors'][0]['message']}")
    return elapsed


async def run() -> None:
    times: dict[str, list[float]] = {"on": [], "off": []}
    async with (
        harness.simulators() as sims,
        harness.gateway(sims, ON) as on_url,
        harness.gateway(sims, OFF) as off_url,
        httpx.AsyncClient(base_url=on_url, timeout=120) as on,
        httpx.AsyncClient(base_url=off_url, timeout=120) as off,
    ):
        for _ in range(3):  # warm: connections, the Salesforce token, imports
            await _query(on)
            await _query(off)
        for n in range(ROUNDS):
            # Alternate which goes first, so neither always follows the other.
            pair = [("on", on), ("off", off)] if n % 2 == 0 else [("off", off), ("on", on)]
            for name, client in pair:
                times[name].append(await _query(client))
    on_t, off_t = times["on"], times["off"]
    rows = [
        [name, percentile(t, 50), percentile(t, 95), mean(t)]
        for name, t in (("metrics + logging on", on_t), ("off", off_t))
    ]
    p50 = percentile(on_t, 50) / percentile(off_t, 50)
    avg = mean(on_t) / mean(off_t)
    rows.append(["ratio on / off", p50, percentile(on_t, 95) / percentile(off_t, 95), avg])
    print(
        table(
            f"Observability overhead: the dashboard ({PAGE} customers), 0 ms upstream latency, "
            f"{ROUNDS} queries each, alternating",
            ["gateway", "p50 ms", "p95 ms", "mean ms"],
            rows,
        )
        + f"overhead: {100 * (p50 - 1):+.1f} % at p50, {100 * (avg - 1):+.1f} % on the mean "
        "(aim: under 5 %)\n"
    )

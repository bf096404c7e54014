"""A query's records are freed as soon as it is answered, not left to the cyclic garbage
collector: the request's loaders, state and execution refer to each other, so without
``GraphQLOverHTTPRouter._release`` every record a dashboard read (~570 of them, ~4,000
objects with their lists and futures) stayed until a collection walked them all.

The real app answers a dashboard with the collector off, in a process of its own (its memory
is what is looked at, and nothing else of the test run may make records meanwhile), against
the simulators in another. Of the ~570 records it read, none may be left but the few a
finished loader batch may still hold until the collector runs (its task keeps the batch's
answer: one customer's tickets, say). The release runs on the event loop: no worker thread
is started for it."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx

import tests
from app.demo import DEMO_ENV
from app.domain.models import Customer, Lead, PlayerStats, Ticket
from tests.benchmarks import harness
from tests.benchmarks.profile import in_process
from tests.dashboard import DASHBOARD

ROOT = Path(tests.__file__).resolve().parents[1]  # the repository
RECORDS = (Customer, Lead, Ticket, PlayerStats)


def live_records() -> int:
    return sum(1 for found in gc.get_objects() if type(found) in RECORDS)


async def dashboard(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": DASHBOARD, "variables": {"first": 100}})
    body = response.json()
    if "errors" in body or len(body["data"]["customers"]["edges"]) != 100:
        raise RuntimeError(f"the dashboard failed: {str(body.get('errors'))[:300]}")


def worker_threads() -> int:
    """anyio's worker threads (Starlette runs a plain function given as a background task in
    one)."""
    return sum(1 for thread in threading.enumerate() if "AnyIO worker" in thread.name)


async def measure() -> dict[str, int]:
    """Records alive before and after a dashboard answered with the collector off, and the
    worker threads started meanwhile."""
    async with harness.simulators() as simulators, in_process(simulators) as client:
        threads = worker_threads()
        await dashboard(client)  # start-up's own objects, and the document, first
        gc.collect()
        before = live_records()
        gc.disable()
        try:
            await dashboard(client)
            after = live_records()
        finally:
            gc.enable()
        threads = worker_threads() - threads
    return {"before": before, "after": after, "threads": threads}


def test_a_dashboards_records_are_freed_once_it_is_answered() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "tests.integration.gateway.test_request_memory"],
        cwd=ROOT,
        env={**os.environ, **DEMO_ENV},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    counts = json.loads(run.stdout.strip().splitlines()[-1])

    # Without the release, all ~570 are left (570 in the run that added this test).
    assert counts["after"] - counts["before"] <= 10, counts
    # Released on the event loop: as a plain function, one worker thread (1 before).
    assert counts["threads"] == 0, counts


if __name__ == "__main__":
    print(json.dumps(asyncio.run(measure())))

"""Issue 16: the gateway's own CPU per dashboard query, and where it goes.

The gateway runs in this process (its real ASGI app, lifespan and connectors, called through
httpx's ASGI transport) against the simulators' process with no added latency, so the CPU time
of this process per query is the gateway's own work plus a thin client. Rows, in one run, each
measured in rounds taken in turn:

- ``ordinary execution``: every field resolved by graphql-core and Strawberry, one at a time,
  every request's document parsed and validated again, and Python's own garbage collection
  (the rest of issue 16's savings — orjson, field maps, requesters answered at once — stay on
  in every row);
- ``crmgraph, Python's GC``: plain and nested fields read in place, known documents reused;
- ``crmgraph``: that, with the collector tuned as ``crmgraph serve`` tunes it
  (:func:`app.serving.tune_gc`);
- the ratios.

Then pyinstrument's profile of the ``crmgraph`` row: its functions with the most time of their
own, and the share of each package.
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml
from pyinstrument import Profiler
from pyinstrument.frame import Frame

from app.config import Server, load_config
from app.demo import DEMO_ENV, demo_config
from app.main import create_app
from app.serving import tune_gc
from schema.documents import KnownDocuments
from schema.execution import PolicyExecutionContext
from tests.benchmarks import harness
from tests.benchmarks.report import percentile, table
from tests.dashboard import DASHBOARD

#: Seconds of own time by function or package.
Seconds = defaultdict[str, float]

QUERIES = 20
ROUNDS = 3
PROFILED = 40
TOP = 15


@asynccontextmanager
async def in_process(simulators_url: str, **sections: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway's app in this process against the simulators; ``sections`` replace whole
    top-level sections of its config (``observability={...}``)."""
    config = demo_config(simulators_url)
    config["server"] = {"graphiql": False}
    config["auth"] = {"anonymous_role": "admin"}
    config["limits"] = {"rate": None}
    config["cache"] = {"enabled": False}
    config.update(sections)
    with tempfile.TemporaryDirectory(prefix="crmgraph-profile-") as folder:
        path = Path(folder) / "crmgraph.yaml"
        path.write_text(yaml.safe_dump(config))
        os.environ.update(DEMO_ENV)
        app = create_app(load_config(path))
        async with _served(app) as client:
            yield client


@asynccontextmanager
async def _served(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            yield client


def _collector(tuned: int) -> None:
    """The collector as ``serve`` tunes it (``tuned`` allocations), or Python's own."""
    if tuned:
        tune_gc(tuned)
    else:
        gc.unfreeze()
        gc.set_threshold(*PYTHON_GC)


#: Python's own collector thresholds.
PYTHON_GC = (700, 10, 10)


async def _query(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": DASHBOARD, "variables": {"first": 100}})
    body = response.json()
    if body.get("errors") or len(body["data"]["customers"]["edges"]) != 100:
        raise RuntimeError(f"the dashboard failed: {str(body.get('errors'))[:300]}")


async def _cpu_per_query(client: httpx.AsyncClient) -> tuple[float, float]:
    """CPU ms per query (mean) and wall ms per query (p50)."""
    for _ in range(3):
        await _query(client)
    walls = []
    cpu = time.process_time()
    for _ in range(QUERIES):
        started = time.perf_counter()
        await _query(client)
        walls.append((time.perf_counter() - started) * 1000)
    return (time.process_time() - cpu) * 1000 / QUERIES, percentile(walls, 50)


def _own_time(frame: Frame, totals: Seconds, packages: Seconds) -> None:
    own = frame.total_self_time
    if own > 0 and frame.file_path:
        path = frame.file_path.split("site-packages/")[-1]
        where = path.replace(str(Path.cwd()) + "/", "")
        totals[f"{frame.function} ({where}:{frame.line_no})"] += own
        if where.startswith("/"):  # the standard library: name its module (asyncio, json…)
            where = "stdlib " + where.split("/lib/python3")[-1].split("/", 1)[-1]
        packages[where.split("/")[0].removesuffix(".py")] += own
    for child in frame.children:
        _own_time(child, totals, packages)


def _most(seconds: Seconds) -> list[tuple[str, float]]:
    return sorted(seconds.items(), key=lambda item: -item[1])[:TOP]


async def _row(client: httpx.AsyncClient, fast: bool, tuned: int) -> tuple[float, float]:
    PolicyExecutionContext.plain_fields = fast
    KnownDocuments.enabled = fast
    _collector(tuned)
    try:
        return await _cpu_per_query(client)
    finally:
        PolicyExecutionContext.plain_fields = True
        KnownDocuments.enabled = True


async def run() -> None:
    tuned = Server().gc_allocations
    rows_of = {"ordinary": (False, 0), "untuned": (True, 0), "crmgraph": (True, tuned)}
    measured: dict[str, list[tuple[float, float]]] = {name: [] for name in rows_of}
    async with harness.simulators() as sims:
        # Hundreds of dashboards in a minute: what is measured is CPU, not the rate budget.
        await harness.configure_all(sims, {"rate_limit": {"requests": 100_000, "per_seconds": 60}})
        async with in_process(sims) as client:
            for _ in range(3):
                await _query(client)
            for _ in range(ROUNDS):
                for name, (fast, gc_allocations) in rows_of.items():
                    measured[name].append(await _row(client, fast, gc_allocations))
            _collector(tuned)
            profiler = Profiler(interval=0.0005)
            profiler.start()
            for _ in range(PROFILED):
                await _query(client)
            session = profiler.stop()
    _collector(0)
    cpu = {name: sum(r[0] for r in runs) / len(runs) for name, runs in measured.items()}
    p50 = {name: percentile([r[1] for r in runs], 50) for name, runs in measured.items()}
    rows = [
        [
            "ordinary execution, every document parsed, Python's GC",
            cpu["ordinary"],
            p50["ordinary"],
        ],
        ["crmgraph, Python's GC", cpu["untuned"], p50["untuned"]],
        [f"crmgraph (GC tuned as serve tunes it: {tuned:,})", cpu["crmgraph"], p50["crmgraph"]],
        [
            "ratio ordinary / crmgraph",
            cpu["ordinary"] / cpu["crmgraph"],
            p50["ordinary"] / p50["crmgraph"],
        ],
        [
            "ratio Python's GC / tuned",
            cpu["untuned"] / cpu["crmgraph"],
            p50["untuned"] / p50["crmgraph"],
        ],
    ]
    print(
        table(
            "Gateway CPU per dashboard query (100 customers, ~4,400 fields, 0 ms upstream latency, "
            f"{ROUNDS} rounds of {QUERIES} queries each, taken in turn)",
            ["execution", "CPU ms/query", "p50 ms"],
            rows,
        )
    )
    totals: Seconds = defaultdict(float)
    packages: Seconds = defaultdict(float)
    root = session.root_frame()
    if root is not None:
        _own_time(root, totals, packages)
    whole = sum(totals.values()) or 1.0
    print(
        table(
            f"Profile of the crmgraph row (pyinstrument, {PROFILED} queries): "
            "functions with the most time of their own",
            ["function", "% of samples"],
            [[name, f"{100 * t / whole:.1f}"] for name, t in _most(totals)],
        )
    )
    print(
        table(
            "... and by package",
            ["package", "% of samples"],
            [[name, f"{100 * t / whole:.1f}"] for name, t in _most(packages)],
        )
    )

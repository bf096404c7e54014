"""Issue 16: where one dashboard's time goes at 20 ms upstream latency, read from its spans.

The gateway runs in this process (its real app, as ``profile`` runs it) with tracing on and
its spans kept in memory; the simulators run in a process of their own, at 20 ms latency.
Each dashboard is one trace: its operation's span, its loader batches' and its upstream calls'.
From them, for each dashboard, the moments its time divides at (ms from the operation's start):
HubSpot asked and answered, the second wave asked (first, last) and answered (first, last),
the last loader batch done (its answer read into records) and the operation done (every
record completed). The simulators' own logs add the other side of the wire: when the second
wave's last request reached them and when they wrote its last answer (``time.monotonic()``,
one clock for both processes). The table gives each phase's median over the dashboards, and
what is neither latency nor the operation (the request read and the answer written, in and
out). Tracing costs a few spans' worth of CPU; the p50 is ``dashboard``'s, measured without it.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from app.observability import tracing
from app.serving import tune_gc
from tests.benchmarks import harness
from tests.benchmarks.profile import in_process
from tests.benchmarks.report import table
from tests.dashboard import DASHBOARD

LATENCY_MS = 20
DASHBOARDS = 40
WARM = 5
HUBSPOT = "POST /crm/v3/objects/contacts/search"


def _ms(nanoseconds: int | None, origin: int) -> float:
    return ((nanoseconds or origin) - origin) / 1e6


def moments(
    spans: list[ReadableSpan], served: list[dict[str, Any]], offset: int
) -> dict[str, float]:
    """The moments one dashboard's time divides at, in ms from its operation's start
    (``served``: the simulators' log of its requests; ``offset``: wall-clock less monotonic
    nanoseconds)."""
    operation = next(s for s in spans if s.parent is None)
    origin = operation.start_time or 0

    def simulators(moment: str) -> float:
        wave = [r for r in served if f"{r['method']} {r['path']}" != HUBSPOT]
        return max(_ms(round(r["times"][moment] * 1e9) + offset, origin) for r in wave)

    calls = [s for s in spans if s.kind == SpanKind.CLIENT]
    hubspot = next(s for s in calls if s.name.endswith(HUBSPOT))
    wave = [s for s in calls if s is not hubspot]
    loaders = [s for s in spans if s.name.startswith("loader ")]
    asked = sorted(_ms(s.start_time, origin) for s in wave)
    answered = sorted(_ms(s.end_time, origin) for s in wave)
    return {
        "hubspot asked": _ms(hubspot.start_time, origin),
        "hubspot answered": _ms(hubspot.end_time, origin),
        "wave asked, first": asked[0],
        "wave asked, last": asked[-1],
        "wave in, last": simulators("arrived"),
        "wave out, last": simulators("answered"),
        "wave answered, first": answered[0],
        "wave answered, last": answered[-1],
        "records read": max(_ms(s.end_time, origin) for s in loaders),
        "operation done": _ms(operation.end_time, origin),
    }


PHASES: list[tuple[str, str | None, str]] = [
    ("gateway: the query read, planned, HubSpot asked", None, "hubspot asked"),
    ("HubSpot: latency, its simulator, the answer's transfer", "hubspot asked", "hubspot answered"),
    (
        "gateway: 100 customers read, relations started, second wave asked",
        "hubspot answered",
        "wave asked, last",
    ),
    ("second wave: to the simulators, its last request in", "wave asked, last", "wave in, last"),
    (
        "second wave: latency and the simulators' work in turn, its last answer out",
        "wave in, last",
        "wave out, last",
    ),
    (
        "gateway: the answers read (with the earlier ones' records), the last done",
        "wave out, last",
        "wave answered, last",
    ),
    ("gateway: the last answers read into records", "wave answered, last", "records read"),
    ("gateway: every record completed, the answer made", "records read", "operation done"),
]


async def run() -> None:
    samples: dict[str, list[float]] = defaultdict(list)
    totals: list[float] = []
    observability = {"tracing": {"enabled": True, "exporter": "memory"}}
    async with harness.simulators() as sims, in_process(sims, observability=observability) as c:
        tune_gc(50_000)  # as ``crmgraph serve`` tunes it
        await harness.configure_all(sims, {"latency_ms": LATENCY_MS})
        body: dict[str, Any] = {"query": DASHBOARD, "variables": {"first": 100}}
        simulators_cpu = 0.0
        # Each dashboard's trace and its span of the monotonic clock (its requests are read
        # from the simulators' logs at the end, their CPU measured without those reads).
        kept: list[tuple[list[ReadableSpan], float, float, int]] = []
        for index in range(WARM + DASHBOARDS):
            if index == WARM:
                simulators_cpu = harness.simulators_cpu(sims)
            seen = len(tracing.finished_spans())
            offset = time.time_ns() - round(time.monotonic() * 1e9)
            started = time.perf_counter()
            since = time.monotonic()
            response = await c.post("/graphql", json=body)
            elapsed = (time.perf_counter() - started) * 1000
            if response.json().get("errors"):
                raise RuntimeError(f"the dashboard failed: {response.text[:300]}")
            if index < WARM:
                continue
            spans = list(tracing.finished_spans()[seen:])
            traces: dict[int, list[ReadableSpan]] = defaultdict(list)
            for span in spans:
                traces[span.context.trace_id if span.context else 0].append(span)
            (one,) = traces.values()  # one dashboard, one trace
            kept.append((one, since, time.monotonic(), offset))
            totals.append(elapsed)
        simulators_cpu = (harness.simulators_cpu(sims) - simulators_cpu) * 1000 / DASHBOARDS
        served = await harness.served_since(sims, kept[0][1])
    for one, since, until, offset in kept:
        mine = [r for r in served if since <= r["times"]["arrived"] <= until]
        for name, value in moments(one, mine, offset).items():
            samples[name].append(value)
    median = {name: statistics.median(values) for name, values in samples.items()}
    rows: list[list[object]] = []
    gateway = 0.0
    for label, start, end in PHASES:
        begin = median[start] if start else 0.0
        rows.append([label, begin, median[end], median[end] - begin])
        gateway += median[end] - begin if label.startswith("gateway") else 0.0
    total = statistics.median(totals)
    done = median["operation done"]
    rows.append(["outside the operation: the request in, the answer out", "", "", total - done])
    rows.append(["the dashboard, as its client measured it", "", "", total])
    print(
        table(
            f"Dashboard timeline: {LATENCY_MS} ms upstream latency, medians of {DASHBOARDS} "
            "dashboards (the gateway in this process, tracing on)",
            ["phase", "from ms", "to ms", "ms"],
            rows,
        )
        + f"gateway phases on the critical path: {gateway:.1f} ms (since session 26 with the "
        "answers' reading, which the second wave's phase held before); latency: "
        f"{2 * LATENCY_MS} ms (2 dependent round trips); the rest: the simulators' work and "
        "transfers, and the request in and out; the simulators' process used "
        f"{simulators_cpu:.1f} ms of CPU per dashboard (from /proc)\n"
    )

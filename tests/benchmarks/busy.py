"""A busy requester: the dashboard when its first customer has 3,000 more open tickets.

An integration or a bot can raise thousands of tickets as one Zendesk user. The dashboard shows
each customer's 5 newest open tickets; what that customer costs it is measured here as the
same dashboard before and after the simulator's own ``create_many`` gives them 3,000 more (all
newer than any other), at 0 ms and at 20 ms upstream latency, in one run.
"""

from __future__ import annotations

import httpx

from app.simulators import credentials
from tests.benchmarks import harness
from tests.benchmarks.dashboard import PAGE, Run, _measure
from tests.benchmarks.report import table
from tests.dashboard import DASHBOARD

LATENCY_MS = 20
BUSY = 3000
AUTH = (f"{credentials.ZENDESK_EMAIL}/token", credentials.ZENDESK_API_TOKEN)


async def _make_busy(gateway_url: str, simulators: str) -> str:
    """Give the dashboard's first customer ``BUSY`` more open tickets; their email."""
    async with httpx.AsyncClient(base_url=gateway_url, timeout=60) as client:
        answer = await client.post("/graphql", json={"query": DASHBOARD, "variables": {"first": 1}})
    email = str(answer.json()["data"]["customers"]["edges"][0]["node"]["email"])
    async with httpx.AsyncClient(base_url=f"{simulators}/zendesk", auth=AUTH, timeout=60) as zd:
        found = await zd.get("/api/v2/users/search", params={"query": email})
        [user] = found.json()["users"]
        for start in range(0, BUSY, 100):
            tickets = [
                {
                    "subject": f"automated report {start + i}",
                    "comment": {"body": "raised by an integration"},
                    "requester_id": user["id"],
                    "status": "open",
                }
                for i in range(100)
            ]
            made = await zd.post("/api/v2/tickets/create_many", json={"tickets": tickets})
            made.raise_for_status()
    return email


async def run() -> None:
    async with harness.simulators() as sims, harness.gateway(sims) as url:
        quiet = await _measure("quiet, 0 ms", url, sims)
        await harness.configure_all(sims, {"latency_ms": LATENCY_MS})
        quiet_slow = await _measure(f"quiet, {LATENCY_MS} ms", url, sims)
        await harness.configure_all(sims, {})
        await _make_busy(url, sims)
        busy = await _measure("busy, 0 ms", url, sims)
        await harness.configure_all(sims, {"latency_ms": LATENCY_MS})
        busy_slow = await _measure(f"busy, {LATENCY_MS} ms", url, sims)

    def row(r: Run) -> list[object]:
        return [r.name, r.upstream_per_query, r.p50, r.p95, r.failed, r.gateway_cpu]

    def ratio(name: str, busy: Run, quiet: Run) -> list[object]:
        return [
            name,
            busy.upstream_per_query / quiet.upstream_per_query,
            busy.p50 / quiet.p50,
            busy.p95 / quiet.p95,
            "",
            busy.gateway_cpu / quiet.gateway_cpu,
        ]

    rows = [row(quiet), row(busy), ratio("ratio busy / quiet, 0 ms", busy, quiet)]
    rows += [row(quiet_slow), row(busy_slow)]
    rows.append(ratio(f"ratio busy / quiet, {LATENCY_MS} ms", busy_slow, quiet_slow))
    print(
        table(
            f"A busy requester: the dashboard ({PAGE} customers, 5 newest open tickets each) "
            f"before and after its first customer gets {BUSY:,} more open tickets",
            [
                "dashboard",
                "upstream req/query",
                "p50 ms",
                "p95 ms",
                "answers with errors",
                "gateway CPU ms",
            ],
            rows,
        )
        + "the export's first page (1,000 tickets) holds the busy customer's 5 newest; the other "
        "customers' tickets are read by one more export of theirs alone, not by paging through "
        "the busy customer's 3,000\n"
    )

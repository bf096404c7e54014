"""A busy requester: the dashboard when its first customer has 3,000 more open tickets.

An integration or a bot can raise thousands of tickets as one Zendesk user. The dashboard shows
each customer's 5 newest open tickets; what that customer costs it is measured here as the
same dashboard before and after the simulator's own ``create_many`` gives them 3,000 more (all
newer than any other), at 0 ms and at 20 ms upstream latency, in one run. Then the same with
Dynamics 365 serving customers, leads and tickets (``--crm dynamics``), the cases made by the
Web API's own ``$batch``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from app.connectors.http import UpstreamClient
from app.demo import demo_config
from app.simulators import credentials
from tests.benchmarks import harness
from tests.benchmarks.dashboard import PAGE, Run, _measure
from tests.benchmarks.report import table
from tests.dashboard import DASHBOARD
from tests.dynamics_org import connector, make_busy

LATENCY_MS = 20
BUSY = 3000
AUTH = (f"{credentials.ZENDESK_EMAIL}/token", credentials.ZENDESK_API_TOKEN)


async def _first_customer(gateway_url: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=60) as client:
        answer = await client.post("/graphql", json={"query": DASHBOARD, "variables": {"first": 1}})
    node: dict[str, str] = answer.json()["data"]["customers"]["edges"][0]["node"]
    return node


async def _make_busy(gateway_url: str, simulators: str) -> None:
    """Give the dashboard's first customer ``BUSY`` more open tickets."""
    email = (await _first_customer(gateway_url))["email"]
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


async def _make_busy_in_dynamics(gateway_url: str, simulators: str) -> None:
    """Give the dashboard's first customer ``BUSY`` more open cases in Dataverse."""
    customer = await _first_customer(gateway_url)
    made: list[UpstreamClient] = []
    try:
        dyn = connector(simulators, made)
        await make_busy(dyn, customer["id"].removeprefix("dynamics:"), customer["brand"], BUSY)
    finally:
        for client in made:
            await client.aclose()


async def _runs(crm: str, make: Callable[[str, str], Awaitable[None]]) -> tuple[Run, Run, Run, Run]:
    """Quiet and busy, at 0 ms and at ``LATENCY_MS``, with ``crm`` serving customers."""
    name = "zendesk" if crm == "default" else crm
    async with harness.simulators() as sims:
        config = demo_config(sims, crm=crm)
        sections = {"sources": config["sources"], "entities": config.get("entities")}
        async with harness.gateway(sims, sections if crm == "dynamics" else None) as url:
            quiet = await _measure(f"{name}: quiet, 0 ms", url, sims)
            await harness.configure_all(sims, {"latency_ms": LATENCY_MS})
            quiet_slow = await _measure(f"{name}: quiet, {LATENCY_MS} ms", url, sims)
            await harness.configure_all(sims, {})
            await make(url, sims)
            busy = await _measure(f"{name}: busy, 0 ms", url, sims)
            await harness.configure_all(sims, {"latency_ms": LATENCY_MS})
            busy_slow = await _measure(f"{name}: busy, {LATENCY_MS} ms", url, sims)
    return quiet, quiet_slow, busy, busy_slow


async def run() -> None:
    zendesk = await _runs("default", _make_busy)
    dynamics = await _runs("dynamics", _make_busy_in_dynamics)

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

    rows: list[list[object]] = []
    for crm, (quiet, quiet_slow, busy, busy_slow) in (("zendesk", zendesk), ("dynamics", dynamics)):
        rows += [row(quiet), row(busy), ratio(f"{crm}: ratio busy / quiet, 0 ms", busy, quiet)]
        rows += [row(quiet_slow), row(busy_slow)]
        rows.append(ratio(f"{crm}: ratio busy / quiet, {LATENCY_MS} ms", busy_slow, quiet_slow))
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
        + "default (Zendesk tickets): the export's first page (1,000 tickets) holds the busy "
        "customer's 5 newest; the other customers' tickets are read by one more export of "
        "theirs alone, not by paging through the busy customer's 3,000\n"
        "dynamics (--crm dynamics: customers, leads and cases from Dataverse): the busy "
        "customer's chunk of 50 contacts is asked for a "
        "page of 500 cases, which holds its 5 newest; its other 49 contacts are asked again "
        "on their own\n"
    )

"""Issue 6: a burst of 200 concurrent dashboards against a rate-limited HubSpot simulator,
with the resilience layer on and off, side by side in one run. Issue 16 (4): the cold burst
with no configured limit, cold-start pacing off (before) and on (after), in the same run."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from app.demo import demo_config
from tests.benchmarks import harness
from tests.benchmarks.report import table
from tests.dashboard import DASHBOARD

QUERIES = 200
LIMIT = {"requests": 50, "per_seconds": 5}


async def _burst(name: str, gateway_url: str, simulators_url: str) -> list[Any]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=120) as client:
        await client.post("/graphql", json={"query": "{ sources { name } }"})
        async with httpx.AsyncClient(base_url=simulators_url) as sims:
            await sims.post("/hubspot/__reset")
            await sims.put("/hubspot/__config", json={"rate_limit": LIMIT})

            async def one() -> str:
                response = await client.post(
                    "/graphql", json={"query": DASHBOARD, "variables": {"first": 10}}
                )
                errors = response.json().get("errors") or []
                root = [e for e in errors if e.get("path") == ["customers"]]
                return root[0]["extensions"]["code"] if root else "completed"

            outcomes = await asyncio.gather(*(one() for _ in range(QUERIES)))
            stats = (await sims.get("/hubspot/__stats")).json()
            await sims.put("/hubspot/__config", json={})
    codes = {c: outcomes.count(c) for c in set(outcomes)}
    refused = ", ".join(f"{n} {c}" for c, n in sorted(codes.items()) if c != "completed")
    sent, refused_429 = stats["total"], stats["refused"]["total"]
    return [
        name,
        codes.get("completed", 0),
        refused or "0",
        sent,
        refused_429,
        f"{100 * refused_429 / sent:.1f} %" if sent else "-",
    ]


def _ratio(before: list[Any], after: list[Any]) -> str:
    """Cold-start pacing's effect on the 429s: before (off) -> after (on)."""
    b, a = before[4], after[4]
    ratio = f"{b / a:.0f}x fewer" if a else ("none either way" if not b else "all avoided")
    return f"Cold-start pacing, 429s: {b} ({before[5]}) off -> {a} ({after[5]}) on: {ratio}"


async def run() -> None:
    async with harness.simulators() as sims:
        base = demo_config(sims)["sources"]
        assert isinstance(base, dict)
        off = {k: {**v, "resilience": {"enabled": False}} for k, v in base.items()}
        paced = dict(base)
        paced["hubspot"] = {**base["hubspot"], "resilience": {"rate_limit": LIMIT}}
        async with harness.gateway(sims, {"sources": paced}) as url:
            paced_row = await _burst("resilience on, account limit configured", url, sims)
        cold_off = {
            **base,
            "hubspot": {**base["hubspot"], "resilience": {"cold_start_pacing": False}},
        }
        async with harness.gateway(sims, {"sources": cold_off}) as url:
            before_row = await _burst("CRM headers only, cold-start pacing off (before)", url, sims)
        async with harness.gateway(sims) as url:
            on_row = await _burst("CRM headers only, cold-start pacing on (after)", url, sims)
        async with harness.gateway(sims, {"sources": off}) as url:
            off_row = await _burst("resilience off", url, sims)
    print(
        table(
            f"Burst: {QUERIES} concurrent dashboards, HubSpot limited to "
            f"{LIMIT['requests']} requests per {LIMIT['per_seconds']} s, 10 s deadline",
            [
                "gateway",
                "completed",
                "refused (code)",
                "HubSpot requests sent",
                "429s received",
                "429 %",
            ],
            [paced_row, before_row, on_row, off_row],
        )
    )
    print(_ratio(before_row, on_row))

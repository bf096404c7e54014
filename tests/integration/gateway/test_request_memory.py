"""A query's records are freed as soon as it is answered, not left to the cyclic garbage
collector: the request's loaders, state and execution refer to each other, so without
``GraphQLOverHTTPRouter._release`` every record a dashboard read (~570 of them, ~4,000
objects with their lists and futures) stayed until a collection walked them all. The real
app, in this process (its memory is what is looked at), answers a dashboard with the
collector off; the records alive after it are those alive before."""

from __future__ import annotations

import gc

import httpx
import pytest

from app.demo import DEMO_ENV
from app.domain.models import Customer, Lead, PlayerStats, Ticket
from app.simulators.server import RunningSimulators
from tests.benchmarks.profile import in_process
from tests.dashboard import DASHBOARD

RECORDS = (Customer, Lead, Ticket, PlayerStats)


def live_records() -> int:
    return sum(1 for found in gc.get_objects() if type(found) in RECORDS)


async def dashboard(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": DASHBOARD, "variables": {"first": 100}})
    body = response.json()
    assert "errors" not in body
    assert len(body["data"]["customers"]["edges"]) == 100


async def test_a_dashboards_records_are_freed_once_it_is_answered(
    simulators: RunningSimulators, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in DEMO_ENV.items():
        monkeypatch.setenv(name, value)
    async with in_process(simulators.base_url) as client:
        await dashboard(client)  # start-up's own objects, and the document, first
        gc.collect()
        before = live_records()
        gc.disable()
        try:
            await dashboard(client)
            after = live_records()
        finally:
            gc.enable()

    assert after == before

"""Zendesk's export on an account with many archived tickets: its reference warns that a page
of 1,000 may be slow or time out, and recommends 100. The gateway asks 1,000 a page (a page of
customers' tickets in one round trip); when such a page times out, it asks it again at 100 and
keeps to 100 for the source's next exports, instead of failing every page of tickets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from app.simulators.server import RunningSimulators
from tests.integration.gateway.conftest import GraphQL, Upstreams, serve_with_source

EXPORT = "/api/v2/search/export"
QUERY = """{
  customers(first: 20) { edges { node { id tickets(first: 3) { id status } } } }
}"""


@pytest.fixture
async def slow_exports(control: httpx.AsyncClient) -> AsyncIterator[None]:
    """An account whose export pages of more than 100 take 3 s."""
    answer = await control.put("/zendesk/__slow_exports", json={"above": 100, "ms": 3000})
    assert answer.status_code == 204, answer.text
    yield
    (await control.delete("/zendesk/__slow_exports")).raise_for_status()


async def page_sizes(upstreams: Upstreams, pages: int) -> list[str]:
    """The page sizes of the export requests, by arrival, once ``pages`` are logged (the
    simulator logs a request when it answers: the slow page's, ~3 s after it came)."""
    for _ in range(100):
        asked = [r for r in await upstreams.requests("zendesk") if r["path"] == EXPORT]
        if len(asked) >= pages:
            break
        await asyncio.sleep(0.05)
    asked.sort(key=lambda r: r["times"]["arrived"])
    return [parse_qs(r["query"])["page[size]"][0] for r in asked]


@pytest.mark.parametrize(
    ("zendesk", "server"),
    [
        # Each attempt may take 1 s: a page of 1,000 does not come in time.
        ({"timeout": {"connect": 1, "read": 1, "total": 1}}, {}),
        # The source's own timeouts (30 s), the request's 2 s: the large page may take half.
        ({}, {"request_deadline": 2}),
    ],
    ids=["source timeout", "request deadline"],
)
async def test_an_export_page_that_times_out_is_asked_again_at_100(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    upstreams: Upstreams,
    slow_exports: None,
    zendesk: dict[str, object],
    server: dict[str, object],
) -> None:
    server = {"startup_check": False, **server}
    with serve_with_source(simulators.base_url, keys_file, "zendesk", server, **zendesk) as url:
        headers = {"X-API-Key": keys["admin"]}
        async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as http:
            gql = GraphQL(http)
            await upstreams.reset()
            first = await gql(QUERY)
            sizes_first = await page_sizes(upstreams, 2)
            await upstreams.reset()
            second = await gql(QUERY)
            sizes_second = await page_sizes(upstreams, 1)

    assert "errors" not in first, first["errors"]
    assert first == second
    customers = [edge["node"] for edge in first["data"]["customers"]["edges"]]
    assert any(customer["tickets"] for customer in customers)
    # The page of 1,000 once (its timeout not retried), then 100; the next query at 100.
    assert sizes_first[:2] == ["1000", "100"]
    assert set(sizes_first[1:]) == {"100"}
    assert set(sizes_second) == {"100"}

"""Issue 3's promise: a dashboard of customers costs a handful of upstream requests."""

from __future__ import annotations

import pytest

from tests.dashboard import DASHBOARD
from tests.integration.gateway.conftest import GraphQL, Upstreams


async def test_the_dashboard_of_100_customers_costs_at_most_8_upstream_requests(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    await gql.data(DASHBOARD, first=1)  # warm the Salesforce token, fetched once per process
    await upstreams.reset()

    data = await gql.data(DASHBOARD, first=100)

    customers = [e["node"] for e in data["customers"]["edges"]]
    assert len(customers) == 100
    assert any(c["leads"] for c in customers)
    assert any(c["tickets"] for c in customers)
    assert any(c["playerStats"] for c in customers)
    counts = await upstreams.counts()
    assert sum(counts.values()) <= 8, counts


@pytest.mark.parametrize("first", [10, 50, 100])
async def test_the_dashboard_cost_does_not_grow_with_the_page_size(
    gql: GraphQL, upstreams: Upstreams, first: int
) -> None:
    await gql.data(DASHBOARD, first=1)
    await upstreams.reset()

    await gql.data(DASHBOARD, first=first)

    counts = await upstreams.counts()
    # One search, one lead query, users + ticket search, one batchGet per brand on the page.
    assert counts["hubspot"] == 1
    assert counts["salesforce"] == 1
    assert counts["zendesk"] == 2
    assert counts["players"] <= 3


async def test_ticket_requesters_on_the_page_cost_no_extra_request(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    await gql.data(DASHBOARD, first=1)
    await upstreams.reset()

    data = await gql.data(DASHBOARD, first=50)

    for edge in data["customers"]["edges"]:
        customer = edge["node"]
        for ticket in customer["tickets"]:
            assert ticket["requester"] == {"id": customer["id"], "name": customer["name"]}
    assert (await upstreams.counts())["hubspot"] == 1

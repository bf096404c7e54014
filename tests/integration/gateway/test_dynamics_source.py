"""One ``kind: dynamics`` source serving customers, leads and tickets: the dashboard answers
in the same shape as with HubSpot, Salesforce and Zendesk, in a handful of requests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import parse_config
from app.connectors.base import Requester
from app.connectors.http import UpstreamClient
from app.demo import demo_config, demo_env
from app.domain.models import TicketStatus
from app.simulators.server import RunningSimulators
from app.webhooks.normalise import Normaliser
from tests.dashboard import DASHBOARD
from tests.dynamics_org import connector, make_busy
from tests.integration.connectors.conftest import API
from tests.integration.gateway.conftest import GraphQL, gateway_config, serve_gateway
from tests.shapes import same_shape, shape

PREFIX = "/dynamics"
OPEN = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)


@pytest.fixture(scope="module")
def dynamics_gateway(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str]
) -> Iterator[str]:
    demo_env()
    config = demo_config(simulators.base_url, keys_file, crm="dynamics")
    settings = parse_config(
        gateway_config(
            simulators.base_url, keys_file, sources=config["sources"], entities=config["entities"]
        )
    )
    Normaliser(settings)  # the webhook worker starts: no CRM of another kind is asked for
    with serve_gateway(
        simulators.base_url, keys_file, sources=config["sources"], entities=config["entities"]
    ) as url:
        yield url


@pytest.fixture
async def dyn_gql(dynamics_gateway: str, keys: dict[str, str]) -> AsyncIterator[GraphQL]:
    headers = {"X-API-Key": keys["admin"]}
    async with httpx.AsyncClient(base_url=dynamics_gateway, timeout=30, headers=headers) as c:
        yield GraphQL(c)


async def dynamics_requests(control: httpx.AsyncClient) -> dict[str, int]:
    stats = (await control.get(f"{PREFIX}/__stats")).json()
    return dict(stats["requests"])


async def test_the_dashboard_of_100_customers_from_dynamics(
    dyn_gql: GraphQL, gql: GraphQL, control: httpx.AsyncClient
) -> None:
    await dyn_gql.data(DASHBOARD, first=1)  # the token, fetched once per process
    (await control.post(f"{PREFIX}/__reset")).raise_for_status()

    data = await dyn_gql.data(DASHBOARD, first=100)

    requests = await dynamics_requests(control)
    total = sum(requests.values())
    print(f"\ndashboard of 100 customers: {total} requests to Dynamics: {requests}")
    assert total <= 8, requests
    connection = data["customers"]
    assert connection["totalCount"] == 1000
    customers = [e["node"] for e in connection["edges"]]
    assert len(customers) == 100
    assert all(c["id"].startswith("dynamics:") for c in customers)
    assert any(c["leads"] for c in customers)
    assert any(c["tickets"] for c in customers)
    assert any(c["playerStats"] for c in customers)
    for customer in customers:
        assert len(customer["tickets"]) <= 5
        for ticket in customer["tickets"]:
            assert ticket["status"] in ("NEW", "OPEN", "PENDING")
            assert ticket["requester"] == {"id": customer["id"], "name": customer["name"]}
    assert connection["pageInfo"]["hasNextPage"] is True

    # The same shape as the answer of the other CRMs.
    other = await gql.data(DASHBOARD, first=100)

    def full(nodes: list[dict[str, Any]]) -> dict[str, Any]:
        return next(n for n in nodes if n["leads"] and n["tickets"] and n["playerStats"])

    mine = full(customers)
    theirs = full([e["node"] for e in other["customers"]["edges"]])
    assert same_shape(shape(mine), shape(theirs))
    assert same_shape(
        shape({**data["customers"], "edges": []}), shape({**other["customers"], "edges": []})
    )


async def test_the_next_page_follows_the_cursor(dyn_gql: GraphQL) -> None:
    first = await dyn_gql.data(DASHBOARD, first=30)
    cursor = first["customers"]["pageInfo"]["endCursor"]
    query = """
    query Next($after: String!) {
      customers(first: 30, after: $after) { edges { node { id } } pageInfo { hasNextPage } }
    }
    """
    second = await dyn_gql.data(query, after=cursor)
    before = {e["node"]["id"] for e in first["customers"]["edges"]}
    after = {e["node"]["id"] for e in second["customers"]["edges"]}
    assert len(after) == 30
    assert not before & after


async def test_a_busy_customers_older_tickets_are_not_read(
    dyn_gql: GraphQL, control: httpx.AsyncClient, simulators: RunningSimulators, reseeded: None
) -> None:
    """The dashboard's first customer is given 1,200 more open cases, the newest of the org:
    the page still shows each customer's newest 5, and the cases past them are not read."""
    first = (await dyn_gql.data(DASHBOARD, first=100))["customers"]["edges"]
    busy = first[0]["node"]
    made: list[UpstreamClient] = []
    dyn = connector(simulators.base_url, made)
    try:
        await make_busy(dyn, busy["id"].removeprefix("dynamics:"), busy["brand"], 1200)
        requesters = [
            Requester(e["node"]["id"].removeprefix("dynamics:"), e["node"]["email"]) for e in first
        ]
        whole = await dyn.tickets_by_requester(requesters, OPEN, ["status", "created_at"])
    finally:
        for client in made:
            await client.aclose()
    (await control.post(f"{PREFIX}/__reset")).raise_for_status()

    data = await dyn_gql.data(DASHBOARD, first=100)

    for edge in data["customers"]["edges"]:
        node = edge["node"]
        newest = whole.get(node["id"].removeprefix("dynamics:"), [])[:5]
        assert [t["id"] for t in node["tickets"]] == [f"dynamics:{t.id.native}" for t in newest]
    assert len(whole[busy["id"].removeprefix("dynamics:")]) > 1200
    requests = await dynamics_requests(control)
    # Its chunk's first page (500 of its cases) was enough for it; its chunk's other
    # customers were asked for again on their own.
    assert requests[f"GET {API}/incidents"] == 1, requests


CREATE_LEAD = """mutation($input: CreateLeadInput!) { createLead(input: $input) {
  status userErrors { field code message } lead { id name email status brand } } }"""
CREATE_TICKET = """mutation($input: CreateTicketInput!) { createTicket(input: $input) {
  status userErrors { field code } ticket { id subject status priority brand } } }"""


@pytest.fixture
async def reseeded(control: httpx.AsyncClient) -> AsyncIterator[None]:
    yield
    (await control.post(f"{PREFIX}/__reset", params={"data": "true"})).raise_for_status()


async def test_writes_go_to_dynamics_and_its_refusals_name_the_field(
    dyn_gql: GraphQL, reseeded: None
) -> None:
    lead = {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "ada.dynamics@example.com",
        "company": "Analytical Engines",
        "brand": "luckyspin",
    }
    done = (await dyn_gql.data(CREATE_LEAD, input=lead))["createLead"]
    assert done["status"] == "APPLIED", done
    assert done["lead"]["id"].startswith("dynamics:")
    assert (done["lead"]["status"], done["lead"]["brand"]) == ("NEW", "luckyspin")

    # Within the gateway's 80 characters, beyond the 50 of Dataverse's lastname column.
    refused = (await dyn_gql.data(CREATE_LEAD, input={**lead, "lastName": "x" * 60}))["createLead"]
    assert refused["status"] != "APPLIED"
    assert refused["userErrors"], refused
    assert refused["userErrors"][0]["code"] == "0x80044331"
    assert refused["userErrors"][0]["field"][-1] in ("lastName", "last_name")

    ticket = {
        "subject": "Withdrawal still pending",
        "description": "Since Monday.",
        "requesterEmail": "Someone.New@Example.com",
        "priority": "HIGH",
        "brand": "goldcoast",
    }
    made = (await dyn_gql.data(CREATE_TICKET, input=ticket))["createTicket"]
    assert made["status"] == "APPLIED", made
    assert {k: v for k, v in made["ticket"].items() if k != "id"} == {
        "subject": "Withdrawal still pending",
        "status": "NEW",
        "priority": "HIGH",
        "brand": "goldcoast",
    }

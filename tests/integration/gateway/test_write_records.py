"""An APPLIED mutation always answers its record as written, write after write, and after
Salesforce renews its tokens: never a silent null."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.simulators.server import RunningSimulators
from tests.integration.gateway.conftest import GraphQL, serve_gateway

UPDATE_TICKET = """mutation($id: ID!, $input: UpdateTicketInput!) {
  updateTicket(id: $id, input: $input) { status userErrors { code } ticket { id priority } } }"""
TICKETS = "{ tickets(first: 40) { edges { node { id status } } } }"
CUSTOMERS = "{ customers(first: 5) { edges { node { id } } } }"
AWARD = """mutation($p: ID!, $input: AwardPointsInput!) {
  awardPoints(playerId: $p, input: $input) {
    status userErrors { code } playerStats { pointsBalance } } }"""
UPDATE_CUSTOMER = """mutation($id: ID!, $input: UpdateCustomerInput!) {
  updateCustomer(id: $id, input: $input) { status userErrors { code } customer { id company } } }"""
UPDATE_LEAD = """mutation($id: ID!, $input: UpdateLeadInput!) {
  updateLead(id: $id, input: $input) { status userErrors { code } lead { id company } } }"""


@pytest.fixture(params=[False, True], ids=["no-cache", "field-cache"])
def gateway_url(
    request: pytest.FixtureRequest,
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
) -> Iterator[str]:
    """A gateway of its own, without and with the field cache (as the demo runs)."""
    with serve_gateway(simulators.base_url, keys_file, cache={"enabled": request.param}) as url:
        yield url


@pytest.fixture(autouse=True)
async def reseeded(control: Any) -> Any:
    yield
    for prefix in ("/hubspot", "/salesforce", "/zendesk", "/players"):
        (await control.post(f"{prefix}/__reset", params={"data": "true"})).raise_for_status()


async def test_every_ticket_update_answers_the_ticket_as_written(gql: GraphQL) -> None:
    edges = (await gql.data(TICKETS))["tickets"]["edges"]
    open_ones = [e["node"]["id"] for e in edges if e["node"]["status"] != "CLOSED"][:8]
    assert len(open_ones) == 8
    for node in open_ones:
        body = await gql(UPDATE_TICKET, id=node, input={"priority": "URGENT"})
        data = body["data"]["updateTicket"]
        assert data["status"] == "APPLIED", body
        assert data["ticket"] == {"id": node, "priority": "URGENT"}, body


async def test_every_award_answers_the_new_balance(gql: GraphQL, world: Any) -> None:
    for seed in world.players[:5]:
        body = await gql(AWARD, p=seed.player_id, input={"delta": 10, "reason": "loyalty"})
        data = body["data"]["awardPoints"]
        assert data["status"] == "APPLIED", body
        assert data["playerStats"] == {"pointsBalance": seed.points_balance + 10}, body


async def test_every_customer_update_answers_the_customer_as_written(gql: GraphQL) -> None:
    edges = (await gql.data(CUSTOMERS))["customers"]["edges"]
    ids = [edge["node"]["id"] for edge in edges]
    assert len(ids) == 5
    for n, node in enumerate(ids):
        body = await gql(UPDATE_CUSTOMER, id=node, input={"company": f"Engines {n}"})
        data = body["data"]["updateCustomer"]
        assert data["status"] == "APPLIED", body
        assert data["customer"] == {"id": node, "company": f"Engines {n}"}, body


async def test_a_lead_update_after_salesforce_renews_its_tokens_answers_the_lead(
    gql: GraphQL, control: Any
) -> None:
    edges = (await gql.data("{ leads(first: 4) { edges { node { id } } } }"))["leads"]["edges"]
    for n, edge in enumerate(edges):
        (await control.post("/salesforce/__expire_tokens")).raise_for_status()
        node = edge["node"]["id"]
        body = await gql(UPDATE_LEAD, id=node, input={"company": f"Renewed {n}"})
        data = body["data"]["updateLead"]
        assert data["status"] == "APPLIED", body
        assert data["lead"] == {"id": node, "company": f"Renewed {n}"}, body

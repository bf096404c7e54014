"""Every mutation whose CRM is down (503 on every route) is QUEUED with a syncJobId, and applied
exactly once by the worker when the CRM is back; even when the record could not be looked up
first."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.simulators.server import RunningSimulators
from tests.integration.gateway.conftest import GraphQL, Upstreams, serve_gateway

SYNC_JOB = "query($id: ID!) { syncJob(id: $id) { status attempts lastError recordId } }"
TICKET = "{ tickets(first: 40) { edges { node { id status } } } }"
CUSTOMER = "{ customers(first: 1) { edges { node { id } } } }"
LEADS = "{ leads(first: 40) { edges { node { id email status } } } }"
BY_EMAIL = "query($e: String) { leads(first: 1, filter: {email: $e}) { edges { node { id } } } }"
DOWN = {"error_rate": 1, "error_status": 503}


@pytest.fixture
def gateway_url(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str]
) -> Iterator[str]:
    writes = {
        "outbox_path": str(keys_file.parent / f"outbox-{uuid.uuid4().hex}.sqlite3"),
        "worker_interval": 0.05,
        "backoff_base": 0.05,
        "max_attempts": 100,  # still queued, not parked, while a breaker stays open
        "default_phone_region": "GB",
    }
    with serve_gateway(simulators.base_url, keys_file, writes=writes) as url:
        yield url


@pytest.fixture(autouse=True)
async def reseeded(control: Any) -> Any:
    yield
    for prefix in ("/hubspot", "/salesforce", "/zendesk", "/players"):
        (await control.post(f"{prefix}/__reset", params={"data": "true"})).raise_for_status()


async def a_ticket(gql: GraphQL, _: Any) -> str:
    edges = (await gql.data(TICKET))["tickets"]["edges"]
    return str(next(e["node"]["id"] for e in edges if e["node"]["status"] != "CLOSED"))


async def a_customer(gql: GraphQL, _: Any) -> str:
    return str((await gql.data(CUSTOMER))["customers"]["edges"][0]["node"]["id"])


async def a_lead(gql: GraphQL, _: Any) -> str:
    edges = (await gql.data(LEADS))["leads"]["edges"]
    return str(
        next(
            e["node"]["id"]
            for e in edges
            if e["node"]["email"] and e["node"]["status"] not in ("CONVERTED", "UNQUALIFIED")
        )
    )


async def a_prospect(gql: GraphQL, world: Any) -> str:
    """A lead HubSpot has no contact for yet."""
    person = next(p for p in world.people if p.lead and not p.customer and p.email)
    edges = (await gql.data(BY_EMAIL, e=person.email))["leads"]["edges"]
    return str(edges[0]["node"]["id"])


async def a_player(_: GraphQL, world: Any) -> str:
    return str(world.players[0].player_id)


#: mutation, its CRM, how to find a record to write, the call that applies it (CRM, method,
#: path ending) and the variables.
CASES: dict[str, tuple[str, str, Any, list[tuple[str, str, str]], dict[str, Any]]] = {
    "updateTicket": (
        """mutation($id: ID!) { updateTicket(id: $id, input: {priority: "URGENT"}) {
          status syncJobId userErrors { code } } }""",
        "zendesk",
        a_ticket,
        [("zendesk", "PUT", "")],
        {},
    ),
    "updateCustomer": (
        """mutation($id: ID!) { updateCustomer(id: $id, input: {company: "Outage Ltd"}) {
          status syncJobId userErrors { code } } }""",
        "hubspot",
        a_customer,
        [("hubspot", "PATCH", "")],
        {},
    ),
    "updateLead": (
        """mutation($id: ID!) { updateLead(id: $id, input: {company: "Outage Ltd"}) {
          status syncJobId userErrors { code } } }""",
        "salesforce",
        a_lead,
        [("salesforce", "PATCH", "")],
        {},
    ),
    "convertLead": (
        """mutation($id: ID!) { convertLead(id: $id) {
          status syncJobId userErrors { code } } }""",
        "salesforce",
        a_prospect,
        [("salesforce", "PATCH", ""), ("hubspot", "POST", "/crm/v3/objects/contacts")],
        {},
    ),
    "awardPoints": (
        """mutation($id: ID!) { awardPoints(playerId: $id, input: {delta: 5, reason: "sorry"}) {
          status syncJobId userErrors { code } } }""",
        "players",
        a_player,
        [("players", "POST", "/points")],
        {},
    ),
}


async def applied(upstreams: Upstreams, crm: str, method: str, ending: str) -> int:
    """Writes ``crm`` carried out: requests of ``method`` to a path ending ``ending``, 2xx."""
    return sum(
        1
        for r in await upstreams.requests(crm)
        if r["method"] == method and r["path"].endswith(ending) and 200 <= r["status"] < 300
    )


@pytest.mark.parametrize("mutation", list(CASES))
async def test_a_write_whose_crm_is_down_is_queued_then_applied_once(
    mutation: str, gql: GraphQL, upstreams: Upstreams, world: Any
) -> None:
    query, crm, find, calls, _ = CASES[mutation]
    record = await find(gql, world)
    await upstreams.reset()
    await upstreams.configure(crm, DOWN)
    body = await gql(query, id=record)
    assert body.get("data"), body
    data = body["data"][mutation]
    assert (data["status"], data["userErrors"]) == ("QUEUED", []), body
    assert data["syncJobId"], body
    assert [await applied(upstreams, *call) for call in calls] == [0] * len(calls)

    await upstreams.configure(crm, {})
    for _ in range(400):
        job = (await gql.data(SYNC_JOB, id=data["syncJobId"]))["syncJob"]
        if job["status"] in ("APPLIED", "FAILED"):
            break
        await asyncio.sleep(0.1)
    assert job["status"] == "APPLIED", job
    assert [await applied(upstreams, *call) for call in calls] == [1] * len(calls)


async def test_an_update_queued_unchecked_is_refused_when_applied_if_of_another_brand(
    gql_as: Any, world: Any, upstreams: Upstreams
) -> None:
    ticket = next(t for t in world.tickets if t.requester.brand.key == "goldcoast")
    await upstreams.configure("zendesk", DOWN)
    data = (
        await gql_as("admin@luckyspin").data(
            CASES["updateTicket"][0], id=f"zendesk:{ticket.idx + 1}"
        )
    )["updateTicket"]
    assert (data["status"], data["userErrors"]) == ("QUEUED", []), data
    await upstreams.configure("zendesk", {})
    for _ in range(400):
        job = (await gql_as("admin").data(SYNC_JOB, id=data["syncJobId"]))["syncJob"]
        if job["status"] in ("APPLIED", "FAILED"):
            break
        await asyncio.sleep(0.1)
    assert (job["status"], job["lastError"]) == ("FAILED", f"no ticket with id {ticket.idx + 1}")
    assert not [r for r in await upstreams.requests("zendesk") if r["method"] == "PUT"]

"""Lookups by id keep to the caller's role and brands: ``node(id:)`` of a type the role may not
read at all, and ``syncJob(id:)`` of another brand's job."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.simulators.server import RunningSimulators
from app.simulators.world import World
from tests.integration.gateway.conftest import Upstreams, errors_at, serve_gateway

NODE = "query($id: ID!) { node(id: $id) { id __typename ... on Lead { status } } }"
LEAD_ID = "{ leads(first: 1) { edges { node { id } } } }"
IMPORT = """mutation($leads: [CreateLeadInput!]!) {
  importLeads(leads: $leads) { status syncJobId userErrors { code } } }"""
UPDATE = """mutation($id: ID!, $input: UpdateTicketInput!) {
  updateTicket(id: $id, input: $input) { status syncJobId userErrors { code } } }"""
JOB = "query($id: ID!) { syncJob(id: $id) { id status } }"


@pytest.fixture
def gateway_url(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str]
) -> Iterator[str]:
    """A gateway of its own: the jobs of these tests stay in its outbox."""
    with serve_gateway(simulators.base_url, keys_file) as url:
        yield url


@pytest.fixture(autouse=True)
async def reseeded(control: Any) -> Any:
    yield
    for prefix in ("/salesforce", "/zendesk"):
        (await control.post(f"{prefix}/__reset", params={"data": "true"})).raise_for_status()


# -- node(id:) -----------------------------------------------------------------------------------


async def test_node_of_a_type_the_role_may_not_read_is_null_and_forbidden(
    gql_as: Any, upstreams: Upstreams
) -> None:
    lead = (await gql_as("admin").data(LEAD_ID))["leads"]["edges"][0]["node"]["id"]
    await upstreams.reset()
    body = await gql_as("support")(NODE, id=lead)
    assert body["data"] == {"node": None}
    [error] = errors_at(body, "node")
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert await upstreams.total() == 0  # decided before any lookup


async def test_node_of_an_unreadable_type_answers_alike_whether_the_record_exists(
    gql_as: Any,
) -> None:
    lead = (await gql_as("admin").data(LEAD_ID))["leads"]["edges"][0]["node"]["id"]
    source = lead.split(":", 1)[0]
    support = gql_as("support")
    existing = await support(NODE, id=lead)
    missing = await support(NODE, id=f"{source}:00Q000000000000NOPE")
    assert existing == missing


async def test_node_of_a_readable_type_still_answers(gql_as: Any, world: World) -> None:
    person = world.customers[0]
    body = await gql_as("support")(
        "query($id: ID!) { node(id: $id) { id __typename } }", id=f"hubspot:{person.hubspot_id}"
    )
    assert body["data"]["node"] == {"id": f"hubspot:{person.hubspot_id}", "__typename": "Customer"}


# -- syncJob(id:) --------------------------------------------------------------------------------


def rows(brand: str) -> list[dict[str, Any]]:
    tag = uuid.uuid4().hex[:8]
    return [
        {
            "firstName": "Ada",
            "lastName": "Byron",
            "email": f"ada.{tag}@example.com",
            "company": "Engines",
            "brand": brand,
        }
    ]


async def unknown_job_answer(gql_as: Any, name: str) -> dict[str, Any]:
    body: dict[str, Any] = await gql_as(name)(JOB, id=str(uuid.uuid4()))
    return body


async def test_another_brands_import_job_answers_like_an_unknown_id(gql_as: Any) -> None:
    imported = await gql_as("admin@luckyspin").data(IMPORT, leads=rows("luckyspin"))
    job_id = imported["importLeads"]["syncJobId"]
    assert job_id
    for own in ("admin@luckyspin", "admin"):
        assert (await gql_as(own).data(JOB, id=job_id))["syncJob"]["id"] == job_id
    theirs = await gql_as("admin@goldcoast")(JOB, id=job_id)
    unknown = await unknown_job_answer(gql_as, "admin@goldcoast")
    assert theirs["data"] == unknown["data"] == {"syncJob": None}
    [error] = theirs["errors"]
    [expected] = unknown["errors"]
    assert error["extensions"] == expected["extensions"]
    assert error["message"] == expected["message"].replace(
        expected["message"].rsplit(" ", 1)[-1], job_id
    )


async def test_another_brands_update_job_answers_like_an_unknown_id(
    gql_as: Any, world: World, upstreams: Upstreams
) -> None:
    ticket = next(t for t in world.tickets if t.requester.brand.key == "luckyspin")
    native = ticket.idx + 1
    await upstreams.configure(
        "zendesk",
        {"routes": {"PUT /api/v2/tickets/{ticket_id}": {"error_rate": 1, "error_status": 503}}},
    )
    updated = await gql_as("admin@luckyspin").data(
        UPDATE, id=f"zendesk:{native}", input={"priority": "HIGH"}
    )
    job_id = updated["updateTicket"]["syncJobId"]
    assert job_id, updated
    assert (await gql_as("admin@luckyspin").data(JOB, id=job_id))["syncJob"]["id"] == job_id
    theirs = await gql_as("admin@goldcoast")(JOB, id=job_id)
    assert theirs["data"] == {"syncJob": None}
    assert theirs["errors"][0]["extensions"]["code"] == "NOT_FOUND"

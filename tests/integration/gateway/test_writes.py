"""createLead through the HTTP endpoint: validated, applied, idempotent, queued when the CRM is
down and applied once it is back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.simulators.server import RunningSimulators
from tests.integration.gateway.conftest import GraphQL, Upstreams, serve_gateway

CREATE = """mutation($input: CreateLeadInput!, $key: String) {
  createLead(input: $input, idempotencyKey: $key) {
    status syncJobId userErrors { field code message }
    lead { id name email company status brand }
  } }"""
LEAD_POSTS = "POST /services/data/{version}/sobjects/Lead"


@pytest.fixture
def gateway_url(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str]
) -> Iterator[str]:
    """A gateway of its own: the outbox and breaker state of these tests stay here."""
    with serve_gateway(simulators.base_url, keys_file) as url:
        yield url


@pytest.fixture(autouse=True)
async def reseeded(control: Any) -> Any:
    """Writes change the simulators' data, which other tests compare with the seeded world:
    restore it afterwards."""
    yield
    for prefix in ("/hubspot", "/salesforce", "/zendesk", "/players"):
        (await control.post(f"{prefix}/__reset", params={"data": "true"})).raise_for_status()


def new_lead(**extra: Any) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    return {
        "firstName": "Ada",
        "lastName": f"Lovelace {tag}",
        "email": f"Ada.{tag}@Example.com",
        "phone": "020 7946 0958",
        "company": "Analytical Engines",
        "brand": "luckyspin",
        **extra,
    }


async def test_a_valid_lead_is_created_and_readable(gql: GraphQL, upstreams: Upstreams) -> None:
    lead = new_lead()
    data = (await gql.data(CREATE, input=lead))["createLead"]
    assert data["status"] == "APPLIED"
    assert data["userErrors"] == []
    assert data["lead"]["email"] == lead["email"].lower()
    assert data["lead"]["status"] == "NEW"
    assert data["lead"]["brand"] == "luckyspin"
    assert (await upstreams.routes("salesforce")).get(LEAD_POSTS) == 1
    posts = [
        r
        for r in await upstreams.requests("salesforce")
        if r["method"] == "POST"
        and "/composite/" not in r["path"]
        and r["path"].endswith("/sobjects/Lead")
    ]
    assert [p["body"]["Phone"] for p in posts] == ["+442079460958"]  # E.164, read as GB


async def test_bad_input_is_user_errors_and_nothing_is_written(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    data = (
        await gql.data(CREATE, input={"firstName": "Ada", "email": "not-an-email", "phone": "12"})
    )["createLead"]
    assert data["status"] is None
    assert data["lead"] is None
    codes = {tuple(e["field"]): e["code"] for e in data["userErrors"]}
    assert codes[("input", "lastName")] == "REQUIRED"
    assert codes[("input", "company")] == "REQUIRED"
    assert codes[("input", "email")] == "INVALID_EMAIL"
    assert codes[("input", "phone")] == "INVALID_PHONE"
    assert "email" in next(e["message"] for e in data["userErrors"] if e["code"] == "INVALID_EMAIL")
    assert LEAD_POSTS not in await upstreams.routes("salesforce")


async def test_the_same_idempotency_key_writes_once_and_answers_the_same(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    key = f"form-{uuid.uuid4()}"
    lead = new_lead()
    first = (await gql.data(CREATE, input=lead, key=key))["createLead"]
    again = (await gql.data(CREATE, input=lead, key=key))["createLead"]
    assert first == again
    assert (await upstreams.routes("salesforce")).get(LEAD_POSTS) == 1


async def test_a_role_that_may_not_write_leads_is_forbidden(
    gql_as: Any, upstreams: Upstreams
) -> None:
    body = await gql_as("analyst")(CREATE, input=new_lead())
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await upstreams.total() == 0


async def test_a_write_while_salesforce_is_down_is_queued_then_applied_once(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    await gql.data("{ leads(first: 1) { edges { cursor } } }")  # the OAuth token, before the fault
    await upstreams.configure(
        "salesforce", {"routes": {LEAD_POSTS: {"error_rate": 1, "error_status": 503}}}
    )
    queued = (await gql.data(CREATE, input=new_lead(), key=str(uuid.uuid4())))["createLead"]
    assert queued["status"] == "QUEUED"
    job_id = queued["syncJobId"]
    job = (
        await gql.data(
            "query($id: ID!) { syncJob(id: $id) { status attempts lastError } }", id=job_id
        )
    )["syncJob"]
    assert job["status"] in ("QUEUED", "APPLYING")

    await upstreams.configure("salesforce", {})  # Salesforce is back
    for _ in range(200):  # the worker retries with backoff: wait for it, bounded
        job = (
            await gql.data(
                "query($id: ID!) { syncJob(id: $id) { status attempts recordId } }", id=job_id
            )
        )["syncJob"]
        if job["status"] == "APPLIED":
            break
        await asyncio.sleep(0.05)
    assert job["status"] == "APPLIED"
    assert job["recordId"].startswith("salesforce:00Q")
    routes = await upstreams.routes("salesforce")
    stats = (await upstreams.client.get("/salesforce/__stats")).json()
    served_posts = routes[LEAD_POSTS] - stats["refused"]["requests"].get(LEAD_POSTS, 0)
    assert served_posts == 1  # applied exactly once
    lead = (await gql.data(f'{{ lead(id: "{job["recordId"]}") {{ company }} }}'))["lead"]
    assert lead == {"company": "Analytical Engines"}


async def test_a_create_whose_answer_was_lost_is_not_created_twice(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    """Salesforce creates the lead but the answer never arrives: the queued retry finds the
    lead by its email instead of creating a second one."""
    await gql.data("{ leads(first: 1) { edges { cursor } } }")  # the OAuth token, before the fault
    await upstreams.configure("salesforce", {"routes": {LEAD_POSTS: {"lost_rate": 1}}})
    lead = new_lead()
    queued = (await gql.data(CREATE, input=lead))["createLead"]
    assert queued["status"] == "QUEUED"
    await upstreams.configure("salesforce", {})
    for _ in range(200):
        job = (
            await gql.data(
                "query($id: ID!) { syncJob(id: $id) { status recordId } }", id=queued["syncJobId"]
            )
        )["syncJob"]
        if job["status"] == "APPLIED":
            break
        await asyncio.sleep(0.05)
    assert job["status"] == "APPLIED"
    assert (await upstreams.routes("salesforce"))[LEAD_POSTS] == 1  # the lost one, only
    query = "query($e: String!) { leads(first: 5, filter: {email: $e}) { edges { node { id } } } }"
    found = (await gql.data(query, e=lead["email"].lower()))["leads"]["edges"]
    assert [edge["node"]["id"] for edge in found] == [job["recordId"]]


UPDATE = """mutation($id: ID!, $input: UpdateTicketInput!) {
  updateTicket(id: $id, input: $input) {
    status syncJobId userErrors { field code message } ticket { id status priority subject }
  } }"""


async def test_a_ticket_update_sends_only_the_fields_given_and_reads_back_new(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    data = (
        await gql.data(
            UPDATE, id="zendesk:21", input={"status": "PENDING", "comment": "Looking into it"}
        )
    )["updateTicket"]
    assert data["status"] == "APPLIED"
    assert data["ticket"]["status"] == "PENDING"
    [put] = [r for r in await upstreams.requests("zendesk") if r["method"] == "PUT"]
    assert put["body"] == {
        "ticket": {"status": "pending", "comment": {"body": "Looking into it", "public": True}}
    }


async def test_a_ticket_update_with_bad_input_writes_nothing(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    data = (await gql.data(UPDATE, id="zendesk:21", input={"status": "ESCALATED"}))["updateTicket"]
    assert data["status"] is None
    assert data["userErrors"][0]["field"] == ["input", "status"]
    assert not [r for r in await upstreams.requests("zendesk") if r["method"] == "PUT"]


async def test_another_brands_ticket_cannot_be_updated(
    gql_as: Any, world: Any, upstreams: Upstreams
) -> None:
    ticket = next(t for t in world.tickets if t.requester.brand.key == "goldcoast")
    data = (
        await gql_as("admin@luckyspin").data(
            UPDATE, id=f"zendesk:{ticket.idx + 1}", input={"priority": "HIGH"}
        )
    )["updateTicket"]
    assert data["userErrors"][0]["code"] == "NOT_FOUND"
    assert not [r for r in await upstreams.requests("zendesk") if r["method"] == "PUT"]


async def test_support_may_update_tickets_but_not_create_leads(gql_as: Any) -> None:
    support = gql_as("support")
    updated = (await support.data(UPDATE, id="zendesk:22", input={"priority": "HIGH"}))[
        "updateTicket"
    ]
    assert updated["status"] == "APPLIED"
    refused = await support(CREATE, input=new_lead())
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_update_lead_changes_the_status_and_forbids_setting_converted(
    gql: GraphQL, world: Any
) -> None:
    person = next(p for p in world.people if p.lead and not p.lead_converted)
    lead_id = (
        await gql.data(
            "query($e: String) { leads(first: 1, filter: {email: $e}) { edges { node { id } } } }",
            e=person.email,
        )
    )["leads"]["edges"][0]["node"]["id"]
    mutation = """mutation($id: ID!, $input: UpdateLeadInput!) {
                    updateLead(id: $id, input: $input) {
                      status userErrors { field code } lead { status company } } }"""
    done = (
        await gql.data(mutation, id=lead_id, input={"status": "WORKING", "company": "Babbage & Co"})
    )["updateLead"]
    assert done["status"] == "APPLIED"
    assert done["lead"] == {"status": "WORKING", "company": "Babbage & Co"}
    refused = (await gql.data(mutation, id=lead_id, input={"status": "CONVERTED"}))["updateLead"]
    assert refused["userErrors"][0]["field"] == ["input", "status"]


async def test_create_ticket_for_a_requester_by_email(gql: GraphQL, upstreams: Upstreams) -> None:
    mutation = """mutation($input: CreateTicketInput!) { createTicket(input: $input) {
                    status userErrors { field code } ticket { subject status priority brand } } }"""
    done = (
        await gql.data(
            mutation,
            input={
                "subject": "Withdrawal still pending",
                "description": "Since Monday.",
                "requesterEmail": "Someone.New@Example.com",
                "priority": "HIGH",
                "brand": "goldcoast",
            },
        )
    )["createTicket"]
    assert done["status"] == "APPLIED"
    assert done["ticket"] == {
        "subject": "Withdrawal still pending",
        "status": "NEW",
        "priority": "HIGH",
        "brand": "goldcoast",
    }
    missing = (await gql.data(mutation, input={"subject": "no body"}))["createTicket"]
    assert {tuple(e["field"]) for e in missing["userErrors"]} == {
        ("input", "description"),
        ("input", "requesterEmail"),
    }


async def test_update_customer_sends_only_the_given_properties(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    mutation = """mutation {
                    updateCustomer(id: "hubspot:1005", input: {company: "Difference Engines Ltd"}) {
                      status customer { company } } }"""
    done = (await gql.data(mutation))["updateCustomer"]
    assert done == {"status": "APPLIED", "customer": {"company": "Difference Engines Ltd"}}
    [patch] = [r for r in await upstreams.requests("hubspot") if r["method"] == "PATCH"]
    assert patch["body"] == {"properties": {"company": "Difference Engines Ltd"}}


async def test_award_points_applies_once_per_key_and_refuses_an_overdraft(
    gql: GraphQL, world: Any, upstreams: Upstreams
) -> None:
    seed = world.players[3]
    mutation = """mutation($p: ID!, $input: AwardPointsInput!, $key: String) {
                    awardPoints(playerId: $p, input: $input, idempotencyKey: $key) {
                      status userErrors { field code } playerStats { pointsBalance } } }"""
    key = str(uuid.uuid4())
    first = (
        await gql.data(
            mutation, p=seed.player_id, input={"delta": 250, "reason": "welcome back"}, key=key
        )
    )["awardPoints"]
    again = (
        await gql.data(
            mutation, p=seed.player_id, input={"delta": 250, "reason": "welcome back"}, key=key
        )
    )["awardPoints"]
    assert first["status"] == again["status"] == "APPLIED"
    assert first["playerStats"]["pointsBalance"] == seed.points_balance + 250
    assert (await upstreams.routes("players")).get("POST /v1/players/{player_id}/points") == 1
    overdraft = (
        await gql.data(mutation, p=seed.player_id, input={"delta": -(10**9), "reason": "oops"})
    )["awardPoints"]
    assert overdraft["status"] is None
    assert overdraft["userErrors"][0]["code"] == "INSUFFICIENT_POINTS"


CONVERT = """mutation($id: ID!) { convertLead(id: $id) {
  status userErrors { field code }
  customer { id email name lifecycleStage leads { id status } } } }"""


async def test_converting_a_lead_makes_a_customer_and_marks_the_lead(
    gql: GraphQL, world: Any, upstreams: Upstreams
) -> None:
    person = next(p for p in world.people if p.lead and not p.customer and p.email)
    lead_id = (
        await gql.data(
            "query($e: String) { leads(first: 1, filter: {email: $e}) { edges { node { id } } } }",
            e=person.email,
        )
    )["leads"]["edges"][0]["node"]["id"]
    done = (await gql.data(CONVERT, id=lead_id))["convertLead"]
    assert done["status"] == "APPLIED"
    customer = done["customer"]
    assert customer["email"] == person.email
    assert customer["name"] == person.name
    assert customer["lifecycleStage"] == "customer"
    assert {"id": lead_id, "status": "CONVERTED"} in customer["leads"]
    again = (await gql.data(CONVERT, id=lead_id))["convertLead"]
    assert again["userErrors"][0]["code"] == "ALREADY_CONVERTED"
    assert (await upstreams.routes("hubspot")).get("POST /crm/v3/objects/contacts") == 1


async def test_converting_a_lead_whose_email_hubspot_knows_reuses_that_contact(
    gql: GraphQL, world: Any, upstreams: Upstreams
) -> None:
    person = next(p for p in world.people if p.lead and p.customer and not p.lead_converted)
    lead_id = (
        await gql.data(
            "query($e: String) { leads(first: 1, filter: {email: $e}) { edges { node { id } } } }",
            e=person.email,
        )
    )["leads"]["edges"][0]["node"]["id"]
    done = (await gql.data(CONVERT, id=lead_id))["convertLead"]
    assert done["status"] == "APPLIED"
    assert done["customer"]["id"] == f"hubspot:{person.hubspot_id}"  # no second contact


async def test_an_idempotency_key_writes_once_across_two_instances_sharing_redis(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    upstreams: Upstreams,
    redis_url: str,
) -> None:
    import httpx

    shared = {"redis_url": redis_url}
    key = f"form-{uuid.uuid4()}"
    lead = new_lead()
    answers = []
    with (
        serve_gateway(simulators.base_url, keys_file, **shared) as one,
        serve_gateway(simulators.base_url, keys_file, **shared) as two,
    ):
        for url in (one, two):
            async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": keys["admin"]}) as c:
                body = (
                    await c.post(
                        "/graphql", json={"query": CREATE, "variables": {"input": lead, "key": key}}
                    )
                ).json()
            answers.append(body["data"]["createLead"])
    assert answers[0]["status"] == "APPLIED"
    assert answers[1]["status"] == "APPLIED"
    assert answers[0]["lead"]["id"] == answers[1]["lead"]["id"]
    assert (await upstreams.routes("salesforce")).get(LEAD_POSTS) == 1

"""Zendesk creates the ticket but its answer never arrives: the queued retry finds the ticket
by the external_id crmgraph gave it, instead of creating a second one."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.simulators.server import RunningSimulators
from tests.integration.gateway.conftest import GraphQL, Upstreams, serve_gateway

TICKET_POSTS = "POST /api/v2/tickets"
CREATE = """mutation($input: CreateTicketInput!) { createTicket(input: $input) {
  status syncJobId userErrors { code } } }"""
SYNC_JOB = "query($id: ID!) { syncJob(id: $id) { status recordId lastError } }"


@pytest.fixture
def gateway_url(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str]
) -> Iterator[str]:
    with serve_gateway(simulators.base_url, keys_file) as url:
        yield url


@pytest.fixture(autouse=True)
async def reseeded(control: Any) -> Any:
    yield
    (await control.post("/zendesk/__reset", params={"data": "true"})).raise_for_status()


async def test_a_ticket_create_whose_answer_was_lost_is_not_created_twice(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    subject = f"Lost answer {uuid.uuid4().hex[:8]}"
    ticket = {"subject": subject, "description": "Hello?", "requesterEmail": "lost@example.com"}
    await upstreams.configure("zendesk", {"routes": {TICKET_POSTS: {"lost_rate": 1}}})
    queued = (await gql.data(CREATE, input=ticket))["createTicket"]
    assert (queued["status"], queued["userErrors"]) == ("QUEUED", [])
    await upstreams.configure("zendesk", {})
    for _ in range(600):
        job = (await gql.data(SYNC_JOB, id=queued["syncJobId"]))["syncJob"]
        if job["status"] in ("APPLIED", "FAILED"):
            break
        await asyncio.sleep(0.05)
    assert job["status"] == "APPLIED", job
    posts = [r for r in await upstreams.requests("zendesk") if r["method"] == "POST"]
    assert len(posts) == 1, posts  # the lost one, only
    shown = await gql.data("query($id: ID!) { ticket(id: $id) { subject } }", id=job["recordId"])
    assert shown["ticket"] == {"subject": subject}

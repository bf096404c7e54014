"""The gateway and the org it is pointed at, over real loopback HTTP: the live check at start
and what ``/readyz`` says of it, and lead statuses read and written in the org's own values
(learnt at start, or on the first write that sends one)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import parse_config
from app.demo import demo_settings
from app.main import create_app
from app.simulators.credentials import (
    SALESFORCE_API_VERSION,
)
from app.simulators.server import RunningSimulators, serve_asgi
from app.simulators.world import World
from tests.benchmarks.harness import free_port
from tests.integration.gateway.conftest import GraphQL, Upstreams, gateway_config
from tests.integration.simulators.test_metadata_routes import OTHER_ORG
from tests.upstreams import salesforce_session

API = f"/services/data/{SALESFORCE_API_VERSION}"
LEAD = "query($e: String) { leads(first: 1, filter: {email: $e}) { edges { node { id status } } } }"
CREATE = """mutation($input: CreateLeadInput!) { createLead(input: $input) {
  status userErrors { field code message } lead { id status } } }"""
UPDATE = """mutation($id: ID!, $input: UpdateLeadInput!) { updateLead(id: $id, input: $input) {
  status userErrors { field code message } lead { status } } }"""


@contextlib.contextmanager
def gateway(
    sims: RunningSimulators, keys_file: Path, check: bool, wait: float = 10, **sources: Any
) -> Iterator[str]:
    """A gateway with the live check at start on or off, its sources' settings changed."""
    demo_settings(sims.base_url)
    config = gateway_config(sims.base_url, keys_file)
    config["server"] = {"startup_check": check, "startup_check_seconds": wait}
    for name, changes in sources.items():
        config["sources"][name].update(changes)
    with serve_asgi(create_app(parse_config(config))) as url:
        yield url


@contextlib.asynccontextmanager
async def admin(url: str, keys: dict[str, str]) -> AsyncIterator[GraphQL]:
    headers = {"X-API-Key": keys["admin"]}
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as client:
        yield GraphQL(client)


@pytest.fixture
async def org(
    simulators: RunningSimulators, control: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """A signed-in client of the Salesforce simulator; the org is fresh again after."""
    async with salesforce_session(simulators.url("/salesforce")) as client:
        yield client
    (await control.delete("/salesforce/__org")).raise_for_status()
    (await control.post("/salesforce/__reset", params={"data": "true"})).raise_for_status()


async def stored_status(org: httpx.AsyncClient, native: str) -> str:
    record = (await org.get(f"{API}/sobjects/Lead/{native}", params={"fields": "Status"})).json()
    status: str = record["Status"]
    return status


@pytest.mark.parametrize("learnt", ["at start", "on the first write"])
async def test_statuses_are_read_and_written_in_the_orgs_own_values(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    world: World,
    control: httpx.AsyncClient,
    org: httpx.AsyncClient,
    learnt: str,
) -> None:
    (await control.put("/salesforce/__org", json=OTHER_ORG)).raise_for_status()
    person = next(p for p in world.people if p.lead and not p.lead_converted)
    with gateway(
        simulators, keys_file, learnt == "at start", salesforce={"brand_field": None}
    ) as url:
        async with admin(url, keys) as gql:
            lead = (await gql.data(LEAD, e=person.email))["leads"]["edges"][0]["node"]
            native = lead["id"].split(":", 1)[1]
            done = await gql.data(UPDATE, id=lead["id"], input={"status": "QUALIFIED"})
            # The org's own word for it, which its restricted picklist takes.
            assert done["updateLead"]["status"] == "APPLIED", done
            assert done["updateLead"]["lead"] == {"status": "QUALIFIED"}
            assert await stored_status(org, native) == "Marketing Qualified"
            for value, ours in (("In Conversation", "WORKING"), ("Disqualified", "UNQUALIFIED")):
                changed = await org.patch(f"{API}/sobjects/Lead/{native}", json={"Status": value})
                assert changed.status_code == 204, changed.text
                read = (await gql.data(LEAD, e=person.email))["leads"]["edges"][0]["node"]
                assert read["status"] == ours, value
            done = await gql.data(UPDATE, id=lead["id"], input={"status": "NEW"})
            assert done["updateLead"]["status"] == "APPLIED", done
            assert await stored_status(org, native) == "New Inquiry"
            # A new lead takes the org's default (the client sends no status of its own).
            tag = uuid.uuid4().hex[:8]
            new = {"firstName": "Ada", "lastName": f"Lovelace {tag}", "company": "Engines"}
            made = await gql.data(
                CREATE, input={**new, "email": f"ada.{tag}@example.com", "brand": "luckyspin"}
            )
            assert made["createLead"]["status"] == "APPLIED", made
            assert made["createLead"]["lead"]["status"] == "NEW"
            created = made["createLead"]["lead"]["id"].split(":", 1)[1]
            assert await stored_status(org, created) == "New Inquiry"


async def test_a_status_the_org_has_no_value_for_is_refused_before_it_is_sent(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    world: World,
    org: httpx.AsyncClient,
    upstreams: Upstreams,
) -> None:
    """A fresh org has no value meaning QUALIFIED: the write is refused, naming the fix."""
    person = next(p for p in world.people if p.lead and not p.lead_converted)
    with gateway(simulators, keys_file, True) as url:
        async with admin(url, keys) as gql:
            lead = (await gql.data(LEAD, e=person.email))["leads"]["edges"][0]["node"]
            body = await gql(UPDATE, id=lead["id"], input={"status": "QUALIFIED"})
    refused = body["data"]["updateLead"]
    assert refused["status"] is None, body
    [error] = refused["userErrors"]
    assert (error["field"], error["code"]) == (["input", "status"], "INVALID_VALUE")
    assert "this org has no lead status for QUALIFIED" in error["message"]
    routes = await upstreams.routes("salesforce")
    assert not [r for r in routes if r.startswith("PATCH")]  # nothing was sent


async def test_readyz_reports_what_the_live_check_found(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    control: httpx.AsyncClient,
    org: httpx.AsyncClient,
) -> None:
    with gateway(simulators, keys_file, True) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            fine = await http.get("/readyz")
    assert fine.status_code == 200
    body = fine.json()
    assert (body["ready"], body["status"], body["config"]) == (True, "ok", "loaded")
    assert set(body["sources"]) == {"hubspot", "salesforce", "zendesk", "players"}
    check = body["liveCheck"]
    assert check["state"] == "done"
    assert check["unreachable"] == {}
    assert [(p["severity"], p["path"]) for p in check["problems"]] == [
        ("warning", "sources.salesforce.lead_statuses")  # a fresh org has no "qualified"
    ]

    # The org lacks the brand field every lead read names: not ready, and said loudly.
    (await control.put("/salesforce/__org", json=OTHER_ORG)).raise_for_status()
    with gateway(simulators, keys_file, True) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            broken = await http.get("/readyz")
    assert broken.status_code == 503
    body = broken.json()
    assert (body["ready"], body["status"]) == (False, "misconfigured")
    errors = [p for p in body["liveCheck"]["problems"] if p["severity"] == "error"]
    assert errors == [
        {
            "source": "salesforce",
            "path": "sources.salesforce.brand_field",
            "message": "the org's Lead object has no field Brand__c: every lead read names it; "
            "set brand_field to the org's brand field, or null if leads carry no brand",
            "severity": "error",
        }
    ]

    # A CRM that cannot be reached leaves the gateway ready, and is named.
    (await control.delete("/salesforce/__org")).raise_for_status()
    closed = f"http://127.0.0.1:{free_port()}"
    with gateway(simulators, keys_file, True, zendesk={"base_url": closed}) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            away = (await http.get("/readyz")).json()
    assert away["ready"] is True
    assert away["liveCheck"]["unreachable"] == {
        "zendesk": "GET /api/v2/ticket_fields failed: ConnectError"
    }


async def test_a_slow_crm_does_not_hold_up_start(
    simulators: RunningSimulators, keys_file: Path, upstreams: Upstreams
) -> None:
    await upstreams.configure("salesforce", {"latency_ms": 3000})
    started = time.monotonic()
    with gateway(simulators, keys_file, True, wait=0.3) as url:
        up = time.monotonic() - started
        async with httpx.AsyncClient(base_url=url) as http:
            ready = (await http.get("/readyz")).json()
    assert up < 2.5
    assert ready["ready"] is True
    assert ready["liveCheck"]["state"] == "running"

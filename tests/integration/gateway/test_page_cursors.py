"""A CRM that hands out a page cursor it gave before ends the read as its protocol error, after
two calls, instead of being followed round in circles until the request's deadline (each page
another call against the account's limit). Each CRM here is ``tests.misbehaving`` answering
every call with the same page: records so far, "there is more", and the same cursor. (For
Dataverse, also a page whose rows are not a list.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.connectors.dynamics.kind import KIND
from app.connectors.dynamics.settings import DynamicsSource
from app.connectors.errors import UpstreamProtocolError
from app.connectors.http import UpstreamClient
from app.connectors.kind import BuildContext
from app.connectors.salesforce.client import SalesforceClient
from app.demo import demo_env, dynamics_source
from app.simulators.server import RunningSimulators
from tests.integration.gateway.conftest import GraphQL, serve_with_source
from tests.misbehaving import Misbehaving, misbehaving

CASES: dict[str, tuple[str, dict[str, Any], str]] = {
    "hubspot": (
        "{ customers(first: 5) { edges { node { id } } } }",
        {"total": 9, "results": [], "paging": {"next": {"after": "c1"}}},
        "POST /crm/v3/objects/contacts/search",
    ),
    "zendesk": (
        "{ tickets(first: 5) { edges { node { id } } } }",
        {"tickets": [], "meta": {"has_more": True, "after_cursor": "c1"}},
        "GET /api/v2/tickets",
    ),
}


@pytest.mark.parametrize("source", list(CASES))
async def test_a_repeated_cursor_ends_the_read_after_two_calls(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], source: str
) -> None:
    query, page, route = CASES[source]
    crm = Misbehaving(body=json.dumps(page).encode())
    async with misbehaving(crm) as url:
        with serve_with_source(simulators.base_url, keys_file, source, base_url=url) as gw:
            headers = {"X-API-Key": keys["admin"]}
            async with httpx.AsyncClient(base_url=gw, timeout=30, headers=headers) as client:
                body = await GraphQL(client)(query)
    assert len(crm.requests) == 2
    [error] = body["errors"]
    assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert error["message"] == (
        f"{source} is unavailable: {route} gave a page cursor it had already given"
    )


async def test_a_soql_query_whose_next_records_url_repeats_ends_after_two_calls() -> None:
    page = {
        "totalSize": 9,
        "done": False,
        "nextRecordsUrl": "/services/data/v61.0/query/01gD0000002HU6KIAW-2000",
        "records": [{"Id": "00Q000000000001"}],
    }
    crm = Misbehaving(body=json.dumps(page).encode())
    async with misbehaving(crm) as url:
        http = UpstreamClient("salesforce", url)
        try:
            with pytest.raises(UpstreamProtocolError) as raised:
                await SalesforceClient("salesforce", http).query("SELECT Id FROM Lead")
        finally:
            await http.aclose()
    assert len(crm.requests) == 2  # the query, and its next page, which names itself as next
    assert str(raised.value) == (
        "salesforce: GET /services/data/v61.0/query gave a page cursor it had already given"
    )


NEXT = "https://org.example.com/api/data/v9.2/leads?$skiptoken=%3Ccookie%3E"
DATAVERSE: dict[str, tuple[dict[str, Any], int, str]] = {
    # Reads past 5,000 rows follow ``@odata.nextLink``: here it always says there is more.
    "repeated-skiptoken": (
        {"value": [], "@odata.nextLink": NEXT},
        2,
        "dynamics: GET leads gave a page cursor it had already given",
    ),
    # Its rows are ``value``: an object there read as "no leads" before.
    "value-not-a-list": (
        {"value": {"leadid": "x"}},
        1,
        "dynamics: the answer's 'value' is not a list of objects",
    ),
}


@pytest.mark.parametrize("case", list(DATAVERSE))
async def test_a_dataverse_answer_off_its_contract_ends_the_read(
    simulators: RunningSimulators, case: str
) -> None:
    """Dynamics (Dataverse): its token comes from the simulator, its rows from
    ``tests.misbehaving``."""
    page, calls, message = DATAVERSE[case]
    crm = Misbehaving(body=json.dumps(page).encode())
    demo_env()
    async with misbehaving(crm) as url:
        settings = {**dynamics_source(simulators.base_url), "base_url": url}
        source = DynamicsSource.model_validate(settings)
        made: list[UpstreamClient] = []

        def http(auth: httpx.Auth | None) -> UpstreamClient:
            made.append(UpstreamClient("dynamics", source.url, auth=auth))
            return made[-1]

        client = KIND.build(source, BuildContext("dynamics", http, custom={}))
        try:
            with pytest.raises(UpstreamProtocolError) as raised:
                await client.leads_by_email(["ada@example.com"], ["email"])
        finally:
            for made_client in made:
                await made_client.aclose()
    assert len(crm.requests) == calls
    assert str(raised.value) == message

"""Salesforce's limit on a call's URI and headers (16,384 bytes together), met by the
connector as the gateway builds it, over loopback against the simulator, which refuses what
is over it (414, 431) as Salesforce does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote_plus

import httpx
import pytest

from app.connectors.http import UpstreamClient
from app.connectors.kind import BuildContext
from app.connectors.salesforce import payloads
from app.connectors.salesforce.client import SalesforceClient
from app.connectors.salesforce.kind import KIND
from app.connectors.salesforce.settings import SalesforceSource
from app.demo import demo_config, demo_env
from app.simulators.credentials import SALESFORCE_API_VERSION
from app.simulators.server import RunningSimulators
from tests.integration.simulators.test_salesforce import new_token

PREFIX = "/salesforce"
API = f"/services/data/{SALESFORCE_API_VERSION}"
QUERY = f"{API}/query"


def address(n: int) -> str:
    """An 80-character address (the most an Email field holds) with five apostrophes: each
    is escaped in SOQL and percent-encoded in the URL, ``%5C%27``."""
    local = f"o'neill.o'hara.o'brien.o'shea.o'leary.{n:03d}"
    domain = ".example.com"
    return local + "@" + "d" * (80 - len(local) - 1 - len(domain)) + domain


@pytest.fixture
async def salesforce(
    simulators: RunningSimulators, control: httpx.AsyncClient
) -> AsyncIterator[SalesforceClient]:
    """The connector as the gateway builds it; the org's data fresh afterwards."""
    demo_env()
    sources: Any = demo_config(simulators.base_url)["sources"]
    settings = SalesforceSource.model_validate(sources["salesforce"])
    made: list[UpstreamClient] = []

    def http(auth: httpx.Auth | None) -> UpstreamClient:
        made.append(UpstreamClient("salesforce", settings.url, auth=auth))
        return made[-1]

    client = KIND.build(settings, BuildContext("salesforce", http))
    assert isinstance(client, SalesforceClient)
    yield client
    for upstream in made:
        await upstream.aclose()
    (await control.post(f"{PREFIX}/__reset", params={"data": "true"})).raise_for_status()


async def create_leads(simulators: RunningSimulators, emails: list[str]) -> None:
    """Leads with ``emails``, through the org's own collection create (200 at a time)."""
    async with httpx.AsyncClient(base_url=simulators.url(PREFIX), timeout=10) as sf:
        sf.headers["Authorization"] = f"Bearer {await new_token(sf)}"
        for start in range(0, len(emails), 200):
            records = [
                {"attributes": {"type": "Lead"}, "LastName": "Long", "Company": "Acme", "Email": e}
                for e in emails[start : start + 200]
            ]
            body = {"allOrNone": True, "records": records}
            answer = await sf.post(f"{API}/composite/sobjects", json=body)
            assert answer.status_code == 200, answer.text
            assert all(result["success"] for result in answer.json()), answer.text


async def queries(control: httpx.AsyncClient) -> list[dict[str, Any]]:
    log = (await control.get(f"{PREFIX}/__requests")).json()["requests"]
    return [r for r in log if r["path"] == QUERY]


async def test_long_addresses_are_asked_in_queries_within_salesforces_uri_limit(
    salesforce: SalesforceClient, simulators: RunningSimulators, control: httpx.AsyncClient
) -> None:
    emails = [address(n) for n in range(160)]
    assert {len(e) for e in emails} == {80}
    await create_leads(simulators, emails)
    too_long = "a" * 70 + "@example.com"  # 82 characters: no Email field holds it
    (await control.post(f"{PREFIX}/__reset")).raise_for_status()  # the log only

    found = await salesforce.leads_by_email([*emails, too_long], ["email"])

    assert sorted(found) == sorted(emails)
    asked = await queries(control)
    assert [r["status"] for r in asked] == [200] * len(asked)
    # 160 addresses at ~120 bytes each of a URL: ~19 kB, in two queries or more (150 of them
    # in one, as before, came to ~18 kB: 414), each within the limit.
    assert len(asked) >= 2
    for request in asked:
        uri = len(QUERY) + 1 + len(request["query"])
        assert uri <= payloads.MAX_URI_BYTES
    soql = " ".join(unquote_plus(r["query"]) for r in asked)
    assert "aaaaaaaaaa" not in soql
    assert all(payloads.quote(e) in soql for e in emails)


async def test_ordinary_addresses_of_a_page_are_asked_in_one_query(
    salesforce: SalesforceClient, control: httpx.AsyncClient
) -> None:
    emails = [f"someone.{n}@example.com" for n in range(150)]
    (await control.post(f"{PREFIX}/__reset")).raise_for_status()

    await salesforce.leads_by_email(emails, ["email"])

    assert len(await queries(control)) == 1

"""Salesforce sends no webhooks: a poller asks for leads by ``SystemModstamp`` instead.

Checks the poller's exact query, the datetime literals it may send, and that every REST write
(one record, sObject Collections, composite) moves ``SystemModstamp`` to a strictly later
millisecond, so that paging by the last stamp seen misses nothing and repeats nothing.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from app.simulators.credentials import (
    SALESFORCE_API_VERSION,
    SALESFORCE_CLIENT_ID,
    SALESFORCE_CLIENT_SECRET,
)
from app.simulators.server import RunningSimulators

PREFIX = "/salesforce"
API = f"/services/data/{SALESFORCE_API_VERSION}"
POLL = (
    "SELECT Id, SystemModstamp, LastModifiedDate, Email, Status FROM Lead "
    "WHERE SystemModstamp > {since} ORDER BY SystemModstamp ASC LIMIT {limit}"
)


@pytest.fixture
async def sf(simulators: RunningSimulators, control: httpx.AsyncClient) -> AsyncIterator[Any]:
    async with httpx.AsyncClient(base_url=simulators.url(PREFIX), timeout=10) as client:
        token = await client.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": SALESFORCE_CLIENT_ID,
                "client_secret": SALESFORCE_CLIENT_SECRET,
            },
        )
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client
    (await control.post(f"{PREFIX}/__reset", params={"data": "true"})).raise_for_status()


async def query(sf: httpx.AsyncClient, soql: str) -> dict[str, Any]:
    response = await sf.get(f"{API}/query", params={"q": soql})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wire_time(value: str) -> datetime:
    """A REST dateTime (``2026-11-29T02:00:00.123+0000``) as an instant."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")


def literal(value: str) -> str:
    """A REST dateTime as the SOQL literal a poller sends (SOQL wants ``Z`` or ``+hh:mm``)."""
    return value.removesuffix("+0000") + "Z"


async def newest_stamp(sf: httpx.AsyncClient) -> str:
    soql = "SELECT Id, SystemModstamp FROM Lead ORDER BY SystemModstamp DESC LIMIT 1"
    (newest,) = (await query(sf, soql))["records"]
    stamp: str = newest["SystemModstamp"]
    return stamp


async def some_leads(sf: httpx.AsyncClient, count: int) -> list[str]:
    soql = f"SELECT Id FROM Lead WHERE IsConverted = false ORDER BY CreatedDate LIMIT {count}"
    return [r["Id"] for r in (await query(sf, soql))["records"]]


def lead(**fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Lead"}, **fields}


async def test_the_pollers_query_is_answered_in_stamp_order(sf: httpx.AsyncClient) -> None:
    page = await query(sf, POLL.format(since="2026-06-01T00:00:00Z", limit=200))
    stamps = [wire_time(r["SystemModstamp"]) for r in page["records"]]
    assert 0 < len(stamps) <= 200
    assert stamps == sorted(stamps)
    assert all(s > datetime.fromisoformat("2026-06-01T00:00:00+00:00") for s in stamps)


@pytest.mark.parametrize(
    "since",
    [
        "2026-06-01T00:00:00Z",
        "2026-06-01T00:00:00.000Z",
        "2026-06-01T00:00:00+00:00",
        "2026-06-01T00:00:00.000+00:00",
        "2026-06-01T02:00:00+02:00",
        "2026-05-31T19:00:00.000-05:00",
    ],
)
async def test_every_datetime_literal_form_names_the_same_instant(
    sf: httpx.AsyncClient, since: str
) -> None:
    count = "SELECT COUNT() FROM Lead WHERE SystemModstamp > {since}"
    expected = await query(sf, count.format(since="2026-06-01T00:00:00Z"))
    assert (await query(sf, count.format(since=since)))["totalSize"] == expected["totalSize"] > 0


async def test_the_rest_wire_form_is_not_a_soql_literal(sf: httpx.AsyncClient) -> None:
    # SOQL documents Z and +hh:mm only; a poller must not paste "+0000" back in.
    soql = POLL.format(since="2026-06-01T00:00:00.000+0000", limit=200)
    response = await sf.get(f"{API}/query", params={"q": soql})
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "MALFORMED_QUERY"


async def test_every_write_path_moves_the_stamp_strictly_forward(sf: httpx.AsyncClient) -> None:
    since = await newest_stamp(sf)
    one, two, three, four = await some_leads(sf, 4)
    patched = await sf.patch(f"{API}/sobjects/Lead/{one}", json={"Status": "Working - Contacted"})
    assert patched.status_code == 204
    records = [lead(Id=two, Phone="+44 20 7946 0100"), lead(Id=three, Phone="+44 20 7946 0101")]
    collection = await sf.patch(f"{API}/composite/sobjects", json={"records": records})
    assert all(r["success"] for r in collection.json()), collection.text
    sub = {
        "method": "PATCH",
        "url": f"{API}/sobjects/Lead/{four}",
        "referenceId": "four",
        "body": {"Status": "Working - Contacted"},
    }
    composite = await sf.post(f"{API}/composite", json={"compositeRequest": [sub]})
    assert composite.json()["compositeResponse"][0]["httpStatusCode"] == 204
    created = await sf.post(
        f"{API}/sobjects/Lead",
        json={"LastName": "Poll", "Company": "Co", "Email": f"{uuid.uuid4().hex}@example.com"},
    )
    assert created.status_code == 201

    page = await query(sf, POLL.format(since=literal(since), limit=200))
    found = page["records"]
    assert [r["Id"] for r in found] == [one, two, three, four, created.json()["id"]]
    stamps = [wire_time(r["SystemModstamp"]) for r in found]
    assert all(a < b for a, b in itertools.pairwise([wire_time(since), *stamps]))
    assert all(r["LastModifiedDate"] == r["SystemModstamp"] for r in found)


async def test_paging_by_the_last_stamp_sees_each_write_once(sf: httpx.AsyncClient) -> None:
    since = await newest_stamp(sf)
    ids = await some_leads(sf, 7)
    records = [lead(Id=i, Status="Working - Contacted") for i in ids]  # one call, one instant
    response = await sf.patch(f"{API}/composite/sobjects", json={"records": records})
    assert all(r["success"] for r in response.json()), response.text
    seen: list[str] = []
    cursor = since
    for _ in range(10):
        page = (await query(sf, POLL.format(since=literal(cursor), limit=2)))["records"]
        if not page:
            break
        seen += [r["Id"] for r in page]
        cursor = page[-1]["SystemModstamp"]
    assert seen == ids

"""A HubSpot portal with more contacts than one search gives (10,000): the customers list pages
through every one of them, and says how many there are.

Simulators of this module's own get 9,500 more contacts through HubSpot's own
``batch/create`` (10,500 in all). The gateway's pages are compared with every contact id the
simulator's plain list endpoint holds (``GET /crm/v3/objects/contacts``, which has no such cap),
and what the gateway asked HubSpot is read from the simulator's request log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.simulators import credentials
from app.simulators.server import RunningSimulators, serve_in_thread
from tests.conftest import SEED
from tests.integration.gateway.conftest import GraphQL, serve_gateway

CONTACTS = "/crm/v3/objects/contacts"
MORE = 9_500
PAGE = """query($after: String) {
  customers(first: 500, after: $after) {
    totalCount edges { node { id } } pageInfo { hasNextPage endCursor }
  }
}"""


@pytest.fixture(scope="module")
def portal() -> Iterator[RunningSimulators]:
    """Simulators with 10,500 HubSpot contacts."""
    auth = {"Authorization": f"Bearer {credentials.HUBSPOT_TOKEN}"}
    with (
        serve_in_thread(SEED) as simulators,
        httpx.Client(base_url=f"{simulators.base_url}/hubspot", headers=auth, timeout=30) as hs,
    ):
        for start in range(0, MORE, 100):
            inputs = [
                {"properties": {"email": f"bulk{n}@example.com", "firstname": "Bulk"}}
                for n in range(start, start + 100)
            ]
            made = hs.post(f"{CONTACTS}/batch/create", json={"inputs": inputs})
            assert made.status_code == 201, made.text
        yield simulators


def every_contact(simulators: RunningSimulators) -> list[str]:
    auth = {"Authorization": f"Bearer {credentials.HUBSPOT_TOKEN}"}
    found: list[str] = []
    params: dict[str, Any] = {"limit": 100}
    with httpx.Client(base_url=f"{simulators.base_url}/hubspot", headers=auth) as hs:
        while True:
            body = hs.get(CONTACTS, params=params).json()
            found += [f"hubspot:{r['id']}" for r in body["results"]]
            if "paging" not in body:
                return found
            params["after"] = body["paging"]["next"]["after"]


async def test_the_list_goes_on_by_id_past_the_10000_a_search_gives(
    portal: RunningSimulators, keys_file: Path, keys: dict[str, str]
) -> None:
    seen: list[str] = []
    totals: set[int] = set()
    after: str | None = None
    with serve_gateway(portal.base_url, keys_file) as url:
        async with httpx.AsyncClient(
            base_url=url, timeout=60, headers={"X-API-Key": keys["admin"]}
        ) as http:
            async with httpx.AsyncClient(base_url=portal.base_url) as control:
                await control.post("/hubspot/__reset")
            while True:
                data = (await GraphQL(http).data(PAGE, after=after))["customers"]
                seen += [e["node"]["id"] for e in data["edges"]]
                totals.add(data["totalCount"])
                if not data["pageInfo"]["hasNextPage"]:
                    break
                after = data["pageInfo"]["endCursor"]
            async with httpx.AsyncClient(base_url=portal.base_url) as control:
                asked = (await control.get("/hubspot/__requests")).json()["requests"]
    expected = every_contact(portal)
    assert len(expected) == 1000 + MORE
    assert len(seen) == len(set(seen)) == len(expected)
    assert set(seen) == set(expected)
    assert totals == {len(expected)}  # past the cap too, by a count of its own
    searches = [r["body"] for r in asked if r["path"].endswith(f"{CONTACTS}/search")]
    by_id = [
        b for b in searches if any(f["propertyName"] == "hs_object_id" for g in b["filterGroups"]
                                   for f in g["filters"])
    ]  # fmt: skip
    assert by_id  # the 500 past the cap were asked for by id
    assert all(int(b.get("after", 0)) < 10_000 for b in searches)  # never past the cap

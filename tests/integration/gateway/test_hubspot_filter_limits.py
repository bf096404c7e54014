"""A customers filter against HubSpot's search, which takes at most 10 filters in a group (its
changelog, August 2024; the simulator holds to it): a filter that needs more is refused by the
gateway, naming the part that took it past, before any search is sent. Before, HubSpot's 400
came back as the CRM's failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from app.simulators.server import RunningSimulators
from tests.integration.gateway.conftest import GraphQL, Upstreams, serve_gateway

SEARCH = "POST /crm/v3/objects/contacts/search"
#: Three of the org's own contact properties, declared as custom fields one may filter on.
CUSTOM = {"title": "jobtitle", "city": "city", "country": "country"}
LIST = """query($filter: CustomerFilter) {
  customers(first: 5, filter: $filter) { edges { node { id } } }
}"""


def every_condition(custom: dict[str, str]) -> dict[str, Any]:
    """All 8 of the filter's own conditions (a range is two) and ``custom``."""
    span = {"after": "2020-01-01T00:00:00Z", "before": "2030-01-01T00:00:00Z"}
    return {
        "email": "nobody@example.com",
        "brand": ["luckyspin"],
        "company": "Acme",
        "lifecycleStage": "customer",
        "createdAt": span,
        "updatedAt": span,
        "custom": custom,
    }


async def test_a_filter_past_hubspots_ten_conditions_is_refused_before_any_search(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], upstreams: Upstreams
) -> None:
    fields = {
        name: {"path": path, "type": "String", "filterable": True} for name, path in CUSTOM.items()
    }
    entities = {"customer": {"source": "hubspot", "fields": fields}}
    with serve_gateway(simulators.base_url, keys_file, entities=entities) as url:
        headers = {"X-API-Key": keys["admin"]}
        async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as http:
            gql = GraphQL(http)
            await upstreams.reset()
            eleven = await gql(
                LIST, filter=every_condition({"title": "a", "city": "b", "country": "c"})
            )
            searched_for_eleven = (await upstreams.routes("hubspot")).get(SEARCH, 0)
            ten = await gql(LIST, filter=every_condition({"title": "a", "city": "b"}))
    (error,) = eleven["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == (
        "filter.custom makes the filter 11 conditions; HubSpot's search takes at most 10 together"
    )
    assert eleven["data"]["customers"]["edges"] == []
    assert searched_for_eleven == 0
    # Ten is HubSpot's own limit: asked, and answered (no contact has all of them).
    assert "errors" not in ten, ten["errors"]
    assert ten["data"]["customers"]["edges"] == []
    assert (await upstreams.routes("hubspot"))[SEARCH] == 1

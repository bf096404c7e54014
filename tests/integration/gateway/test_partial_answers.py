"""One failing CRM costs only its own fields, at every level: a root list whose source fails
answers an empty connection with the error at its path, a failing count nulls only
``totalCount``, and nothing of another source is lost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.simulators.server import RunningSimulators
from tests.integration.gateway.conftest import GraphQL, Upstreams, errors_at, serve_gateway

EMPTY = {"totalCount": None, "edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}


@pytest.fixture
def gateway_url(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str]
) -> Iterator[str]:
    """A gateway of its own for each test: a dead source leaves its breaker open."""
    with serve_gateway(simulators.base_url, keys_file) as url:
        yield url


def codes(errors: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(e["extensions"]["code"], e["extensions"].get("source")) for e in errors]


async def test_hubspot_down_empties_only_the_customers_list(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    await gql.data("{ leads(first: 1) { edges { node { id } } } }")  # Salesforce's token
    await upstreams.configure("hubspot", {"error_rate": 1, "error_status": 503})

    body = await gql(
        """{
          customers(first: 3) {
            totalCount edges { node { id name } } pageInfo { hasNextPage endCursor }
          }
          leads(first: 3) { edges { node { id customer { id } } } }
          tickets(first: 2) { totalCount edges { node { id subject } } }
          sources { name status }
        }"""
    )

    data = body["data"]
    assert data["customers"] == EMPTY
    assert codes(errors_at(body, "customers")) == [("UPSTREAM_UNAVAILABLE", "hubspot")]
    assert len(data["leads"]["edges"]) == 3
    for n, edge in enumerate(data["leads"]["edges"]):
        assert edge["node"]["id"].startswith("salesforce:")
        assert edge["node"]["customer"] is None
        at = errors_at(body, "leads", "edges", n, "node", "customer")
        assert codes(at) == [("UPSTREAM_UNAVAILABLE", "hubspot")]
    assert len(data["tickets"]["edges"]) == 2
    assert data["tickets"]["totalCount"] > 0
    assert {s["name"] for s in data["sources"]} == {"hubspot", "salesforce", "zendesk", "players"}
    assert len(body["errors"]) == 4  # the list, and each lead's customer


@pytest.mark.parametrize(
    ("route", "tickets"),
    [
        ("GET /api/v2/search/count", "tickets(first: 2, filter: {status: [OPEN, PENDING]})"),
        ("GET /api/v2/tickets/count", "tickets(first: 2)"),
    ],
)
async def test_a_failing_count_nulls_only_total_count(
    gql: GraphQL, upstreams: Upstreams, route: str, tickets: str
) -> None:
    await gql.data("{ leads(first: 1) { edges { node { id } } } }")  # Salesforce's token
    await upstreams.configure(
        "zendesk", {"routes": {route: {"error_rate": 1, "error_status": 404}}}
    )

    body = await gql(
        f"""{{
          leads(first: 2) {{ edges {{ node {{ id }} }} }}
          {tickets} {{ totalCount edges {{ node {{ id }} }} pageInfo {{ hasNextPage }} }}
          sources {{ name }}
        }}"""
    )

    data = body["data"]
    assert len(data["leads"]["edges"]) == 2
    assert len(data["tickets"]["edges"]) == 2
    assert data["tickets"]["pageInfo"]["hasNextPage"] is True
    assert data["tickets"]["totalCount"] is None
    assert len(data["sources"]) == 4
    [error] = body["errors"]
    assert error["path"] == ["tickets", "totalCount"]
    # A 404 on a list or count route is the CRM failing to serve it, not a missing record.
    assert error["extensions"] == {"code": "UPSTREAM_UNAVAILABLE", "source": "zendesk"}


async def test_a_404_on_a_list_route_is_the_crm_failing_not_a_missing_record(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    route = "GET /api/v2/search/export"
    await upstreams.configure(
        "zendesk", {"routes": {route: {"error_rate": 1, "error_status": 404}}}
    )

    body = await gql(
        """{ tickets(first: 2, filter: {status: [OPEN]}) {
               totalCount edges { node { id } } pageInfo { hasNextPage endCursor } }
             customers(first: 1) { edges { node { id } } } }"""
    )

    assert body["data"]["tickets"] == EMPTY
    assert len(body["data"]["customers"]["edges"]) == 1
    assert codes(body["errors"]) == [("UPSTREAM_UNAVAILABLE", "zendesk")]
    assert body["errors"][0]["path"] == ["tickets"]


PAGE = "totalCount pageInfo { hasNextPage endCursor }"
ALL_ROOTS = f"""{{
  customers(first: 2) {{ {PAGE} edges {{ node {{ id leads {{ id }} playerStats {{ level }} }} }} }}
  leads(first: 2) {{ {PAGE} edges {{ node {{ id customer {{ id }} }} }} }}
  tickets(first: 2) {{ {PAGE} edges {{ node {{ id requester {{ id }} }} }} }}
  playerStats(playerId: "p-000001") {{ level }}
  sources {{ name }}
  cache {{ enabled }}
}}"""

#: Each source, the root list it serves, and the fields of the others that it serves too.
DEAD = [
    ("hubspot", "customers", {"customer", "requester"}),
    ("salesforce", "leads", {"leads"}),
    ("zendesk", "tickets", set()),
    ("players", None, {"playerStats"}),
]


@pytest.mark.parametrize(("source", "root", "nested"), DEAD, ids=[d[0] for d in DEAD])
async def test_a_dead_source_costs_only_its_own_fields(
    gql: GraphQL, upstreams: Upstreams, source: str, root: str | None, nested: set[str]
) -> None:
    await gql.data(ALL_ROOTS)  # Salesforce's token, before the fault
    await upstreams.configure(source, {"error_rate": 1, "error_status": 503})

    body = await gql(ALL_ROOTS)

    data = body["data"]
    assert data is not None
    for name in ("customers", "leads", "tickets"):
        if name == root:
            assert data[name] == EMPTY
            assert codes(errors_at(body, name)) == [("UPSTREAM_UNAVAILABLE", source)]
        else:
            assert len(data[name]["edges"]) == 2, name
            assert data[name]["totalCount"] > 0, name
    assert len(data["sources"]) == 4
    assert data["cache"] == {"enabled": False}
    failed = {e["path"][-1] for e in body["errors"]}
    assert failed == ({root} if root else set()) | nested
    assert {e["extensions"]["source"] for e in body["errors"]} == {source}
    assert {e["extensions"]["code"] for e in body["errors"]} == {"UPSTREAM_UNAVAILABLE"}
    if source == "salesforce":
        assert all(e["node"]["leads"] == [] for e in data["customers"]["edges"])
    if source == "players":
        assert data["playerStats"] is None


async def test_a_refused_operator_field_costs_only_itself(gql_as: Any) -> None:
    body = await gql_as("marketing")(
        "{ cache { enabled } sources { name } leads(first: 1) { edges { node { id } } } }"
    )

    assert body["data"]["cache"] is None
    assert body["data"]["sources"] == []
    assert len(body["data"]["leads"]["edges"]) == 1
    assert {tuple(e["path"]): e["extensions"]["code"] for e in body["errors"]} == {
        ("cache",): "FORBIDDEN",
        ("sources",): "FORBIDDEN",
    }


async def test_an_unknown_sync_job_costs_only_itself(gql: GraphQL) -> None:
    body = await gql('{ syncJob(id: "job_unknown") { status } sources { name } }')

    assert body["data"] == {"syncJob": None, "sources": body["data"]["sources"]}
    assert len(body["data"]["sources"]) == 4
    assert [e["extensions"]["code"] for e in errors_at(body, "syncJob")] == ["NOT_FOUND"]


async def test_a_refused_nested_list_answers_empty_in_its_record(gql: GraphQL) -> None:
    body = await gql("{ customers(first: 2) { edges { node { id tickets(first: 501) { id } } } } }")

    nodes = [e["node"] for e in body["data"]["customers"]["edges"]]
    assert len(nodes) == 2
    assert all(n["tickets"] == [] for n in nodes)
    for n in range(2):
        [error] = errors_at(body, "customers", "edges", n, "node", "tickets")
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "first"}

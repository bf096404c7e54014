"""Lists: Relay connections over each CRM's paging, with filters pushed down to the CRM."""

from __future__ import annotations

from datetime import datetime

from app.simulators.world import World
from tests.integration.gateway.conftest import GraphQL, Upstreams

CUSTOMERS = """query($first: Int, $after: String, $filter: CustomerFilter) {
  customers(first: $first, after: $after, filter: $filter) {
    totalCount edges { cursor node { id email brand createdAt } } pageInfo { hasNextPage endCursor }
  } }"""


async def test_walking_customer_pages_sees_each_customer_once(gql: GraphQL, world: World) -> None:
    brand = "northstar"
    expected = {p.email for p in world.customers if p.brand.key == brand}
    seen: list[str] = []
    after = None
    while True:
        page = (await gql.data(CUSTOMERS, first=120, after=after, filter={"brand": brand}))[
            "customers"
        ]
        assert page["totalCount"] == len(expected)
        seen += [e["node"]["email"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen))
    assert set(seen) == expected


async def test_an_edge_cursor_resumes_after_that_edge(gql: GraphQL) -> None:
    first = (await gql.data(CUSTOMERS, first=5))["customers"]["edges"]
    resumed = (await gql.data(CUSTOMERS, first=2, after=first[2]["cursor"]))["customers"]["edges"]
    assert [e["node"]["id"] for e in resumed] == [e["node"]["id"] for e in first[3:5]]


async def test_a_cursor_from_another_filter_is_refused(gql: GraphQL, upstreams: Upstreams) -> None:
    page = (await gql.data(CUSTOMERS, first=2, filter={"brand": "luckyspin"}))["customers"]
    await upstreams.reset()
    body = await gql(
        CUSTOMERS, first=2, after=page["pageInfo"]["endCursor"], filter={"brand": "goldcoast"}
    )
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": "after"}
    assert await upstreams.total() == 0


async def test_the_brand_filter_is_pushed_down_to_hubspot(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    await gql.data(CUSTOMERS, first=3, filter={"brand": ["goldcoast", "luckyspin"]})
    [search] = [r for r in await upstreams.requests("hubspot") if r["path"].endswith("/search")]
    filters = search["body"]["filterGroups"][0]["filters"]
    assert {
        "propertyName": "brand",
        "operator": "IN",
        "values": ["goldcoast", "luckyspin"],
    } in filters


async def test_only_the_selected_properties_are_asked_of_hubspot(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    await gql.data("{ customers(first: 2) { edges { node { name } } } }")
    [search] = [r for r in await upstreams.requests("hubspot") if r["path"].endswith("/search")]
    # The name's two properties, plus what linking and brand scoping always need.
    assert set(search["body"]["properties"]) == {
        "firstname",
        "lastname",
        "email",
        "brand",
        "player_id",
    }


async def test_customers_created_in_a_range(gql: GraphQL, world: World) -> None:
    after, before = "2025-01-01T00:00:00+00:00", "2025-03-01T00:00:00+00:00"
    lo, hi = datetime.fromisoformat(after), datetime.fromisoformat(before)
    expected = {p.email for p in world.customers if lo <= p.created_at <= hi}
    page = (
        await gql.data(
            CUSTOMERS, first=500, filter={"createdAt": {"after": after, "before": before}}
        )
    )["customers"]
    assert {e["node"]["email"] for e in page["edges"]} == expected
    assert page["totalCount"] == len(expected)


async def test_leads_filtered_by_status_and_brand(gql: GraphQL, world: World) -> None:
    expected = {
        p.email for p in world.people if p.lead and p.lead_converted and p.brand.key == "luckyspin"
    }
    data = await gql.data(
        """{ leads(first: 500, filter: {status: CONVERTED, brand: "luckyspin"}) {
             totalCount edges { node { email status brand } } } }"""
    )
    nodes = [e["node"] for e in data["leads"]["edges"]]
    assert {n["email"] for n in nodes} == expected
    assert {(n["status"], n["brand"]) for n in nodes} == {("CONVERTED", "luckyspin")}
    assert data["leads"]["totalCount"] == len(expected)


async def test_walking_lead_pages_newest_first(gql: GraphQL) -> None:
    query = """query($after: String) {
                 leads(first: 300, after: $after, filter: {brand: "northstar"}) {
                   edges { node { id createdAt } } pageInfo { hasNextPage endCursor } } }"""
    seen: list[tuple[str, str]] = []
    after = None
    while True:
        page = (await gql.data(query, after=after))["leads"]
        seen += [(e["node"]["createdAt"], e["node"]["id"]) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len({i for _, i in seen}) == len(seen)
    assert seen == sorted(seen, reverse=True)


async def test_tickets_filtered_by_status_and_brand(gql: GraphQL, world: World) -> None:
    expected = {
        t.idx + 1
        for t in world.tickets
        if t.status == "hold" and t.requester.brand.key == "goldcoast"
    }
    data = await gql.data(
        """{ tickets(first: 500, filter: {status: ON_HOLD, brand: "goldcoast"}) {
             totalCount edges { node { id status brand } } } }"""
    )
    nodes = [e["node"] for e in data["tickets"]["edges"]]
    assert {int(n["id"].split(":")[1]) for n in nodes} == expected
    assert {(n["status"], n["brand"]) for n in nodes} == {("ON_HOLD", "goldcoast")}
    assert data["tickets"]["totalCount"] == len(expected)


async def test_all_tickets_page_with_zendesk_cursors(gql: GraphQL) -> None:
    query = """query($after: String) { tickets(first: 150, after: $after) {
                 totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } }"""
    first = (await gql.data(query))["tickets"]
    second = (await gql.data(query, after=first["pageInfo"]["endCursor"]))["tickets"]
    assert first["totalCount"] == 5000
    ids = [e["node"]["id"] for e in first["edges"] + second["edges"]]
    assert len(ids) == 300
    assert len(set(ids)) == 300

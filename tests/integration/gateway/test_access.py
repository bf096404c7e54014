"""Who may see what, through the real HTTP endpoint: role x field x brand for every type.

The expectations are written out here from the README's table of default roles, not derived
from the policy code, so a change to a default role fails this file until the table agrees.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.simulators.world import World
from tests.integration.gateway.conftest import GraphQL, Upstreams, errors_at

FIELDS: dict[str, list[str]] = {
    "Customer": [
        "id",
        "brand",
        "name",
        "firstName",
        "lastName",
        "email",
        "phone",
        "company",
        "lifecycleStage",
        "createdAt",
        "updatedAt",
        "externalRefs { source id }",
        "leads { id }",
        "tickets(first: 1) { id }",
        "playerStats { level }",
    ],
    "Lead": [
        "id",
        "brand",
        "name",
        "firstName",
        "lastName",
        "email",
        "phone",
        "company",
        "status",
        "leadSource",
        "createdAt",
        "updatedAt",
        "customer { id }",
    ],
    "Ticket": [
        "id",
        "brand",
        "subject",
        "description",
        "status",
        "priority",
        "createdAt",
        "updatedAt",
        "requester { id }",
    ],
    "PlayerStats": [
        "playerId",
        "brand",
        "country",
        "currency",
        "registeredAt",
        "lastLoginAt",
        "level",
        "levelName",
        "pointsBalance",
        "pointsEver",
        "depositCount",
        "depositsTotal { amount }",
        "withdrawalsTotal { amount }",
        "betsTotal { amount }",
        "winsTotal { amount }",
        "bonusTotal { amount }",
        "ggr { amount }",
        "ngr { amount }",
        "missionsCompleted",
        "tournamentsPlayed",
        "churnRisk",
        "predictedLtv { amount }",
        "customer { id }",
    ],
}
MONEY = {
    "depositsTotal",
    "withdrawalsTotal",
    "betsTotal",
    "winsTotal",
    "bonusTotal",
    "ggr",
    "ngr",
    "predictedLtv",
}
ALL = {t: {f.split()[0].split("(")[0] for f in fs} for t, fs in FIELDS.items()}

#: What each default role may read, type by type (README, "Who may see what").
READABLE: dict[str, dict[str, set[str]]] = {
    "admin": ALL,
    "analyst": {
        "Customer": ALL["Customer"] - {"email", "phone"},
        "Lead": ALL["Lead"] - {"email", "phone"},
        "Ticket": ALL["Ticket"],
        "PlayerStats": ALL["PlayerStats"],
    },
    "marketing": {
        "Customer": ALL["Customer"] - {"tickets"},
        "Lead": ALL["Lead"],
        "Ticket": set(),
        "PlayerStats": ALL["PlayerStats"] - MONEY,
    },
    "support": {
        "Customer": {"id", "brand", "name", "firstName", "lastName", "email", "tickets"},
        "Lead": set(),
        "Ticket": ALL["Ticket"],
        "PlayerStats": set(),
    },
    "service": {"Customer": set(), "Lead": set(), "Ticket": set(), "PlayerStats": set()},
}
ROOT = {"Customer": "customer", "Lead": "lead", "Ticket": "ticket", "PlayerStats": "playerStats"}


def ids(world: World) -> dict[str, tuple[str, str]]:
    person = next(p for p in world.customers if p.player_id and p.lead)
    return {
        "Customer": ("id", f"hubspot:{person.hubspot_id}"),
        "Lead": ("id", ""),  # filled in by the fixture below
        "Ticket": ("id", "zendesk:1"),
        "PlayerStats": ("playerId", person.player_id or ""),
    }


async def root_args(gql: GraphQL, world: World, type_name: str) -> str:
    arg, value = ids(world)[type_name]
    if type_name == "Lead":
        person = next(p for p in world.customers if p.player_id and p.lead)
        data = await gql.data(
            "query($e: String) { leads(first: 1, filter: {email: $e}) { edges { node { id } } } }",
            e=person.email,
        )
        value = data["leads"]["edges"][0]["node"]["id"]
    return f'({arg}: "{value}")'


@pytest.mark.parametrize("role", list(READABLE))
@pytest.mark.parametrize("type_name", list(FIELDS))
async def test_each_role_reads_exactly_its_fields(
    gql: GraphQL, gql_as: Any, world: World, role: str, type_name: str
) -> None:
    root = ROOT[type_name]
    args = await root_args(gql, world, type_name)
    query = f"{{ {root}{args} {{ {' '.join(FIELDS[type_name])} }} }}"

    body = await gql_as(role)(query)

    readable = READABLE[role][type_name]
    if not readable:
        assert body["data"] in (None, {root: None})
        [error] = errors_at(body, root)
        assert error["extensions"]["code"] == "FORBIDDEN"
        return
    record = body["data"][root]
    for field in ALL[type_name]:
        refused = errors_at(body, root, field)
        if field in readable:
            assert not refused, f"{role} should read {type_name}.{field}: {refused}"
        else:
            assert record[field] in (None, []), field  # a non-null list answers []
            assert [e["extensions"]["code"] for e in refused] == ["FORBIDDEN"], field


async def test_a_forbidden_field_leaves_the_rest_of_the_answer(gql_as: Any, world: World) -> None:
    person = world.customers[0]
    body = await gql_as("analyst")(
        f'{{ customer(id: "hubspot:{person.hubspot_id}") {{ name email company }} }}'
    )
    assert body["data"]["customer"]["name"] == person.name
    assert body["data"]["customer"]["email"] is None
    assert errors_at(body, "customer", "email")[0]["message"] == (
        "your role may not read Customer.email"
    )


async def test_a_forbidden_root_field_costs_no_upstream_call(
    gql_as: Any, upstreams: Upstreams
) -> None:
    body = await gql_as("support")("{ leads(first: 5) { edges { node { id } } } }")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await upstreams.total() == 0


# -- brands ------------------------------------------------------------------------------------


def of_brand(world: World, brand: str) -> Any:
    return next(p for p in world.customers if p.brand.key == brand and p.player_id and p.lead)


@pytest.mark.parametrize("role", ["admin", "analyst", "support"])
async def test_another_brands_customer_is_not_found_like_a_missing_one(
    gql_as: Any, world: World, role: str
) -> None:
    mine, theirs = of_brand(world, "luckyspin"), of_brand(world, "goldcoast")
    gql = gql_as(f"{role}@luckyspin")
    seen = await gql(f'{{ customer(id: "hubspot:{mine.hubspot_id}") {{ id }} }}')
    other = await gql(f'{{ customer(id: "hubspot:{theirs.hubspot_id}") {{ id }} }}')
    missing = await gql('{ customer(id: "hubspot:999999999") { id } }')
    assert seen["data"]["customer"] == {"id": f"hubspot:{mine.hubspot_id}"}
    assert other["data"] == missing["data"] == {"customer": None}
    assert errors_at(other, "customer")[0]["extensions"] == {"code": "NOT_FOUND"}
    assert errors_at(other, "customer")[0]["message"].replace(theirs.hubspot_id or "", "X") == (
        errors_at(missing, "customer")[0]["message"].replace("999999999", "X")
    )


async def test_lists_and_totals_show_only_the_callers_brands(
    gql_as: Any, world: World, upstreams: Upstreams
) -> None:
    expected = sum(1 for p in world.customers if p.brand.key == "luckyspin")
    data = await gql_as("analyst@luckyspin").data(
        "{ customers(first: 500) { totalCount edges { node { brand } } } }"
    )
    assert data["customers"]["totalCount"] == expected
    assert {e["node"]["brand"] for e in data["customers"]["edges"]} == {"luckyspin"}
    # The brand is pushed down to HubSpot, not filtered after the fact.
    searches = [r for r in await upstreams.requests("hubspot") if r["path"].endswith("/search")]
    assert len(searches) == 2  # 342 customers: two pages of HubSpot's 200
    for search in searches:
        assert {"propertyName": "brand", "operator": "IN", "values": ["luckyspin"]} in (
            search["body"]["filterGroups"][0]["filters"]
        )


async def test_a_filter_for_another_brand_finds_nothing(gql_as: Any) -> None:
    for list_field in ("customers", "leads", "tickets"):
        selection = "totalCount edges { cursor }"
        data = await gql_as("admin@luckyspin").data(
            f'{{ {list_field}(first: 5, filter: {{brand: "goldcoast"}}) {{ {selection} }} }}'
        )
        assert data[list_field]["edges"] == []
        assert data[list_field]["totalCount"] in (0, None)


async def test_leads_and_tickets_lists_keep_to_the_brand(gql_as: Any) -> None:
    data = await gql_as("admin@goldcoast").data(
        """{ leads(first: 200) { edges { node { brand } } }
             tickets(first: 200) { edges { node { brand requester { brand } } } } }"""
    )
    assert {e["node"]["brand"] for e in data["leads"]["edges"]} == {"goldcoast"}
    assert {e["node"]["brand"] for e in data["tickets"]["edges"]} == {"goldcoast"}


async def test_another_brands_player_is_not_found(gql_as: Any, world: World) -> None:
    theirs = of_brand(world, "goldcoast")
    body = await gql_as("admin@luckyspin")(
        f'{{ playerStats(playerId: "{theirs.player_id}") {{ level }} }}'
    )
    assert body["data"] == {"playerStats": None}
    assert errors_at(body, "playerStats")[0]["extensions"]["code"] == "NOT_FOUND"


async def test_another_brands_ticket_and_lead_are_not_found(
    gql: GraphQL, gql_as: Any, world: World
) -> None:
    ticket = next(t for t in world.tickets if t.requester.brand.key == "goldcoast")
    theirs = of_brand(world, "goldcoast")
    lead_id = (
        await gql.data(
            "query($e: String) { leads(first: 1, filter: {email: $e}) { edges { node { id } } } }",
            e=theirs.email,
        )
    )["leads"]["edges"][0]["node"]["id"]
    gql_lucky = gql_as("admin@luckyspin")
    for root, node_id in (
        ("ticket", f"zendesk:{ticket.idx + 1}"),
        ("lead", lead_id),
        ("node", lead_id),
    ):
        body = await gql_lucky(f'{{ {root}(id: "{node_id}") {{ id }} }}')
        assert body["data"] == {root: None}
        assert errors_at(body, root)[0]["extensions"]["code"] == "NOT_FOUND"


# -- who is calling ----------------------------------------------------------------------------


async def test_an_unknown_key_is_401_with_unauthenticated(gql_as: Any, gateway_url: str) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=gateway_url) as client:
        response = await client.post(
            "/graphql",
            json={"query": "{ sources { name } }"},
            headers={"X-API-Key": "cgk_nope_nope"},
        )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "cgk_nope_nope" not in response.text


async def test_a_revoked_key_is_refused_like_an_unknown_one(
    gateway_url: str, keys_file: Any
) -> None:
    import httpx

    from app.auth.keys import KeyStore

    store = KeyStore(keys_file)
    key, record = store.create("admin", ["*"])
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        before = await client.post(
            "/graphql", json={"query": "{ sources { name } }"}, headers={"X-API-Key": key}
        )
        store.revoke(record.id)
        after = await client.post(
            "/graphql", json={"query": "{ sources { name } }"}, headers={"X-API-Key": key}
        )
        unknown = await client.post(
            "/graphql", json={"query": "{ sources { name } }"}, headers={"X-API-Key": key + "x"}
        )
    assert before.status_code == 200
    assert after.status_code == unknown.status_code == 401
    assert after.json() == unknown.json()


async def test_no_credentials_on_loopback_is_the_read_only_analyst(
    gql_as: Any, world: World
) -> None:
    person = world.customers[0]
    body = await gql_as(None)(f'{{ customer(id: "hubspot:{person.hubspot_id}") {{ name email }} }}')
    assert body["data"]["customer"]["name"] == person.name
    assert errors_at(body, "customer", "email")[0]["extensions"]["code"] == "FORBIDDEN"


async def test_the_graphiql_page_needs_no_credentials(gateway_url: str) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=gateway_url) as client:
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        query = await client.get(
            "/graphql", params={"query": "{ sources { name } }"}, headers={"X-API-Key": "cgk_x_y"}
        )
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
    assert query.status_code == 401

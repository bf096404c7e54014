"""Single lookups, ids and the errors they answer."""

from __future__ import annotations

from app.simulators.world import World
from tests.integration.gateway.conftest import GraphQL, Upstreams, errors_at


async def test_a_customer_by_id_carries_the_crm_values(gql: GraphQL, world: World) -> None:
    person = world.customers[0]
    data = await gql.data(
        "query($id: ID!) { customer(id: $id) { id name email brand externalRefs { source id } } }",
        id=f"hubspot:{person.hubspot_id}",
    )
    assert data["customer"] == {
        "id": f"hubspot:{person.hubspot_id}",
        "name": person.name,
        "email": person.email,
        "brand": person.brand.key,
        "externalRefs": [{"source": "hubspot", "id": person.hubspot_id}],
    }


async def test_an_unknown_id_is_null_with_not_found(gql: GraphQL) -> None:
    body = await gql('{ customer(id: "hubspot:999999999") { id } }')
    assert body["data"] == {"customer": None}
    [error] = errors_at(body, "customer")
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_an_id_of_another_source_is_not_found_without_an_upstream_call(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    body = await gql('{ customer(id: "zendesk:1") { id } }')
    assert errors_at(body, "customer")[0]["extensions"]["code"] == "NOT_FOUND"
    assert await upstreams.total() == 0


async def test_a_malformed_id_is_bad_user_input_without_an_upstream_call(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    body = await gql('{ customer(id: "not an id") { id } }')
    [error] = errors_at(body, "customer")
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "id"}
    assert "hubspot:151" in error["message"]
    assert await upstreams.total() == 0


async def test_first_over_500_is_bad_user_input_without_an_upstream_call(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    body = await gql("{ customers(first: 501) { totalCount } }")
    assert body["data"] == {"customers": {"totalCount": None}}  # only the list is lost
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": "first"}
    assert await upstreams.total() == 0


async def test_node_finds_each_kind_by_its_global_id(gql: GraphQL, world: World) -> None:
    person = world.customers[3]
    lead_id = (await gql.data("{ leads(first: 1) { edges { node { id } } } }"))["leads"]["edges"][
        0
    ]["node"]["id"]
    data = await gql.data(
        """query($c: ID!, $l: ID!) {
             c: node(id: $c) { __typename id }
             l: node(id: $l) { __typename id ... on Lead { status } }
             t: node(id: "zendesk:1") { __typename id ... on Ticket { subject } }
           }""",
        c=f"hubspot:{person.hubspot_id}",
        l=lead_id,
    )
    assert data["c"] == {"__typename": "Customer", "id": f"hubspot:{person.hubspot_id}"}
    assert data["l"]["__typename"] == "Lead"
    assert data["t"]["__typename"] == "Ticket"
    assert data["t"]["subject"] == world.tickets[0].subject


async def test_player_stats_are_read_with_money_and_local_times(gql: GraphQL, world: World) -> None:
    seed = world.players[0]
    data = await gql.data(
        """query($id: ID!) { playerStats(playerId: $id) {
             playerId brand currency level levelName pointsBalance
             betsTotal { amount currency } winsTotal { amount } bonusTotal { amount }
             ggr { amount currency } ngr { amount } registeredAt
             customer { id email } } }""",
        id=seed.player_id,
    )
    stats = data["playerStats"]
    assert stats["playerId"] == seed.player_id
    assert stats["brand"] == seed.person.brand.key
    assert stats["pointsBalance"] == seed.points_balance
    bets, wins, bonus = seed.bets_minor, seed.wins_minor, seed.bonus_minor
    assert stats["betsTotal"] == {
        "amount": f"{bets / 100:.2f}",
        "currency": seed.person.brand.currency,
    }
    assert stats["ggr"]["amount"] == f"{(bets - wins) / 100:.2f}"
    assert stats["ngr"]["amount"] == f"{(bets - wins - bonus) / 100:.2f}"
    assert stats["customer"] == {
        "id": f"hubspot:{seed.person.hubspot_id}",
        "email": seed.person.email,
    }


async def test_an_unknown_player_is_null_with_not_found(gql: GraphQL) -> None:
    body = await gql('{ playerStats(playerId: "p-999999") { playerId } }')
    assert body["data"] == {"playerStats": None}
    assert errors_at(body, "playerStats")[0]["extensions"]["code"] == "NOT_FOUND"

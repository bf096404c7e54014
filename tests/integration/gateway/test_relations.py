"""Relations across CRMs, linked by email and by id properties."""

from __future__ import annotations

from app.simulators.world import World
from tests.integration.gateway.conftest import GraphQL


async def test_a_customer_has_the_leads_with_their_email(gql: GraphQL, world: World) -> None:
    person = next(p for p in world.customers if p.lead)
    data = await gql.data(
        "query($id: ID!) { customer(id: $id) { leads { email status customer { id } } } }",
        id=f"hubspot:{person.hubspot_id}",
    )
    leads = data["customer"]["leads"]
    assert leads
    assert all(lead["email"] == person.email for lead in leads)
    expected = "CONVERTED" if person.lead_converted else None
    if expected:
        assert {lead["status"] for lead in leads} == {"CONVERTED"}
    assert all(lead["customer"] == {"id": f"hubspot:{person.hubspot_id}"} for lead in leads)


async def test_a_lead_only_salesforce_knows_has_no_customer(gql: GraphQL, world: World) -> None:
    person = next(p for p in world.people if p.lead and not p.customer)
    data = await gql.data(
        """query($e: String) {
             leads(first: 1, filter: {email: $e}) { edges { node { email customer { id } } } } }""",
        e=person.email,
    )
    [edge] = data["leads"]["edges"]
    assert edge["node"] == {"email": person.email, "customer": None}


async def test_customer_tickets_are_filtered_by_status_and_capped(
    gql: GraphQL, world: World
) -> None:
    counts: dict[str, int] = {}
    for ticket in world.tickets:
        if ticket.status == "solved":
            counts[ticket.requester.hubspot_id or ""] = (
                counts.get(ticket.requester.hubspot_id or "", 0) + 1
            )
    hubspot_id, solved = max(counts.items(), key=lambda kv: kv[1])
    data = await gql.data(
        """query($id: ID!) { customer(id: $id) {
             all: tickets(status: [SOLVED], first: 100) { status requester { id } }
             two: tickets(status: [SOLVED], first: 2) { id } } }""",
        id=f"hubspot:{hubspot_id}",
    )
    tickets = data["customer"]["all"]
    assert len(tickets) == solved
    assert {t["status"] for t in tickets} == {"SOLVED"}
    assert {t["requester"]["id"] for t in tickets} == {f"hubspot:{hubspot_id}"}
    assert len(data["customer"]["two"]) == min(2, solved)


async def test_a_ticket_requester_is_the_customer_who_asked(gql: GraphQL, world: World) -> None:
    seed = world.tickets[10]
    data = await gql.data(
        "query($id: ID!) { ticket(id: $id) { subject requester { id email } } }", id="zendesk:11"
    )
    assert data["ticket"]["subject"] == seed.subject
    assert data["ticket"]["requester"] == {
        "id": f"hubspot:{seed.requester.hubspot_id}",
        "email": seed.requester.email,
    }


async def test_a_customer_without_a_player_id_has_no_player_stats(
    gql: GraphQL, world: World
) -> None:
    person = next(p for p in world.customers if p.player_id is None)
    data = await gql.data(
        "query($id: ID!) { customer(id: $id) { playerStats { playerId } } }",
        id=f"hubspot:{person.hubspot_id}",
    )
    assert data["customer"]["playerStats"] is None


async def test_a_customer_player_stats_are_theirs(gql: GraphQL, world: World) -> None:
    person = next(p for p in world.customers if p.player_id)
    data = await gql.data(
        "query($id: ID!) { customer(id: $id) { playerStats { playerId brand customer { id } } } }",
        id=f"hubspot:{person.hubspot_id}",
    )
    assert data["customer"]["playerStats"] == {
        "playerId": person.player_id,
        "brand": person.brand.key,
        "customer": {"id": f"hubspot:{person.hubspot_id}"},
    }

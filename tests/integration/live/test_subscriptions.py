"""Subscriptions over graphql-transport-ws, on a real served gateway: a change published on the
gateway's bus (where the webhook worker publishes) reaches each subscriber shaped for its role
and brands, through its filters, once."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.simulators.server import RunningSimulators
from app.simulators.world import Person, TicketSeed, World
from tests.integration.live.conftest import (
    PROTOCOL,
    LiveClient,
    Served,
    change,
    eventually,
    query_data,
    serve_live,
    subscribed,
)
from tests.integration.observability.conftest import Scrape, parse_metrics


def ticket_id(ticket: TicketSeed) -> str:
    return f"zendesk:{ticket.idx + 1}"


def customer_id(person: Person) -> str:
    return f"hubspot:{person.hubspot_id}"


def of_brand(world: World, brand: str) -> list[TicketSeed]:
    return [t for t in world.tickets if t.requester.brand.key == brand]


async def lead_of(served: Served, keys: dict[str, str], person: Person) -> dict[str, Any]:
    data = await query_data(
        served,
        keys["admin"],
        "query($e: String) { leads(first: 1, filter: {email: $e}) "
        "{ edges { node { id status } } } }",
        e=person.email,
    )
    node: dict[str, Any] = data["leads"]["edges"][0]["node"]
    return node


async def lead_with(served: Served, keys: dict[str, str], status: str) -> dict[str, Any]:
    data = await query_data(
        served,
        keys["admin"],
        "query($s: [LeadStatus!]) { leads(first: 1, filter: {status: $s}) "
        "{ edges { node { id status } } } }",
        s=[status],
    )
    node: dict[str, Any] = data["leads"]["edges"][0]["node"]
    return node


async def ticket_with(served: Served, keys: dict[str, str], status: str) -> dict[str, Any]:
    data = await query_data(
        served,
        keys["admin"],
        "query($s: [TicketStatus!]) { tickets(first: 1, filter: {status: $s}) "
        "{ edges { node { id brand status } } } }",
        s=[status],
    )
    node: dict[str, Any] = data["tickets"]["edges"][0]["node"]
    return node


# -- each field -------------------------------------------------------------------------------


async def test_ticket_changed_delivers_the_ticket_as_a_query_would(
    live: Served, connect_as: Any, world: World, keys: dict[str, str]
) -> None:
    client = await connect_as(live, "admin")
    await client.subscribe(
        "subscription { ticketChanged { id brand subject status requester { id } } }"
    )
    await subscribed(live)
    ticket = world.tickets[0]
    await live.gateway.bus.publish(change("ticket", ticket_id(ticket), ticket.requester.brand.key))
    payload = await client.next()
    assert "errors" not in payload
    # As a query answers now (a test before this one may have changed the ticket's status).
    queried = await query_data(
        live,
        keys["admin"],
        "query($id: ID!) { ticket(id: $id) { status } }",
        id=ticket_id(ticket),
    )
    assert payload["data"]["ticketChanged"] == {
        "id": ticket_id(ticket),
        "brand": ticket.requester.brand.key,
        "subject": ticket.subject,
        "status": queried["ticket"]["status"],
        "requester": {"id": customer_id(ticket.requester)} if ticket.requester.customer else None,
    }


async def test_customer_changed_delivers_the_customer(
    live: Served, connect_as: Any, world: World
) -> None:
    client = await connect_as(live, "admin")
    await client.subscribe("subscription { customerChanged { id email name } }")
    await subscribed(live)
    person = world.customers[3]
    await live.gateway.bus.publish(change("customer", customer_id(person), person.brand.key))
    payload = await client.next()
    assert payload["data"]["customerChanged"] == {
        "id": customer_id(person),
        "email": person.email,
        "name": person.name,
    }


async def test_lead_changed_delivers_the_lead(
    live: Served, connect_as: Any, world: World, keys: dict[str, str]
) -> None:
    person = world.leads[5]
    lead = await lead_of(live, keys, person)
    client = await connect_as(live, "admin")
    await client.subscribe("subscription { leadChanged { id email status } }")
    await subscribed(live)
    await live.gateway.bus.publish(change("lead", lead["id"], None))
    payload = await client.next()
    assert payload["data"]["leadChanged"] == {
        "id": lead["id"],
        "email": person.email,
        "status": lead["status"],
    }


async def test_player_stats_changed_delivers_the_stats(
    live: Served, connect_as: Any, world: World
) -> None:
    player = world.players[0]
    client = await connect_as(live, "admin")
    await client.subscribe("subscription { playerStatsChanged { playerId brand level } }")
    await subscribed(live)
    await live.gateway.bus.publish(change("player", player.player_id, player.person.brand.key))
    payload = await client.next()
    assert payload["data"]["playerStatsChanged"] == {
        "playerId": player.player_id,
        "brand": player.person.brand.key,
        "level": player.level,
    }


# -- roles and brands -------------------------------------------------------------------------


@pytest.mark.parametrize("named", [True, False], ids=["brand-in-change", "brand-looked-up"])
async def test_a_brand_scoped_key_never_gets_another_brands_change(
    live: Served, connect_as: Any, world: World, named: bool
) -> None:
    client = await connect_as(live, "admin@luckyspin")
    await client.subscribe("subscription { ticketChanged { id brand } }")
    await subscribed(live)
    theirs = of_brand(world, "goldcoast")[0]
    ours = of_brand(world, "luckyspin")[0]
    # A change that does not say its brand is looked up, and the lookup hides it.
    await live.gateway.bus.publish(
        change("ticket", ticket_id(theirs), "goldcoast" if named else None)
    )
    await live.gateway.bus.publish(change("ticket", ticket_id(ours), None))
    payload = await client.next()  # the bus is in order: the first one was never sent
    assert payload["data"]["ticketChanged"] == {"id": ticket_id(ours), "brand": "luckyspin"}


async def test_a_field_the_role_may_not_read_is_null_with_forbidden(
    live: Served, connect_as: Any, world: World, keys: dict[str, str]
) -> None:
    client = await connect_as(live, "analyst")
    await client.subscribe("subscription { customerChanged { id name email } }")
    await subscribed(live)
    person = world.customers[0]
    await live.gateway.bus.publish(change("customer", customer_id(person), person.brand.key))
    payload = await client.next()
    # The name as a query answers now (a test before this one may have renamed the customer).
    queried = await query_data(
        live,
        keys["admin"],
        "query($id: ID!) { customer(id: $id) { name } }",
        id=customer_id(person),
    )
    assert payload["data"]["customerChanged"] == {
        "id": customer_id(person),
        "name": queried["customer"]["name"],
        "email": None,
    }
    [error] = payload["errors"]
    assert error["path"] == ["customerChanged", "email"]
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_operations_on_one_connection_keep_their_own_field_policy(
    live: Served, connect_as: Any, world: World
) -> None:
    client = await connect_as(live, "analyst")
    await client.subscribe("subscription { customerChanged { id email } }", id="personal")
    await subscribed(live, 1)
    # A second operation selecting nothing forbidden must not lift the first one's denial.
    await client.subscribe("subscription { customerChanged { id name } }", id="plain")
    await subscribed(live, 2)
    person = world.customers[1]
    await live.gateway.bus.publish(change("customer", customer_id(person), person.brand.key))
    by_id = {}
    for _ in range(2):
        message = await client.receive()
        by_id[message["id"]] = message["payload"]
    assert by_id["personal"]["data"]["customerChanged"]["email"] is None
    assert by_id["personal"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert by_id["plain"] == {
        "data": {"customerChanged": {"id": customer_id(person), "name": person.name}}
    }


async def test_a_role_that_may_not_read_tickets_may_not_subscribe_to_them(
    live: Served, connect_as: Any
) -> None:
    client = await connect_as(live, "marketing")
    await client.subscribe("subscription { ticketChanged { id } }")
    message = await client.receive()
    assert message["type"] == "error"
    assert message["payload"][0]["extensions"]["code"] == "FORBIDDEN"
    assert live.gateway.bus.subscribers == 0


# -- filters ----------------------------------------------------------------------------------


async def test_customer_changed_with_an_id_gets_that_customer_only(
    live: Served, connect_as: Any, world: World
) -> None:
    one, other = world.customers[10], world.customers[11]
    client = await connect_as(live, "admin")
    await client.subscribe(
        "subscription($c: ID) { customerChanged(id: $c) { id } }",
        c=customer_id(one),
    )
    await subscribed(live)
    await live.gateway.bus.publish(change("customer", customer_id(other), other.brand.key))
    await live.gateway.bus.publish(change("customer", customer_id(one), one.brand.key))
    payload = await client.next()
    assert payload["data"]["customerChanged"] == {"id": customer_id(one)}


async def test_ticket_changed_with_a_status_filters_on_the_status_after_the_change(
    live: Served, connect_as: Any, keys: dict[str, str]
) -> None:
    pending = await ticket_with(live, keys, "PENDING")
    solved = await ticket_with(live, keys, "SOLVED")
    client = await connect_as(live, "admin")
    await client.subscribe("subscription { ticketChanged(status: [SOLVED, CLOSED]) { id status } }")
    await subscribed(live)
    await live.gateway.bus.publish(change("ticket", pending["id"], pending["brand"]))
    await live.gateway.bus.publish(change("ticket", solved["id"], solved["brand"]))
    payload = await client.next()
    assert payload["data"]["ticketChanged"] == {"id": solved["id"], "status": "SOLVED"}


async def test_ticket_changed_with_a_customer_gets_that_customers_tickets_only(
    live: Served, connect_as: Any, world: World
) -> None:
    asked = [t for t in world.tickets if t.requester.customer]
    mine = asked[0]
    theirs = next(t for t in asked if t.requester != mine.requester)
    client = await connect_as(live, "admin")
    await client.subscribe(
        "subscription($c: ID) { ticketChanged(customer: $c) { id requester { id } } }",
        c=customer_id(mine.requester),
    )
    await subscribed(live)
    await live.gateway.bus.publish(change("ticket", ticket_id(theirs), None))
    await live.gateway.bus.publish(change("ticket", ticket_id(mine), None))
    payload = await client.next()
    assert payload["data"]["ticketChanged"] == {
        "id": ticket_id(mine),
        "requester": {"id": customer_id(mine.requester)},
    }


async def test_lead_changed_with_a_customer_gets_the_leads_with_its_email(
    live: Served, connect_as: Any, world: World, keys: dict[str, str]
) -> None:
    person, other = [p for p in world.customers if p.lead][:2]
    lead, other_lead = await lead_of(live, keys, person), await lead_of(live, keys, other)
    client = await connect_as(live, "admin")
    await client.subscribe(
        "subscription($c: ID) { leadChanged(customer: $c) { id customer { id } } }",
        c=customer_id(person),
    )
    await subscribed(live)
    await live.gateway.bus.publish(change("lead", other_lead["id"], None))
    await live.gateway.bus.publish(change("lead", lead["id"], None))
    payload = await client.next()
    assert payload["data"]["leadChanged"] == {
        "id": lead["id"],
        "customer": {"id": customer_id(person)},
    }


async def test_lead_changed_with_a_status(
    live: Served, connect_as: Any, keys: dict[str, str]
) -> None:
    new, working = [await lead_with(live, keys, s) for s in ("NEW", "WORKING")]
    client = await connect_as(live, "admin")
    await client.subscribe("subscription { leadChanged(status: [WORKING]) { id status } }")
    await subscribed(live)
    await live.gateway.bus.publish(change("lead", new["id"], None))
    await live.gateway.bus.publish(change("lead", working["id"], None))
    payload = await client.next()
    assert payload["data"]["leadChanged"] == {"id": working["id"], "status": "WORKING"}


async def subscribed_none(live: Served) -> None:
    await eventually(lambda: live.gateway.bus.subscribers == 0, "no subscribers")


async def test_player_stats_changed_with_a_player_id(
    live: Served, connect_as: Any, world: World
) -> None:
    one, other = world.players[1], world.players[2]
    client = await connect_as(live, "admin")
    await client.subscribe(
        "subscription($p: ID) { playerStatsChanged(playerId: $p) { playerId } }", p=one.player_id
    )
    await subscribed(live)
    await live.gateway.bus.publish(change("player", other.player_id, other.person.brand.key))
    await live.gateway.bus.publish(change("player", one.player_id, one.person.brand.key))
    payload = await client.next()
    assert payload["data"]["playerStatsChanged"] == {"playerId": one.player_id}


# -- once, and errors -------------------------------------------------------------------------


async def test_a_redelivered_event_is_sent_once(
    live: Served, connect_as: Any, world: World
) -> None:
    client = await connect_as(live, "admin")
    await client.subscribe("subscription { customerChanged { id } }")
    await subscribed(live)
    first, second = world.customers[20], world.customers[21]
    redelivered = change("customer", customer_id(first), first.brand.key, "hubspot:evt-1")
    await live.gateway.bus.publish(redelivered)
    await live.gateway.bus.publish(redelivered)
    await live.gateway.bus.publish(change("customer", customer_id(second), second.brand.key))
    assert (await client.next())["data"]["customerChanged"] == {"id": customer_id(first)}
    assert (await client.next())["data"]["customerChanged"] == {"id": customer_id(second)}


async def test_a_record_that_cannot_be_read_is_an_upstream_error_and_the_stream_goes_on(
    live: Served, connect_as: Any, world: World, control: Any
) -> None:
    client = await connect_as(live, "admin")
    await client.subscribe("subscription { customerChanged { id } }")
    await subscribed(live)
    person = world.customers[30]
    (await control.put("/hubspot/__config", json={"error_rate": 1.0})).raise_for_status()
    await live.gateway.bus.publish(change("customer", customer_id(person), person.brand.key))
    payload = await client.next()
    assert payload["data"] == {"customerChanged": None}
    assert payload["errors"][0]["extensions"]["code"].startswith("UPSTREAM_")
    assert payload["errors"][0]["extensions"]["source"] == "hubspot"
    assert live.gateway.bus.subscribers == 1  # still listening


async def test_limits_apply_to_subscription_documents(live: Served, connect_as: Any) -> None:
    deep = "id"
    for _ in range(7):
        deep = f"requester {{ tickets {{ {deep} }} }}"
    client = await connect_as(live, "admin")
    await client.subscribe(f"subscription {{ ticketChanged {{ {deep} }} }}")
    message = await client.receive()
    assert message["type"] == "error"
    assert message["payload"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert live.gateway.bus.subscribers == 0


async def test_completing_a_subscription_leaves_the_bus(live: Served, connect_as: Any) -> None:
    client = await connect_as(live, "admin")
    await client.subscribe("subscription { playerStatsChanged { playerId } }")
    await subscribed(live)
    await client.send({"id": "1", "type": "complete"})
    await subscribed_none(live)


async def test_a_subscription_is_counted_when_it_starts_and_its_lifetime_is_no_latency(
    live: Served, connect_as: Any
) -> None:
    async def scrape() -> Scrape:
        async with httpx.AsyncClient(base_url=live.url) as http:
            return Scrape(parse_metrics((await http.get("/metrics")).text))

    before = await scrape()
    client = await connect_as(live, "admin")
    await client.subscribe("subscription Watch { playerStatsChanged { playerId } }")
    await subscribed(live)
    await client.send({"id": "1", "type": "complete"})
    await subscribed_none(live)
    after = await scrape()
    name = "crmgraph_graphql_requests_total"
    assert after.value(name, operation="Watch", outcome="subscription") == (
        before.value(name, operation="Watch", outcome="subscription") + 1
    )
    seconds = "crmgraph_graphql_request_seconds_count"
    assert after.value(seconds) == before.value(seconds)


# -- who may connect --------------------------------------------------------------------------


async def test_an_unknown_key_is_closed_with_4403_and_audited(
    live: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="crmgraph.audit")
    async with connect(live.ws_url, subprotocols=PROTOCOL) as ws:
        client = LiveClient(ws)
        await client.send({"type": "connection_init", "payload": {"apiKey": "cg_not_a_key"}})
        with pytest.raises(ConnectionClosed) as closed:
            await client.receive()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403
    refused = [r for r in caplog.records if getattr(r, "event", None) == "request.refused"]
    assert refused
    assert refused[-1].__dict__["transport"] == "websocket"
    assert "cg_not_a_key" not in caplog.text


async def test_no_credentials_from_loopback_is_the_read_only_analyst(
    live: Served, connect_as: Any, world: World
) -> None:
    client = await connect_as(live, None)
    await client.subscribe("subscription { customerChanged { id email } }")
    await subscribed(live)
    person = world.customers[40]
    await live.gateway.bus.publish(change("customer", customer_id(person), person.brand.key))
    payload = await client.next()
    assert payload["data"]["customerChanged"] == {"id": customer_id(person), "email": None}
    assert payload["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_the_upgrade_requests_key_header_is_accepted(
    live: Served, keys: dict[str, str], world: World
) -> None:
    headers = {"X-API-Key": keys["admin@luckyspin"]}
    async with connect(
        live.ws_url,
        subprotocols=PROTOCOL,
        additional_headers=headers,
    ) as ws:
        client = LiveClient(ws)
        await client.send({"type": "connection_init"})
        assert (await client.receive())["type"] == "connection_ack"
        await client.subscribe("subscription { ticketChanged { id } }")
        await subscribed(live)
        theirs = of_brand(world, "goldcoast")[1]
        ours = of_brand(world, "luckyspin")[1]
        await live.gateway.bus.publish(change("ticket", ticket_id(theirs), None))
        await live.gateway.bus.publish(change("ticket", ticket_id(ours), None))
        assert (await client.next())["data"]["ticketChanged"] == {"id": ticket_id(ours)}


async def test_a_bearer_token_that_is_not_one_is_closed_with_4403(live: Served) -> None:
    async with connect(live.ws_url, subprotocols=PROTOCOL) as ws:
        client = LiveClient(ws)
        await client.send(
            {"type": "connection_init", "payload": {"Authorization": "Basic dXNlcjpwYXNz"}}
        )
        with pytest.raises(ConnectionClosed) as closed:
            await client.receive()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


async def test_with_a_safelist_only_its_operations_run_over_the_websocket(
    simulators: RunningSimulators, keys_file: Path, connect_as: Any, tmp_path: Path
) -> None:
    listed = "subscription { ticketChanged { id } }"
    safelist = tmp_path / "safelist.json"
    safelist.write_text(json.dumps({hashlib.sha256(listed.encode()).hexdigest(): listed}))
    persisted = {"mode": "safelist", "safelist_file": str(safelist)}
    async with serve_live(simulators.base_url, keys_file, persisted_queries=persisted) as served:
        client = await connect_as(served, "admin")
        await client.subscribe("subscription { ticketChanged { id status } }", id="unlisted")
        message = await client.receive()
        assert message["type"] == "error"
        assert message["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        await client.subscribe("{ sources { name } }", id="query")
        message = await client.receive()
        assert message["payload"]["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        await client.subscribe(listed, id="listed")
        await subscribed(served)


async def test_a_connection_runs_at_most_the_configured_operations(
    simulators: RunningSimulators, keys_file: Path, connect_as: Any
) -> None:
    limited = {"max_subscriptions_per_connection": 1}
    async with serve_live(simulators.base_url, keys_file, live=limited) as served:
        client = await connect_as(served, "admin")
        await client.subscribe("subscription { ticketChanged { id } }", id="first")
        await subscribed(served)
        await client.subscribe("subscription { leadChanged { id } }", id="second")
        message = await client.receive()
        assert message["type"] == "error"
        assert message["id"] == "second"
        assert served.gateway.bus.subscribers == 1

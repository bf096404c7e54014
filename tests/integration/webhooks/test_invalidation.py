"""A webhook makes the gateway forget the record it names: with the field cache on, a query
after the event asks the CRM again, where before it was answered from the cache."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from app.simulators.server import RunningSimulators
from app.simulators.world import PlayerSeed, World
from tests.integration.gateway.conftest import GraphQL, Upstreams
from tests.integration.webhooks.conftest import (
    body_of,
    eventually,
    hubspot_event,
    hubspot_headers,
    opened,
    player_event,
    players_headers,
    webhook_gateway,
    zendesk_event,
    zendesk_headers,
)

Deliver = Callable[[httpx.AsyncClient, str, World], Awaitable[httpx.Response]]


async def zendesk(http: httpx.AsyncClient, url: str, world: World) -> httpx.Response:
    ticket = world.tickets[0]
    event = zendesk_event(ticket.idx + 1, brand_id=ticket.requester.brand.zendesk_brand_id)
    body = body_of(event)
    return await http.post("/webhooks/zendesk", content=body, headers=zendesk_headers(body))


async def hubspot(http: httpx.AsyncClient, url: str, world: World) -> httpx.Response:
    person = next(p for p in world.people if p.customer)
    body = body_of([hubspot_event(int(person.hubspot_id or 0), "firstname", "Renamed")])
    headers = hubspot_headers(f"{url}/webhooks/hubspot", body)
    return await http.post("/webhooks/hubspot", content=body, headers=headers)


def luckyspin_player(world: World) -> PlayerSeed:
    # One brand's player, read with that brand's key: a query asks no other brand for it.
    return next(p for p in world.players if p.person.brand.key == "luckyspin")


async def players(http: httpx.AsyncClient, url: str, world: World) -> httpx.Response:
    player = luckyspin_player(world)
    body = body_of(player_event(player.player_id, player.person.brand.key, {"level": 5}))
    return await http.post("/webhooks/players", content=body, headers=players_headers(body))


def queries(world: World) -> dict[str, tuple[str, str, Deliver]]:
    """Per webhook source: the query reading the record, the upstream counter, the delivery."""
    person = next(p for p in world.people if p.customer)
    return {
        "zendesk": (
            f'{{ ticket(id: "zendesk:{world.tickets[0].idx + 1}") {{ status }} }}',
            "zendesk",
            zendesk,
        ),
        "hubspot": (
            f'{{ customer(id: "hubspot:{person.hubspot_id}") {{ firstName }} }}',
            "hubspot",
            hubspot,
        ),
        "players": (
            f'{{ playerStats(playerId: "{luckyspin_player(world).player_id}") {{ level }} }}',
            "players",
            players,
        ),
    }


@pytest.mark.parametrize("source", ["zendesk", "hubspot", "players"])
async def test_an_event_makes_the_next_query_ask_the_crm_again(
    source: str,
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    tmp_path: Path,
    upstreams: Upstreams,
    world: World,
) -> None:
    query, counter, deliver = queries(world)[source]
    store_file = tmp_path / "webhooks.sqlite3"
    cache = {"hot_ttl": 600, "cold_ttl": 600}  # nothing expires during the test
    with webhook_gateway(simulators.base_url, keys_file, store_file, cache=cache) as url:
        async with httpx.AsyncClient(
            base_url=url,
            timeout=10,
            headers={"X-API-Key": keys["admin@luckyspin" if source == "players" else "admin"]},
        ) as http:
            gql = GraphQL(http)
            await gql.data(query)
            asked = (await upstreams.counts())[counter]
            await gql.data(query)
            assert (await upstreams.counts())[counter] == asked  # answered from the cache

            response = await deliver(http, url, world)
            assert response.status_code == 200
            assert response.json()["accepted"] >= 1
            async with opened(store_file) as store:

                async def applied() -> bool:
                    assert await store.dead_letter_count() == 0
                    return await store.depth() == 0

                await eventually(applied)
            await gql.data(query)
            assert (await upstreams.counts())[counter] > asked  # forgotten: asked again

"""The simulators as the CRMs: a change made through a CRM's API comes back as its signed
webhook, and a cached answer shows it. Deliveries signed badly or too late are refused (the
simulator counts them failed); a CRM that delivers twice is applied once."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.simulators import credentials
from app.simulators.server import RunningSimulators
from app.simulators.world import PlayerSeed, World
from tests.integration.gateway.conftest import GraphQL
from tests.integration.webhooks.conftest import (
    HUBSPOT_SECRET,
    PLAYERS_NEW,
    PLAYERS_OLD,
    ZENDESK_SECRET,
    eventually,
    opened,
    webhook_gateway,
)

SECRETS: dict[str, dict[str, Any]] = {
    "zendesk": {"secret": ZENDESK_SECRET},
    "hubspot": {"secret": HUBSPOT_SECRET},
    "players": {"secrets": [PLAYERS_OLD, PLAYERS_NEW]},  # signs with both while rotating
}


@pytest.fixture
async def served(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], tmp_path: Path
) -> AsyncIterator[tuple[str, Path]]:
    store_file = tmp_path / "webhooks.sqlite3"
    cache = {"hot_ttl": 600, "cold_ttl": 600}
    with webhook_gateway(simulators.base_url, keys_file, store_file, cache=cache) as url:
        yield url, store_file


async def register(control: httpx.AsyncClient, url: str, route: str, mode: str = "normal") -> None:
    target = {"url": f"{url}/webhooks/{route}", "mode": mode, "attempts": 2, "backoff_ms": 10}
    response = await control.put(f"/{route}/__webhooks", json={**target, **SECRETS[route]})
    assert response.status_code == 200, response.text


async def delivery(control: httpx.AsyncClient, route: str) -> dict[str, int]:
    body: dict[str, int] = (await control.get(f"/{route}/__webhooks")).json()
    return body


def zendesk_auth() -> dict[str, str]:
    token = f"{credentials.ZENDESK_EMAIL}/token:{credentials.ZENDESK_API_TOKEN}"
    return {"Authorization": f"Basic {base64.b64encode(token.encode()).decode()}"}


async def change_ticket(http: httpx.AsyncClient, world: World) -> dict[str, Any]:
    """Another status for the first ticket (whatever earlier tests left it in)."""
    route = f"/zendesk/api/v2/tickets/{world.tickets[0].idx + 1}.json"
    current = (await http.get(route, headers=zendesk_auth())).json()["ticket"]["status"]
    status = "hold" if current == "pending" else "pending"
    response = await http.put(route, json={"ticket": {"status": status}}, headers=zendesk_auth())
    assert response.status_code == 200, response.text
    return {"ticket": {"status": {"hold": "ON_HOLD", "pending": "PENDING"}[status]}}


async def change_contact(http: httpx.AsyncClient, world: World) -> dict[str, Any]:
    person = next(p for p in world.people if p.customer)
    name = f"Webhooked {uuid.uuid4().hex[:8]}"
    response = await http.patch(
        f"/hubspot/crm/v3/objects/contacts/{person.hubspot_id}",
        json={"properties": {"firstname": name}},
        headers={"Authorization": f"Bearer {credentials.HUBSPOT_TOKEN}"},
    )
    assert response.status_code == 200, response.text
    return {"customer": {"firstName": name}}


def luckyspin_player(world: World) -> PlayerSeed:
    return next(p for p in world.players if p.person.brand.key == "luckyspin")


async def change_player(http: httpx.AsyncClient, world: World) -> dict[str, Any]:
    player = luckyspin_player(world)
    points = uuid.uuid4().int % 10**9
    response = await http.post(
        "/players/__change",
        json={
            "brand": "luckyspin",
            "player_id": player.player_id,
            "changes": {"points_balance": points},
        },
    )
    assert response.status_code == 200, response.text
    return {"playerStats": {"pointsBalance": points}}


Change = Callable[[httpx.AsyncClient, World], Awaitable[dict[str, Any]]]


def cases(world: World) -> dict[str, tuple[Change, str, str]]:
    """Per CRM: the change (which answers the query's data after it), the key, the query."""
    person = next(p for p in world.people if p.customer)
    player = luckyspin_player(world)
    return {
        "zendesk": (
            change_ticket,
            "admin",
            f'{{ ticket(id: "zendesk:{world.tickets[0].idx + 1}") {{ status }} }}',
        ),
        "hubspot": (
            change_contact,
            "admin",
            f'{{ customer(id: "hubspot:{person.hubspot_id}") {{ firstName }} }}',
        ),
        "players": (
            change_player,
            "admin@luckyspin",
            f'{{ playerStats(playerId: "{player.player_id}") {{ pointsBalance }} }}',
        ),
    }


@pytest.mark.parametrize("route", ["zendesk", "hubspot", "players"])
async def test_a_change_in_the_crm_reaches_a_cached_answer(
    route: str,
    served: tuple[str, Path],
    control: httpx.AsyncClient,
    keys: dict[str, str],
    world: World,
) -> None:
    url, _ = served
    change, key, query = cases(world)[route]
    await register(control, url, route)
    async with httpx.AsyncClient(
        base_url=url, timeout=10, headers={"X-API-Key": keys[key]}
    ) as http:
        gql = GraphQL(http)
        before = await gql.data(query)  # cached now, for ten minutes
        after = await change(control, world)
        assert after != before

        async def changed() -> bool:
            return await gql.data(query) == after

        await eventually(changed)
    assert (await delivery(control, route))["failed"] == 0


async def _sent(control: httpx.AsyncClient, route: str, count: int) -> bool:
    return (await delivery(control, route))["sent"] >= count


@pytest.mark.parametrize("mode", ["bad_signature", "stale"])
async def test_deliveries_signed_badly_or_too_late_are_refused_and_stored_nowhere(
    mode: str, served: tuple[str, Path], control: httpx.AsyncClient, world: World
) -> None:
    url, store_file = served
    await register(control, url, "zendesk", mode)
    await change_ticket(control, world)

    async def failed() -> bool:
        return (await delivery(control, "zendesk"))["failed"] == 1

    await eventually(failed)
    async with opened(store_file) as store:
        assert await store.depth() == 0
        assert await store.dead_letter_count() == 0


async def test_a_crm_delivering_twice_is_stored_once(
    served: tuple[str, Path], control: httpx.AsyncClient, world: World
) -> None:
    url, _ = served
    before = await outcomes(url)
    await register(control, url, "zendesk", "duplicate")
    await change_ticket(control, world)
    await eventually(lambda: _sent(control, "zendesk", 2))
    assert (await delivery(control, "zendesk"))["failed"] == 0  # both answered 2xx
    after = await outcomes(url)
    assert after["accepted"] - before["accepted"] == 1
    assert after["duplicate"] - before["duplicate"] == 1


async def outcomes(url: str) -> dict[str, float]:
    """Zendesk's webhook deliveries by outcome, as /metrics counts them (process-wide)."""
    async with httpx.AsyncClient(base_url=url) as http:
        text = (await http.get("/metrics")).text
    found = {"accepted": 0.0, "duplicate": 0.0}
    for outcome in found:
        line = f'crmgraph_webhook_events_total{{outcome="{outcome}",source="zendesk"}} '
        for row in text.splitlines():
            if row.startswith(line):
                found[outcome] = float(row.removeprefix(line))
    return found

"""Custom fields of the player-stats service, declared in the config: a nested JSON path
(``withdrawals.count``) and a top-level one (``tz``) become ``PlayerStats`` fields, served
alike with the field cache on and off, and read only by the roles the config names."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.simulators.credentials import PLAYERS_API_KEY
from app.simulators.server import RunningSimulators
from tests.integration.gateway.conftest import GraphQL, serve_gateway

ENTITIES = {
    "player_stats": {
        "source": "players",
        "fields": {
            "withdrawalCount": {"path": "withdrawals.count", "type": "Int", "group": "hot"},
            "timeZone": {"path": "tz", "roles": ["admin"], "description": "The brand's zone."},
        },
    }
}
QUERY = """{ customers(first: 20) { edges { node {
  playerStats { playerId brand withdrawalCount timeZone } } } } }"""


@pytest.fixture(scope="module")
def gateways(simulators: RunningSimulators, keys_file: Path) -> Iterator[dict[str, str]]:
    """Two gateways of one config: the field cache off and on."""
    with (
        serve_gateway(simulators.base_url, keys_file, entities=ENTITIES) as off,
        serve_gateway(
            simulators.base_url, keys_file, entities=ENTITIES, cache={"enabled": True}
        ) as on,
    ):
        yield {"off": off, "on": on}


@contextlib.asynccontextmanager
async def client(url: str, key: str) -> AsyncIterator[GraphQL]:
    async with httpx.AsyncClient(base_url=url, timeout=30, headers={"X-API-Key": key}) as http:
        yield GraphQL(http)


async def from_the_service(simulators: RunningSimulators, brand: str, player: str) -> Any:
    headers = {"X-API-Key": PLAYERS_API_KEY, "X-Brand-Key": brand}
    async with httpx.AsyncClient(base_url=simulators.url("/players"), headers=headers) as http:
        response = await http.get(f"/v1/players/{player}/stats")
    response.raise_for_status()
    return response.json()["player"]


def players(data: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [edge["node"]["playerStats"] for edge in data["customers"]["edges"]]
    return [p for p in nodes if p is not None]


async def test_custom_fields_are_read_from_their_paths(
    gateways: dict[str, str], keys: dict[str, str], simulators: RunningSimulators
) -> None:
    async with client(gateways["off"], keys["admin"]) as gql:
        found = players(await gql.data(QUERY))
    assert found
    for player in found[:5]:
        record = await from_the_service(simulators, player["brand"], player["playerId"])
        assert player["withdrawalCount"] == record["withdrawals"]["count"]
        assert player["timeZone"] == record["tz"]


async def test_custom_fields_are_the_same_with_the_cache_cold_and_warm(
    gateways: dict[str, str], keys: dict[str, str]
) -> None:
    async with client(gateways["off"], keys["admin"]) as gql:
        uncached = players(await gql.data(QUERY))
    async with client(gateways["on"], keys["admin"]) as gql:
        cold = players(await gql.data(QUERY))
        warm = players(await gql.data(QUERY))
    assert any(p["withdrawalCount"] is not None for p in uncached)
    assert cold == uncached
    assert warm == uncached


async def test_a_custom_field_with_roles_is_forbidden_to_the_others(
    gateways: dict[str, str], keys: dict[str, str]
) -> None:
    query = "{ customers(first: 3) { edges { node { playerStats { playerId timeZone } } } } }"
    async with client(gateways["off"], keys["analyst"]) as gql:
        body = await gql(query)
    forbidden = [e for e in body["errors"] if e["extensions"]["code"] == "FORBIDDEN"]
    assert forbidden
    assert "timeZone" in forbidden[0]["message"]
    async with client(gateways["off"], keys["analyst"]) as gql:
        allowed = await gql.data(
            "{ customers(first: 3) { edges { node { playerStats { withdrawalCount } } } } }"
        )
    assert any(
        e["node"]["playerStats"]["withdrawalCount"] is not None
        for e in allowed["customers"]["edges"]
        if e["node"]["playerStats"]
    )


async def test_the_schema_shows_the_custom_fields_with_their_descriptions(
    gateways: dict[str, str], keys: dict[str, str]
) -> None:
    query = '{ __type(name: "PlayerStats") { fields { name description type { name } } } }'
    async with client(gateways["off"], keys["admin"]) as gql:
        fields = {f["name"]: f for f in (await gql.data(query))["__type"]["fields"]}
    assert fields["withdrawalCount"]["type"]["name"] == "Int"
    assert fields["timeZone"]["type"]["name"] == "String"
    assert fields["timeZone"]["description"] == "The brand's zone."

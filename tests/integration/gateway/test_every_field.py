"""Every field the entity registry declares is served, and served alike with the field cache
on (cold, then warm) and off: a field declared on a model but missing from the cache's
groups would answer ``null`` with the cache on. Parametrised over the registry itself, so a
field added to a model is tested here without a line of test code."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.domain.entities import ENTITIES, FieldSpec
from app.domain.money import Money
from app.simulators.server import RunningSimulators
from tests.integration.gateway.conftest import GraphQL, serve_gateway

#: How each entity's records are listed: a query with ``{field}`` in each record's selection.
LISTS = {
    "customer": "{ customers(first: 25) { edges { node { id {field} } } } }",
    "lead": "{ leads(first: 25) { edges { node { id {field} } } } }",
    "ticket": "{ tickets(first: 25) { edges { node { id {field} } } } }",
    "player": "{ customers(first: 25) { edges { node { id playerStats { playerId {field} } } } } }",
}
FIELDS = [
    pytest.param(key, f, id=f"{key}.{f.graphql_name}")
    for key, entity in ENTITIES.items()
    for f in entity.shown
]


def selection(field: FieldSpec) -> str:
    money = Money in getattr(field.type, "__args__", (field.type,))
    return f"{field.graphql_name} {{ amount currency }}" if money else field.graphql_name


def values(data: dict[str, Any], entity: str, name: str) -> list[Any]:
    """The field's value in each record of the answer, in order."""
    root = next(iter(data.values()))
    nodes = [edge["node"] for edge in root["edges"]]
    if entity == "player":
        nodes = [n["playerStats"] for n in nodes if n["playerStats"] is not None]
    return [node[name] for node in nodes]


@pytest.fixture(scope="module")
def cached_url(simulators: RunningSimulators, keys_file: Path) -> Iterator[str]:
    with serve_gateway(simulators.base_url, keys_file, cache={"enabled": True}) as url:
        yield url


@pytest.fixture
async def cached(cached_url: str, keys: dict[str, str]) -> AsyncIterator[GraphQL]:
    headers = {"X-API-Key": keys["admin"]}
    async with httpx.AsyncClient(base_url=cached_url, timeout=30, headers=headers) as client:
        yield GraphQL(client)


@pytest.mark.parametrize(("entity", "field"), FIELDS)
async def test_a_declared_field_is_served_alike_with_the_cache_on_and_off(
    entity: str, field: FieldSpec, gql: GraphQL, cached: GraphQL
) -> None:
    query = LISTS[entity].replace("{field}", selection(field))
    uncached = values(await gql.data(query), entity, field.graphql_name)
    cold = values(await cached.data(query), entity, field.graphql_name)
    warm = values(await cached.data(query), entity, field.graphql_name)
    assert any(v is not None for v in uncached), f"no record has {field.graphql_name}"
    assert cold == uncached
    assert warm == uncached


def test_every_entity_is_listed_here() -> None:
    assert set(LISTS) == set(ENTITIES)

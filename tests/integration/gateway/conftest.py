"""The real gateway on a loopback port, wired to the simulators, and helpers to drive it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.demo import demo_settings
from app.main import create_app
from app.simulators.server import RunningSimulators, serve_asgi

PREFIXES = {
    "hubspot": "/hubspot",
    "salesforce": "/salesforce",
    "zendesk": "/zendesk",
    "players": "/players",
}


@pytest.fixture(scope="session")
def gateway_url(simulators: RunningSimulators) -> Iterator[str]:
    with serve_asgi(create_app(demo_settings(simulators.base_url))) as url:
        yield url


@dataclass
class Upstreams:
    """The simulators' own request counters: exact, so tests may assert on them."""

    client: httpx.AsyncClient

    async def counts(self) -> dict[str, int]:
        found = {}
        for name, prefix in PREFIXES.items():
            found[name] = (await self.client.get(f"{prefix}/__stats")).json()["total"]
        return found

    async def total(self) -> int:
        return sum((await self.counts()).values())

    async def routes(self, name: str) -> dict[str, int]:
        stats = (await self.client.get(f"{PREFIXES[name]}/__stats")).json()
        return dict(stats["requests"])

    async def requests(self, name: str) -> list[dict[str, Any]]:
        return list((await self.client.get(f"{PREFIXES[name]}/__requests")).json()["requests"])

    async def configure(self, name: str, config: dict[str, Any]) -> None:
        (await self.client.put(f"{PREFIXES[name]}/__config", json=config)).raise_for_status()

    async def reset(self) -> None:
        for prefix in PREFIXES.values():
            (await self.client.post(f"{prefix}/__reset")).raise_for_status()


@pytest.fixture
async def upstreams(control: httpx.AsyncClient) -> Upstreams:
    return Upstreams(control)


@dataclass
class GraphQL:
    client: httpx.AsyncClient

    async def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.client.post("/graphql", json={"query": query, "variables": variables})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, **variables: Any) -> dict[str, Any]:
        """The data of an answer that must have no errors."""
        body = await self(query, **variables)
        assert not body.get("errors"), body["errors"]
        data: dict[str, Any] = body["data"]
        return data


@pytest.fixture
async def gql(gateway_url: str) -> AsyncIterator[GraphQL]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        yield GraphQL(client)


def errors_at(body: dict[str, Any], *path: object) -> list[dict[str, Any]]:
    return [e for e in body.get("errors") or [] if tuple(e.get("path") or ()) == path]

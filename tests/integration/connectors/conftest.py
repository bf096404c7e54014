"""A Dynamics connector built by its kind, over real loopback HTTP to the simulator."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from app.connectors.dynamics.client import DynamicsClient
from app.connectors.http import UpstreamClient
from app.simulators.server import RunningSimulators
from tests.dynamics_org import connector

PREFIX = "/dynamics"
API = "/api/data/v9.2"
TOKEN_ROUTE = "POST /{tenant}/oauth2/v2.0/token"


class Stats:
    """The Dynamics simulator's request counters."""

    def __init__(self, control: httpx.AsyncClient) -> None:
        self.control = control

    async def routes(self) -> dict[str, int]:
        stats = (await self.control.get(f"{PREFIX}/__stats")).json()
        return dict(stats["requests"])

    async def total(self) -> int:
        return int((await self.control.get(f"{PREFIX}/__stats")).json()["total"])

    async def api_calls(self) -> int:
        """Requests to the Web API (the token endpoint aside)."""
        return sum(n for route, n in (await self.routes()).items() if API in route)

    async def refused(self) -> dict[str, Any]:
        stats = (await self.control.get(f"{PREFIX}/__stats")).json()
        return dict(stats["refused"])

    async def requests(self) -> list[dict[str, Any]]:
        return list((await self.control.get(f"{PREFIX}/__requests")).json()["requests"])

    async def reset(self) -> None:
        (await self.control.post(f"{PREFIX}/__reset")).raise_for_status()

    async def configure(self, config: dict[str, Any]) -> None:
        (await self.control.put(f"{PREFIX}/__config", json=config)).raise_for_status()


Build = Callable[..., DynamicsClient]


@pytest.fixture
async def stats(control: httpx.AsyncClient) -> AsyncIterator[Stats]:
    yield Stats(control)
    (await control.post(f"{PREFIX}/__reset", params={"data": "true"})).raise_for_status()


@pytest.fixture
async def build(simulators: RunningSimulators) -> AsyncIterator[Build]:
    """``build(window=…, attempts=…, budget=…, custom=…, **settings)``: see
    :func:`tests.dynamics_org.connector`."""
    made: list[UpstreamClient] = []
    yield functools.partial(connector, simulators.base_url, made)
    for client in made:
        await client.aclose()


@pytest.fixture
def dyn(build: Build) -> DynamicsClient:
    return build()

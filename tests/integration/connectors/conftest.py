"""A Dynamics connector built by its kind, over real loopback HTTP to the simulator."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from app.connectors.dynamics.batch import Part
from app.connectors.dynamics.client import DynamicsClient
from app.connectors.dynamics.kind import KIND
from app.connectors.dynamics.settings import DynamicsSource
from app.connectors.http import UpstreamClient
from app.connectors.kind import BuildContext
from app.demo import demo_env, dynamics_source
from app.domain.custom import CustomFieldSpec
from app.resilience.budget import SourceBudget
from app.resilience.retry import RetryPolicy
from app.simulators.server import RunningSimulators

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


def connector(
    base_url: str,
    made: list[UpstreamClient],
    window: float | None = None,
    attempts: int = 3,
    budget: bool = True,
    custom: dict[str, dict[str, CustomFieldSpec]] | None = None,
    **settings: Any,
) -> DynamicsClient:
    """A connector to the simulators at ``base_url`` as the gateway builds one (its kind's
    ``build``), with a rate budget reading Dataverse's headers; its HTTP clients are added
    to ``made``, for the caller to close."""
    demo_env()
    source = DynamicsSource.model_validate({**dynamics_source(base_url), **settings})

    def http(auth: httpx.Auth | None) -> UpstreamClient:
        client = UpstreamClient(
            "dynamics",
            source.url,
            auth=auth,
            budget=SourceBudget("dynamics", KIND.rates, None, window=window) if budget else None,
            retry=RetryPolicy(max_attempts=attempts, base=0.01, cap=0.05),
        )
        made.append(client)
        return client

    client: DynamicsClient = KIND.build(source, BuildContext("dynamics", http, custom=custom or {}))
    return client


async def make_busy(dyn: DynamicsClient, contact: str, brand: str, count: int) -> None:
    """``count`` more cases of the contact, of ``brand``, the newest of the org: made through
    the Web API's own ``$batch`` of ``POST incidents``, 100 at a time."""
    for start in range(0, count, 100):
        parts = [
            Part(
                "POST",
                "incidents",
                body={
                    "title": f"automated report {start + i}",
                    "customerid_contact@odata.bind": f"/contacts({contact})",
                    "crmgraph_brand": brand,
                },
            )
            for i in range(min(100, count - start))
        ]
        answers = await dyn.api.batch(parts, idempotent=False)
        assert {a.status for a in answers} == {204}, answers[0].text


@pytest.fixture
async def build(simulators: RunningSimulators) -> AsyncIterator[Build]:
    """``build(window=…, attempts=…, budget=…, custom=…, **settings)``: see :func:`connector`."""
    made: list[UpstreamClient] = []
    yield functools.partial(connector, simulators.base_url, made)
    for client in made:
        await client.aclose()


@pytest.fixture
def dyn(build: Build) -> DynamicsClient:
    return build()

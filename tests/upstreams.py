"""The simulators' own request counters, as tests read them: exact, so tests may assert on them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from app.simulators.credentials import SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET

PREFIXES = {
    "hubspot": "/hubspot",
    "salesforce": "/salesforce",
    "zendesk": "/zendesk",
    "players": "/players",
}


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


__all__ = ["PREFIXES", "Upstreams"]


@contextlib.asynccontextmanager
async def salesforce_session(salesforce_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the Salesforce simulator at ``salesforce_url``, signed in with the
    simulator's client credentials."""
    async with httpx.AsyncClient(base_url=salesforce_url, timeout=10) as client:
        form = {
            "grant_type": "client_credentials",
            "client_id": SALESFORCE_CLIENT_ID,
            "client_secret": SALESFORCE_CLIENT_SECRET,
        }
        token = (await client.post("/services/oauth2/token", data=form)).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client

"""The real gateway on a loopback port, wired to the simulators, and helpers to drive it."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.auth.keys import KeyStore
from app.config import parse_config
from app.demo import demo_config, demo_settings
from app.main import create_app
from app.simulators.server import RunningSimulators, serve_asgi
from tests.redis_server import PATIENT_REDIS
from tests.upstreams import PREFIXES as PREFIXES  # re-exported for the tests here
from tests.upstreams import Upstreams as Upstreams


def gateway_config(simulators_url: str, keys_file: Path, **overrides: Any) -> dict[str, Any]:
    """The demo's config, with the per-caller rate budget, the field cache and the live check
    at start off unless a test turns them on (most tests count upstream requests)."""
    config = demo_config(simulators_url, keys_file)
    config["limits"] = {"rate": None}
    config["cache"] = {"enabled": False}
    # Each gateway its own outbox; queued writes retried quickly.
    config["writes"] = {
        "outbox_path": str(keys_file.parent / f"outbox-{uuid.uuid4().hex}.sqlite3"),
        "worker_interval": 0.05,
        "backoff_base": 0.05,
        "default_phone_region": "GB",
    }
    # The live check at start asks each CRM for its metadata: requests most tests count.
    config["server"] = {"startup_check": False}
    config["redis_timeout"] = PATIENT_REDIS
    config.update(overrides)
    return config


@pytest.fixture(scope="session")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys") / "keys.json"


@pytest.fixture(scope="session")
def keys(keys_file: Path) -> dict[str, str]:
    """An API key per default role for every brand, and one-brand keys named role@brand."""
    store = KeyStore(keys_file)
    made = {}
    for role in ("admin", "analyst", "marketing", "support", "service"):
        made[role] = store.create(role, ["*"])[0]
    for role in ("admin", "analyst", "support"):
        for brand in ("luckyspin", "goldcoast"):
            made[f"{role}@{brand}"] = store.create(role, [brand])[0]
    return made


@contextlib.contextmanager
def serve_gateway(simulators_url: str, keys_file: Path, **overrides: Any) -> Iterator[str]:
    """Another gateway on its own port, with config keys replaced by ``overrides``."""
    demo_settings(simulators_url)  # puts the simulators' credentials in the environment
    settings = parse_config(gateway_config(simulators_url, keys_file, **overrides))
    with serve_asgi(create_app(settings)) as url:
        yield url


@contextlib.contextmanager
def serve_with_source(
    simulators_url: str,
    keys_file: Path,
    source: str,
    server: dict[str, Any] | None = None,
    **settings: Any,
) -> Iterator[str]:
    """Another gateway whose ``source`` has ``settings`` replaced (its ``base_url``: a server
    of a test's own, as ``tests.misbehaving``), its other sources on the simulators; with
    ``server``, those server settings."""
    config = gateway_config(simulators_url, keys_file)
    sources = config["sources"]
    sources[source] = {**sources[source], **settings}
    with serve_gateway(
        simulators_url, keys_file, sources=sources, server=server or config["server"]
    ) as url:
        yield url


@pytest.fixture(scope="session")
def gateway_url(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str]
) -> Iterator[str]:
    with serve_gateway(simulators.base_url, keys_file) as url:
        yield url


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
async def gql(gateway_url: str, keys: dict[str, str]) -> AsyncIterator[GraphQL]:
    """A client with the admin key: sees every field of every brand."""
    headers = {"X-API-Key": keys["admin"]}
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30, headers=headers) as client:
        yield GraphQL(client)


@pytest.fixture
async def gql_as(gateway_url: str, keys: dict[str, str]) -> AsyncIterator[Any]:
    """``gql_as("support@luckyspin")``: a client with that key (``None``: no credentials)."""
    clients: list[httpx.AsyncClient] = []

    def make(name: str | None) -> GraphQL:
        headers = {} if name is None else {"X-API-Key": keys[name]}
        client = httpx.AsyncClient(base_url=gateway_url, timeout=30, headers=headers)
        clients.append(client)
        return GraphQL(client)

    yield make
    for client in clients:
        await client.aclose()


def errors_at(body: dict[str, Any], *path: object) -> list[dict[str, Any]]:
    return [e for e in body.get("errors") or [] if tuple(e.get("path") or ()) == path]

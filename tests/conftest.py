"""Fixtures shared by every suite: the simulators on a real loopback port, and a Redis server
of the run's own (see tests/redis_server.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from redis.asyncio import Redis

from app.simulators.server import VENDORS, RunningSimulators, serve_in_thread
from app.simulators.world import World, build_world
from tests import shared_guard
from tests.redis_server import RedisServer, running_redis
from tests.upstreams import Upstreams

SEED = 42

shared_guard.install()  # the suite reads nothing beside the clone, as on a user's machine


@pytest.fixture(scope="session")
def world() -> World:
    """The same world the simulators serve (rebuilt from the same seed, so tests can compare)."""
    return build_world(SEED)


@pytest.fixture(scope="session")
def simulators() -> Iterator[RunningSimulators]:
    # CRMGRAPH_SIMULATORS=hubspot,zendesk serves a subset (handy while working on one of them).
    only = os.environ.get("CRMGRAPH_SIMULATORS")
    vendors = tuple(only.split(",")) if only else tuple(VENDORS)
    with serve_in_thread(SEED, vendors) as running:
        yield running


@pytest.fixture
async def upstreams(control: httpx.AsyncClient) -> Upstreams:
    return Upstreams(control)


@pytest.fixture
async def control(simulators: RunningSimulators) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the control routes; every simulator's config and counters start clean."""
    async with httpx.AsyncClient(base_url=simulators.base_url, timeout=10) as client:
        for prefix in simulators.prefixes:
            (await client.put(f"{prefix}/__config", json={})).raise_for_status()
            (await client.post(f"{prefix}/__reset")).raise_for_status()
        yield client
        for prefix in simulators.prefixes:
            await client.put(f"{prefix}/__config", json={})


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A Redis server started for this run on a free loopback port; no test uses any other."""
    with running_redis() as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    name = f"crmgraph:test:{uuid.uuid4().hex}:"
    yield name
    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{name}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def clients(redis_url: str) -> AsyncIterator[tuple[Redis, Redis]]:
    """Two separate Redis clients, as two gateway instances would have."""
    one, two = Redis.from_url(redis_url), Redis.from_url(redis_url)
    yield one, two
    await one.aclose()
    await two.aclose()

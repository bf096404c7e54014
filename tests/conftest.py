"""Fixtures shared by every suite: the simulators on a real loopback port."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from redis.asyncio import Redis

from app.simulators.server import VENDORS, RunningSimulators, serve_in_thread
from app.simulators.world import World, build_world
from tests.upstreams import Upstreams

SEED = 42


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


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    name = f"crmgraph:test:{uuid.uuid4().hex}:"
    yield name
    client = Redis(host="127.0.0.1", port=6379)
    try:
        keys = [key async for key in client.scan_iter(match=f"{name}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def clients() -> AsyncIterator[tuple[Redis, Redis]]:
    """Two separate Redis clients, as two gateway instances would have."""
    one, two = Redis(host="127.0.0.1", port=6379), Redis(host="127.0.0.1", port=6379)
    yield one, two
    await one.aclose()
    await two.aclose()

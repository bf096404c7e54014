"""Hot fields apart from cold: what a dashboard poll costs with the field cache on.

Each test runs its own cached gateway (so no other test's traffic warms it), counts upstream
requests with the simulators' counters, and reads which properties the CRMs were asked for
from the simulators' request logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import REDIS_TIMEOUT
from app.simulators.server import RunningSimulators
from tests.dashboard import DASHBOARD
from tests.integration.gateway.conftest import GraphQL, Upstreams, serve_gateway
from tests.redis_server import PATIENT_REDIS, HeldRedis

HOT_TTL = 1.0
COLD = {"firstname", "lastname", "phone", "company", "createdate"}  # HubSpot cold properties


@contextlib.contextmanager
def cached_gateway(
    simulators: RunningSimulators,
    keys_file: Path,
    redis_timeout: float = PATIENT_REDIS,
    **cache: Any,
) -> Iterator[str]:
    settings = {"hot_ttl": HOT_TTL, "cold_ttl": 600, **cache}
    with serve_gateway(
        simulators.base_url, keys_file, cache=settings, redis_timeout=redis_timeout
    ) as url:
        yield url


@contextlib.asynccontextmanager
async def client(url: str, key: str) -> AsyncIterator[GraphQL]:
    async with httpx.AsyncClient(base_url=url, timeout=30, headers={"X-API-Key": key}) as http:
        yield GraphQL(http)


def hubspot_properties(requests: list[dict[str, Any]]) -> set[str]:
    return {
        p for r in requests if isinstance(r["body"], dict) for p in r["body"].get("properties", [])
    }


@pytest.fixture
def cached(simulators: RunningSimulators, keys_file: Path) -> Iterator[str]:
    with cached_gateway(simulators, keys_file) as url:
        yield url


async def test_a_repeated_dashboard_within_the_ttl_costs_nothing_upstream(
    cached: str, keys: dict[str, str], upstreams: Upstreams
) -> None:
    async with client(cached, keys["admin"]) as gql:
        first = await gql.data(DASHBOARD, first=50)
        cold = await upstreams.total()
        await upstreams.reset()
        again = await gql.data(DASHBOARD, first=50)
    assert cold > 0
    assert again == first
    assert await upstreams.total() == 0


async def test_after_the_hot_ttl_only_hot_properties_are_asked_again(
    cached: str, keys: dict[str, str], upstreams: Upstreams
) -> None:
    async with client(cached, keys["admin"]) as gql:
        await gql.data(DASHBOARD, first=50)
        await asyncio.sleep(HOT_TTL * 1.2)  # let the hot group expire; cold stays for 600 s
        await upstreams.reset()
        await gql.data(DASHBOARD, first=50)
    asked = hubspot_properties(await upstreams.requests("hubspot"))
    assert asked, "the hot refresh should ask HubSpot for the hot properties"
    assert "lifecyclestage" in asked
    assert not asked & COLD, f"cold properties refetched: {asked & COLD}"
    leads = [r for r in await upstreams.requests("salesforce") if "query" in r["path"]]
    assert all("FirstName" not in r["query"] for r in leads)


async def test_a_cold_only_query_never_waits_for_a_hot_refresh(
    cached: str, keys: dict[str, str], upstreams: Upstreams
) -> None:
    query = "{ customers(first: 20) { edges { node { name email company } } } }"
    async with client(cached, keys["admin"]) as gql:
        await gql.data(query)
        asked = hubspot_properties(await upstreams.requests("hubspot"))
        await asyncio.sleep(HOT_TTL * 1.2)
        await upstreams.reset()
        await gql.data('{ customer(id: "hubspot:1001") { name email company } }')
    assert not asked & {"lifecyclestage", "lastmodifieddate"}
    assert await upstreams.total() == 0  # a cold record, within the cold TTL


async def test_fifty_identical_concurrent_queries_cost_one_batch_per_source(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], upstreams: Upstreams
) -> None:
    # A TTL longer than the stampede lasts, so every upstream call counted is a shared one.
    with cached_gateway(simulators, keys_file, hot_ttl=120) as url:
        async with client(url, keys["admin"]) as gql:
            answers = await asyncio.gather(*(gql(DASHBOARD, first=30) for _ in range(50)))
    assert all(not a.get("errors") for a in answers)
    counts = await upstreams.counts()
    assert counts["hubspot"] == 1, await upstreams.routes("hubspot")
    # One lead query, and this new gateway's one OAuth token.
    assert await upstreams.routes("salesforce") == {
        "GET /services/data/{version}/query": 1,
        "POST /services/oauth2/token": 1,
    }
    assert counts["zendesk"] == 2  # users + ticket export
    assert counts["players"] <= 3  # one batch per brand on the page


async def test_a_failing_source_answers_stale_values_marked_with_their_age(
    cached: str, keys: dict[str, str], upstreams: Upstreams
) -> None:
    query = '{ playerStats(playerId: "p-000001") { playerId pointsBalance level } }'
    async with client(cached, keys["admin"]) as gql:
        fresh = await gql.data(query)
        await asyncio.sleep(HOT_TTL * 1.2)
        await upstreams.configure("players", {"error_rate": 1, "error_status": 503})
        body = await gql(query)
    assert body["data"] == fresh
    [stale] = body["extensions"]["stale"]
    assert stale["entity"] == "player"
    assert stale["source"].startswith("players")
    assert stale["id"] == "p-000001"
    assert stale["ageSeconds"] >= HOT_TTL


async def test_past_max_stale_a_failing_source_is_an_error_again(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], upstreams: Upstreams
) -> None:
    query = '{ playerStats(playerId: "p-000001") { pointsBalance } }'
    with cached_gateway(simulators, keys_file, max_stale=0) as url:
        async with client(url, keys["admin"]) as gql:
            await gql.data(query)
            await asyncio.sleep(HOT_TTL * 1.2)
            await upstreams.configure("players", {"error_rate": 1, "error_status": 503})
            body = await gql(query)
    assert body["data"] == {"playerStats": None}
    assert body["errors"][0]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert "stale" not in (body.get("extensions") or {})


async def test_the_cache_never_leaks_between_brands_or_roles(
    cached: str, keys: dict[str, str], upstreams: Upstreams
) -> None:
    query = "{ customers(first: 200) { totalCount edges { node { brand email } } } }"
    async with client(cached, keys["admin"]) as admin:
        await admin.data(query)  # warms the cache with every brand's records
    await upstreams.reset()
    async with client(cached, keys["analyst@luckyspin"]) as analyst:
        body = await analyst(query)
    nodes = [e["node"] for e in body["data"]["customers"]["edges"]]
    assert {n["brand"] for n in nodes} == {"luckyspin"}
    assert all(n["email"] is None for n in nodes)  # analysts may not read emails
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}


async def test_a_second_instance_sharing_redis_is_served_warm(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    upstreams: Upstreams,
    redis_url: str,
) -> None:
    shared = {"redis_url": redis_url, "cold_ttl": 600, "hot_ttl": 60}
    # A fresh namespace: another run's entries must not make this one warm.
    query = f'{{ customers(first: 25, filter: {{company: "{uuid.uuid4()}"}}) {{ totalCount }} }}'
    with (
        cached_gateway(simulators, keys_file, **shared) as one,
        cached_gateway(simulators, keys_file, **shared) as two,
    ):
        async with client(one, keys["admin"]) as gql:
            await gql.data(DASHBOARD, first=40)
            await gql.data(query)
        await upstreams.reset()
        async with client(two, keys["admin"]) as gql:
            await gql.data(DASHBOARD, first=40)
            await gql.data(query)
            figures = await gql.data("{ cache { sharedErrors } }")
    assert figures["cache"]["sharedErrors"] == 0
    assert await upstreams.total() == 0


@contextlib.asynccontextmanager
async def relayed(
    redis_url: str, delay: float = 0.0, cut: asyncio.Event | None = None
) -> AsyncIterator[str]:
    """A Redis URL whose every answer arrives ``delay`` seconds late, and none once ``cut`` is
    set (a network partition): a proxy in this loop."""
    target = httpx.URL(redis_url)
    pipes: set[asyncio.Task[None]] = set()

    async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, late: float) -> None:
        try:
            while data := await src.read(65536):
                await asyncio.sleep(late)
                if cut is None or not cut.is_set():
                    dst.write(data)
                    await dst.drain()
        except ConnectionError:
            pass
        finally:
            dst.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(target.host, target.port)
        for task in (pipe(reader, up_writer, 0), pipe(up_reader, writer, delay)):
            pipes.add(asyncio.create_task(task))

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}{target.path}"
    finally:
        server.close()
        for task in pipes:
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)


@pytest.mark.parametrize("wait", [REDIS_TIMEOUT, 2.0])
async def test_a_redis_slower_than_redis_timeout_is_gone_around(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    upstreams: Upstreams,
    redis_url: str,
    wait: float,
) -> None:
    """Every Redis answer 0.5 s late: past the default timeout the CRMs answer instead (the
    request does not wait on Redis); with ``redis_timeout: 2`` the warm entries serve."""
    query = f'{{ customers(first: 5, filter: {{company: "{uuid.uuid4()}"}}) {{ totalCount }} }}'
    shared = {"cold_ttl": 600, "hot_ttl": 600}
    with cached_gateway(simulators, keys_file, redis_url=redis_url, **shared) as one:
        async with client(one, keys["admin"]) as gql:
            await gql.data(query)
    async with relayed(redis_url, 0.5) as slow:
        with cached_gateway(simulators, keys_file, wait, redis_url=slow, **shared) as two:
            await upstreams.reset()
            async with client(two, keys["admin"]) as gql:
                await gql.data(query)
                figures = await gql.data("{ cache { sharedErrors } }")
    if wait < 0.5:
        assert figures["cache"]["sharedErrors"] > 0
        assert await upstreams.total() == 1
    else:
        assert figures["cache"]["sharedErrors"] == 0
        assert await upstreams.total() == 0


async def test_cache_flush_empties_every_instance(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    upstreams: Upstreams,
    tmp_path: Path,
    redis_url: str,
) -> None:
    import subprocess
    import sys

    import yaml

    from tests.integration.gateway.conftest import gateway_config

    shared = {"redis_url": redis_url, "cold_ttl": 600, "hot_ttl": 600}
    query = '{ customer(id: "hubspot:1002") { name } }'
    config = tmp_path / "crmgraph.yaml"
    config.write_text(yaml.safe_dump(gateway_config(simulators.base_url, keys_file, cache=shared)))
    with cached_gateway(simulators, keys_file, **shared) as url:
        async with client(url, keys["admin"]) as gql:
            await gql.data(query)
            await upstreams.reset()
            await gql.data(query)
            assert await upstreams.total() == 0  # warm
            crmgraph = str(Path(sys.executable).with_name("crmgraph"))
            flush = await asyncio.create_subprocess_exec(
                crmgraph, "cache", "flush", "--config", str(config), stderr=subprocess.PIPE
            )
            _, stderr = await flush.communicate()
            assert flush.returncode == 0, stderr
            # The instance flushes its own tier when the message arrives: wait for it.
            for _ in range(100):
                await gql.data(query)
                if await upstreams.total() > 0:
                    break
                await asyncio.sleep(0.05)
    assert await upstreams.total() == 1


async def test_a_redis_that_never_answers_is_skipped_after_a_few_tries(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str]
) -> None:
    """Each call to a silent Redis waits out ``redis_timeout``: before, every dashboard made
    ~15 of them (2.1 s a dashboard, against 25 ms with no Redis). Now, once a few have failed,
    they are skipped, and a probe every 3 s looks for Redis again."""
    figures = "{ cache { sharedErrors sharedSkipped } }"
    async with HeldRedis(None).serving() as url:
        with cached_gateway(simulators, keys_file, REDIS_TIMEOUT, redis_url=url) as gateway:
            async with client(gateway, keys["admin"]) as gql:
                first = await gql.data(DASHBOARD, first=30)
                after_one = (await gql.data(figures))["cache"]
                for n in range(31, 35):  # other pages: the first tier does not hold them
                    assert (await gql.data(DASHBOARD, first=n))["customers"]["edges"]
                after_five = (await gql.data(figures))["cache"]
    assert len(first["customers"]["edges"]) == 30
    assert 4 <= after_one["sharedErrors"] < 15
    # At most one probe, if this took over 3 s; every other call skipped Redis.
    assert after_five["sharedErrors"] - after_one["sharedErrors"] <= 1
    assert after_five["sharedSkipped"] - after_one["sharedSkipped"] >= 4


async def test_a_busy_instance_whose_redis_goes_silent_skips_it_after_a_few_calls(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], redis_url: str
) -> None:
    """Ten dashboards' good calls to Redis, then Redis stops answering. Before, its breaker
    looked only at the share of failures in the last 10 s: the good calls kept it closed, and
    every call of the next dashboards waited out ``redis_timeout``. Now 4 failures in a row
    open it."""
    figures = "{ cache { sharedErrors sharedSkipped } }"
    cut = asyncio.Event()
    async with relayed(redis_url, cut=cut) as url:
        with cached_gateway(simulators, keys_file, REDIS_TIMEOUT, redis_url=url) as gateway:
            async with client(gateway, keys["admin"]) as gql:
                for n in range(10, 20):
                    await gql.data(DASHBOARD, first=n)
                warm = (await gql.data(figures))["cache"]
                cut.set()
                assert (await gql.data(DASHBOARD, first=40))["customers"]["edges"]
                one = (await gql.data(figures))["cache"]
                for n in range(41, 45):
                    assert (await gql.data(DASHBOARD, first=n))["customers"]["edges"]
                five = (await gql.data(figures))["cache"]
    assert warm["sharedErrors"] == 0
    assert 4 <= one["sharedErrors"] < 12
    assert five["sharedErrors"] - one["sharedErrors"] <= 1  # a probe, if this took over 3 s
    assert five["sharedSkipped"] - one["sharedSkipped"] >= 4


async def test_with_redis_down_the_gateway_serves_and_says_so(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str]
) -> None:
    down = {"redis_url": "redis://127.0.0.1:1/0"}  # nothing listens there
    with cached_gateway(simulators, keys_file, **down) as url:
        async with client(url, keys["admin"]) as gql:
            first = await gql.data(DASHBOARD, first=5)
            again = await gql.data(DASHBOARD, first=5)  # answered by the first tier
            figures = await gql.data("{ cache { sharedTier sharedErrors } }")
        async with httpx.AsyncClient(base_url=url) as http:
            ready = (await http.get("/readyz")).json()
    assert first == again
    assert figures["cache"]["sharedTier"] is True
    assert figures["cache"]["sharedErrors"] > 0
    assert ready["cache"] == {"shared_tier": "down"}


async def test_the_cache_figures_count_hits_misses_and_the_fields_read(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str]
) -> None:
    query = '{ customer(id: "hubspot:1003") { name lifecycleStage } }'
    # The field cache's own figures: the response cache would answer the repeat before it.
    with cached_gateway(simulators, keys_file, responses={"enabled": False}) as url:
        async with client(url, keys["admin"]) as gql:
            await gql.data(query)
            await gql.data(query)
            figures = (
                await gql.data(
                    """{ cache { groups { entity group hits misses maxEntries entries }
                                 hottestFields { typeName field reads } } }"""
                )
            )["cache"]
    groups = {(g["entity"], g["group"]): g for g in figures["groups"]}
    assert groups[("customer", "cold")]["misses"] == 1
    assert groups[("customer", "cold")]["hits"] == 1
    assert groups[("customer", "hot")]["hits"] == 1
    assert groups[("customer", "cold")]["entries"] >= 1
    reads = {(f["typeName"], f["field"]): f["reads"] for f in figures["hottestFields"]}
    assert reads[("Customer", "name")] == 2


async def test_a_write_is_read_back_at_once_through_the_cache(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str]
) -> None:
    read = '{ ticket(id: "zendesk:33") { status } }'
    update = """mutation { updateTicket(id: "zendesk:33", input: {status: "SOLVED"}) {
                 status userErrors { code } } }"""
    with cached_gateway(simulators, keys_file, hot_ttl=600) as url:
        async with client(url, keys["admin"]) as gql:
            before = (await gql.data(read))["ticket"]["status"]
            assert (await gql.data(update))["updateTicket"]["status"] == "APPLIED"
            after = (await gql.data(read))["ticket"]["status"]
    async with httpx.AsyncClient(base_url=simulators.base_url) as control:
        await control.post("/zendesk/__reset", params={"data": "true"})  # the seeded world again
    assert before != "SOLVED"
    assert after == "SOLVED"  # not the cached value, though its TTL has not passed

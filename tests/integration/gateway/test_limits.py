"""Queries that would knock the gateway over are refused before any upstream call."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.auth.keys import KeyStore
from app.config import REDIS_TIMEOUT
from app.simulators.server import RunningSimulators
from tests.integration.gateway.conftest import GraphQL, Upstreams, serve_gateway
from tests.redis_server import HeldRedis

NESTED = (
    "{ customers(first: 1) { edges { node { leads { customer { leads { customer { "
    "leads { customer { leads { customer { leads { customer { id } } } } } } } } } } } } } }"
)


async def refused(
    gql: GraphQL, query: str, upstreams: Upstreams, **variables: Any
) -> dict[str, Any]:
    body = await gql(query, **variables)
    assert body["data"] is None
    assert await upstreams.total() == 0
    return dict(body["errors"][0])


async def test_deep_nesting_is_too_complex(gql: GraphQL, upstreams: Upstreams) -> None:
    error = await refused(gql, NESTED, upstreams)
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["limit"] == "depth"


async def test_an_alias_flood_is_too_complex(gql: GraphQL, upstreams: Upstreams) -> None:
    query = (
        "{ " + " ".join(f'a{n}: customer(id: "hubspot:1001") {{ id }}' for n in range(40)) + " }"
    )
    error = await refused(gql, query, upstreams)
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["limit"] == "aliases"


async def test_a_token_flood_is_refused_before_it_is_parsed(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    query = "{ sources { " + "name " * 5000 + "} }"
    error = await refused(gql, query, upstreams)
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["limit"] == "tokens"


async def test_an_expensive_query_is_refused_by_its_cost(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    # Four pages of 500 customers with tickets, player stats and leads: ~80 upstream requests.
    page = "edges { node { tickets(first: 100) { id } playerStats { level } leads { id } } }"
    query = "{ " + " ".join(f"a{n}: customers(first: 500) {{ {page} }}" for n in range(4)) + " }"
    error = await refused(gql, query, upstreams)
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["limit"] == "cost"


async def test_a_fragment_cycle_is_refused(gql: GraphQL, upstreams: Upstreams) -> None:
    query = """{ customers(first: 1) { edges { node { ...A } } } }
               fragment A on Customer { leads { customer { ...B } } }
               fragment B on Customer { leads { customer { ...A } } }"""
    error = await refused(gql, query, upstreams)
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "cycle" in error["message"] or "itself" in error["message"]


async def test_huge_first_is_bad_user_input(gql: GraphQL, upstreams: Upstreams) -> None:
    body = await gql("{ tickets(first: 100000000) { totalCount } }")
    # Refused before any call: the list answers empty, and only the list is lost.
    assert body["data"] == {"tickets": {"totalCount": None}}
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": "first"}
    assert await upstreams.total() == 0


async def test_an_oversized_body_is_413(
    gateway_url: str, keys: dict[str, str], upstreams: Upstreams
) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        response = await client.post(
            "/graphql",
            content=json.dumps({"query": "{ sources { name } }", "pad": "x" * 300_000}),
            headers={"X-API-Key": keys["admin"], "Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert await upstreams.total() == 0


async def test_a_batch_of_operations_is_refused(gateway_url: str, keys: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        response = await client.post(
            "/graphql",
            json=[{"query": "{ sources { name } }"}] * 2,
            headers={"X-API-Key": keys["admin"]},
        )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_introspection_is_per_role(gql_as: Any, keys_file: Path, gateway_url: str) -> None:
    from graphql import get_introspection_query

    full = await gql_as("analyst")(get_introspection_query())
    assert full["data"]["__schema"]["queryType"]["name"] == "Query"
    denied = await gql_as("service")("{ __schema { queryType { name } } }")
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# -- persisted queries -------------------------------------------------------------------------


def persisted(query: str | None, digest: str) -> dict[str, Any]:
    body: dict[str, Any] = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
    if query is not None:
        body["query"] = query
    return body


async def test_automatic_persisted_queries_register_then_run_by_hash(gql: GraphQL) -> None:
    query = "{ sources { name status } }"
    digest = hashlib.sha256(query.encode()).hexdigest()
    unknown = (await gql.client.post("/graphql", json=persisted(None, digest))).json()
    assert unknown["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    registered = (await gql.client.post("/graphql", json=persisted(query, digest))).json()
    by_hash = (await gql.client.post("/graphql", json=persisted(None, digest))).json()
    assert registered["data"] == by_hash["data"]
    assert len(by_hash["data"]["sources"]) == 4


async def test_a_persisted_query_whose_hash_does_not_match_is_refused(gql: GraphQL) -> None:
    body = persisted("{ sources { name } }", "0" * 64)
    answer = (await gql.client.post("/graphql", json=body)).json()
    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.fixture(scope="module")
def safelisted(
    simulators: RunningSimulators, keys_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    query = "{ sources { name } }"
    safelist = tmp_path_factory.mktemp("safelist") / "safelist.json"
    safelist.write_text(json.dumps({hashlib.sha256(query.encode()).hexdigest(): query}))
    with serve_gateway(
        simulators.base_url,
        keys_file,
        persisted_queries={"mode": "safelist", "safelist_file": str(safelist)},
    ) as url:
        yield url


async def test_safelist_mode_runs_only_registered_operations(
    safelisted: str, keys: dict[str, str], upstreams: Upstreams
) -> None:
    query = "{ sources { name } }"
    digest = hashlib.sha256(query.encode()).hexdigest()
    async with httpx.AsyncClient(
        base_url=safelisted, headers={"X-API-Key": keys["admin"]}
    ) as client:
        by_hash = (await client.post("/graphql", json=persisted(None, digest))).json()
        in_full = (await client.post("/graphql", json={"query": query})).json()
        other = (
            await client.post("/graphql", json={"query": '{ customer(id: "hubspot:1001") { id } }'})
        ).json()
    assert by_hash["data"] == in_full["data"]
    assert other["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert await upstreams.total() == 0


# -- per-caller rate limits --------------------------------------------------------------------


@pytest.fixture(scope="module")
def rate_limited(simulators: RunningSimulators, keys_file: Path) -> Iterator[str]:
    limits = {"rate": {"cost_per_second": 0.01, "burst": 10}}
    with serve_gateway(simulators.base_url, keys_file, limits=limits) as url:
        yield url


async def test_a_caller_over_its_budget_is_rate_limited_with_retry_after(
    rate_limited: str, keys_file: Path
) -> None:
    store = KeyStore(keys_file)
    spender, _ = store.create("admin", ["*"])
    bystander, _ = store.create("admin", ["*"])
    query = "{ customers(first: 10) { edges { node { id leads { id } } } } }"  # costs 2
    async with httpx.AsyncClient(base_url=rate_limited) as client:
        answers = [
            (
                await client.post("/graphql", json={"query": query}, headers={"X-API-Key": spender})
            ).json()
            for _ in range(6)
        ]
        other = (
            await client.post("/graphql", json={"query": query}, headers={"X-API-Key": bystander})
        ).json()
    assert all(not a.get("errors") for a in answers[:5])
    limited = answers[5]["errors"][0]
    assert limited["extensions"]["code"] == "RATE_LIMITED"
    assert limited["extensions"]["retryAfter"] > 0
    assert not other.get("errors")


async def test_two_instances_sharing_redis_share_one_budget(
    simulators: RunningSimulators, keys_file: Path, redis_url: str
) -> None:
    limits = {"rate": {"cost_per_second": 0.01, "burst": 4}}
    shared = {"limits": limits, "redis_url": redis_url}
    key, _ = KeyStore(keys_file).create("admin", ["*"])
    query = "{ customers(first: 10) { edges { node { id leads { id } } } } }"  # costs 2
    with (
        serve_gateway(simulators.base_url, keys_file, **shared) as one,
        serve_gateway(simulators.base_url, keys_file, **shared) as two,
    ):
        codes = []
        for url in (one, two, one):
            async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}) as client:
                body = (await client.post("/graphql", json={"query": query})).json()
            codes.append(body["errors"][0]["extensions"]["code"] if body.get("errors") else "OK")
    assert codes == ["OK", "OK", "RATE_LIMITED"]


async def test_a_rate_check_whose_redis_hangs_is_skipped_after_a_few_tries(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str]
) -> None:
    """Each check waits out ``redis_timeout`` (then the query is served unchecked, as with
    Redis down): before, every query did, 0.25 s each. Now, once a few checks have failed,
    the rest are not asked for, and a probe every 3 s looks for Redis again."""
    hang = HeldRedis(frozenset({b"EVALSHA", b"EVAL"}))
    limits = {"rate": {"cost_per_second": 1000, "burst": 10_000}}
    async with hang.serving() as redis_url:
        with serve_gateway(
            simulators.base_url,
            keys_file,
            limits=limits,
            redis_url=redis_url,
            redis_timeout=REDIS_TIMEOUT,
        ) as url:
            async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": keys["admin"]}) as c:
                for _ in range(12):
                    body = (await c.post("/graphql", json={"query": "{ sources { name } }"})).json()
                    assert body["data"]["sources"], body
    checks = [p for p in hang.received if any(a.startswith(b"crmgraph:rl:") for a in p)]
    assert 4 <= len(checks) <= 5  # 4 failures open the breaker; at most one probe after 3 s

"""The response cache through the gateway's real HTTP endpoint, against the simulators.

A hit is an answer with ``extensions.cached``; each test counts hits that way and upstream
requests with the simulators' own counters, never timings.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from app.cache.flush import flush_everywhere
from app.config import parse_config
from app.gateway import build_cache
from app.simulators.server import RunningSimulators
from app.simulators.world import World
from tests.dashboard import DASHBOARD
from tests.integration.gateway.conftest import gateway_config, serve_gateway
from tests.integration.gateway.conftest import keys as keys  # fixtures
from tests.integration.gateway.conftest import keys_file as keys_file
from tests.integration.webhooks.conftest import (
    ZENDESK_SECRET,
    applied,
    body_of,
    eventually,
    opened,
    webhook_gateway,
    zendesk_event,
    zendesk_headers,
)
from tests.integration.webhooks.test_from_simulators import zendesk_auth
from tests.integration.webhooks.test_salesforce_poll import a_lead, update
from tests.integration.webhooks.test_salesforce_poll import salesforce as salesforce  # fixture
from tests.upstreams import Upstreams

#: Nothing the field cache holds expires during a test, unless the test says otherwise.
CACHE = {"hot_ttl": 600, "cold_ttl": 600}


@contextlib.contextmanager
def cached_gateway(simulators: RunningSimulators, keys_file: Path, **cache: Any) -> Iterator[str]:
    with serve_gateway(simulators.base_url, keys_file, cache={**CACHE, **cache}) as url:
        yield url


@pytest.fixture
def url(simulators: RunningSimulators, keys_file: Path) -> Iterator[str]:
    with cached_gateway(simulators, keys_file) as url:
        yield url


class Caller:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.http.post("/graphql", json={"query": query, "variables": variables})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, **variables: Any) -> tuple[dict[str, Any], bool]:
        """The answer's data (it must have no errors) and whether it was a cached one."""
        body = await self(query, **variables)
        assert not body.get("errors"), body["errors"]
        return body["data"], cached(body)


def cached(body: dict[str, Any]) -> bool:
    found = (body.get("extensions") or {}).get("cached")
    if found is not None:
        assert isinstance(found["age"], float | int)
        assert found["age"] >= 0
    return found is not None


@contextlib.asynccontextmanager
async def caller(url: str, key: str | None) -> AsyncIterator[Caller]:
    headers = {} if key is None else {"X-API-Key": key}
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as http:
        yield Caller(http)


def ticket_query(world: World, fields: str = "status") -> str:
    return f'{{ ticket(id: "zendesk:{world.tickets[0].idx + 1}") {{ id {fields} }} }}'


async def test_a_repeated_query_is_answered_from_the_cache_with_its_age(
    url: str, keys: dict[str, str], upstreams: Upstreams
) -> None:
    async with caller(url, keys["admin"]) as gql:
        first, hit = await gql.data(DASHBOARD, first=20)
        assert not hit
        await upstreams.reset()
        again, hit = await gql.data(DASHBOARD, first=20)
        assert hit
        assert again == first
        assert await upstreams.total() == 0
        response = await gql.http.post(
            "/graphql",
            json={"query": DASHBOARD, "variables": {"first": 20}},
            headers={"Accept": "application/graphql-response+json"},
        )
        assert response.headers["content-type"] == "application/graphql-response+json"
        assert cached(response.json())


async def test_documents_differing_in_whitespace_and_comments_share_an_entry(
    url: str, keys: dict[str, str], world: World
) -> None:
    query = ticket_query(world, "status subject")
    spaced = "# the same query\n" + query.replace(" ", "\n   ").replace("{", "{ # brace\n")
    async with caller(url, keys["admin"]) as gql:
        first, hit = await gql.data(query)
        assert not hit
        again, hit = await gql.data(spaced)
        assert hit
        assert again == first


async def test_different_variables_are_different_entries(url: str, keys: dict[str, str]) -> None:
    async with caller(url, keys["admin"]) as gql:
        assert not (await gql.data(DASHBOARD, first=3))[1]
        assert not (await gql.data(DASHBOARD, first=4))[1]
        assert (await gql.data(DASHBOARD, first=3))[1]
        assert (await gql.data(DASHBOARD, first=4))[1]


UPDATE = """mutation($id: ID!, $p: String!) {
  updateTicket(id: $id, input: {priority: $p}) { status } }"""
CUSTOMERS = "{ customers(first: 10) { totalCount edges { node { id name brand } } } }"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("admin", "analyst"),  # roles
        ("analyst", "support"),
        ("admin@luckyspin", "admin@goldcoast"),  # brands
        ("admin", "admin@luckyspin"),
    ],
)
async def test_callers_of_another_scope_never_get_each_others_answer(
    one: str, other: str, url: str, keys: dict[str, str]
) -> None:
    async with caller(url, keys[one]) as first, caller(url, keys[other]) as second:
        mine, hit = await first.data(CUSTOMERS)
        assert not hit
        assert (await first.data(CUSTOMERS))[1]  # kept for the first scope
        theirs, hit = await second.data(CUSTOMERS)
        assert not hit, f"{other} was served {one}'s answer"
        assert (await second.data(CUSTOMERS)) == (theirs, True)
        assert (await first.data(CUSTOMERS)) == (mine, True)
    if "@" in one or "@" in other:
        assert mine != theirs  # other brands: other customers


JWT_SECRET = "a-development-secret-of-at-least-32-bytes!"


def token(roles: list[str], brands: list[str], subject: str) -> str:
    now = int(time.time())
    claims = {"iss": "dev", "aud": "crmgraph", "sub": subject, "iat": now, "exp": now + 300}
    return jwt.encode({**claims, "roles": roles, "brands": brands}, JWT_SECRET, "HS256")


async def test_bearer_tokens_of_another_scope_never_get_each_others_answer(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CRMGRAPH_TEST_RESPONSES_JWT", JWT_SECRET)
    issuer = {
        "issuer": "dev",
        "audience": "crmgraph",
        "hs256_secret": {"env": "CRMGRAPH_TEST_RESPONSES_JWT"},
        "algorithms": ["HS256"],
    }
    auth = {"keys_file": str(keys_file), "jwt": [issuer]}
    callers = {
        "ada": token(["analyst"], ["luckyspin"], "ada"),
        "bob": token(["analyst"], ["goldcoast"], "bob"),
        "cy": token(["support"], ["luckyspin"], "cy"),
        "di": token(["analyst"], ["luckyspin"], "di"),  # ada's scope, another subject
    }
    with serve_gateway(simulators.base_url, keys_file, cache=CACHE, auth=auth) as url:
        answers = {}
        for name, bearer in callers.items():
            headers = {"Authorization": f"Bearer {bearer}"}
            async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as http:
                answers[name] = await Caller(http).data(CUSTOMERS)
        async with caller(url, keys["analyst@luckyspin"]) as keyed:
            answers["key"] = await keyed.data(CUSTOMERS)
    assert [hit for _, hit in answers.values()] == [False, False, False, True, True]
    assert answers["ada"][0] != answers["bob"][0]
    assert answers["ada"][0] == answers["di"][0] == answers["key"][0]


async def test_two_keys_of_the_same_role_and_brands_share_answers(
    url: str, keys: dict[str, str]
) -> None:
    async with caller(url, keys["analyst"]) as keyed, caller(url, None) as anonymous:
        assert not (await keyed.data(CUSTOMERS))[1]
        assert (await anonymous.data(CUSTOMERS))[1]  # the loopback analyst: the same scope


async def test_answers_with_errors_are_not_kept(
    url: str, keys: dict[str, str], upstreams: Upstreams
) -> None:
    forbidden = "{ customers(first: 3) { edges { node { id email } } } }"
    missing = '{ ticket(id: "zendesk:987654321") { id status } }'
    async with caller(url, keys["analyst"]) as gql:
        for query in (forbidden, missing):
            for _ in range(2):
                body = await gql(query)
                assert body["errors"]
                assert not cached(body)


async def test_explain_is_never_answered_from_the_cache(
    url: str, keys: dict[str, str], world: World
) -> None:
    query = ticket_query(world)
    async with caller(url, keys["admin"]) as gql:
        await gql.data(query)
        assert (await gql.data(query))[1]
        explained = {"query": query, "extensions": {"explain": True}}
        body = (await gql.http.post("/graphql", json=explained)).json()
        assert not cached(body)
        assert body["extensions"]["explain"]["upstreamCalls"] == 0


async def test_get_queries_and_persisted_queries_are_answered_too(
    url: str, keys: dict[str, str], world: World, upstreams: Upstreams
) -> None:
    query = ticket_query(world, "priority")
    digest = hashlib.sha256(query.encode()).hexdigest()
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    async with caller(url, keys["admin"]) as gql:
        by_get = (await gql.http.get("/graphql", params={"query": query})).json()
        assert not cached(by_get)
        await upstreams.reset()
        again = (await gql.http.get("/graphql", params={"query": query})).json()
        assert cached(again)
        assert again["data"] == by_get["data"]
        registered = await gql.http.post("/graphql", json={"query": query, "extensions": persisted})
        assert cached(registered.json())
        by_hash = await gql.http.post("/graphql", json={"extensions": persisted})
        assert cached(by_hash.json())
        assert by_hash.json()["data"] == by_get["data"]
    assert await upstreams.total() == 0


async def test_a_hit_is_charged_to_the_callers_rate_budget(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], world: World
) -> None:
    limits = {"rate": {"cost_per_second": 0.01, "burst": 3}}
    with serve_gateway(simulators.base_url, keys_file, cache=CACHE, limits=limits) as url:
        async with caller(url, keys["admin"]) as gql:
            query = ticket_query(world)  # costs 1
            answers = [await gql(query) for _ in range(4)]
    assert [cached(a) for a in answers[:3]] == [False, True, True]
    assert answers[3]["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


async def test_a_mutation_drops_the_answers_holding_its_record_and_its_lists(
    url: str, keys: dict[str, str], world: World
) -> None:
    ticket = f"zendesk:{world.tickets[0].idx + 1}"
    query = f'{{ ticket(id: "{ticket}") {{ id priority }} }}'
    listing = '{ tickets(first: 3, filter: {brand: "luckyspin"}) { totalCount } }'
    other = "{ leads(first: 2) { edges { node { id } } } }"
    async with caller(url, keys["admin"]) as gql:
        before, _ = await gql.data(query)
        for q in (query, listing, other):
            await gql.data(q)
            assert (await gql.data(q))[1]
        priority = "HIGH" if before["ticket"]["priority"] != "HIGH" else "LOW"
        done = await gql.data(UPDATE, id=ticket, p=priority)
        assert done[0]["updateTicket"]["status"] == "APPLIED"
        after, hit = await gql.data(query)
        assert not hit
        assert after["ticket"]["priority"] == priority
        assert not (await gql.data(listing))[1]  # a ticket list: it may have moved in or out
        assert (await gql.data(other))[1]  # leads hold no ticket: kept


async def test_a_flush_drops_every_answer(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    world: World,
    redis_url: str,
) -> None:
    query = ticket_query(world)
    with cached_gateway(simulators, keys_file, redis_url=redis_url) as url:
        async with caller(url, keys["admin"]) as gql:
            await gql.data(query)
            assert (await gql.data(query))[1]
            # What `crmgraph cache flush` does, from another process's point of view.
            settings = parse_config(
                gateway_config(
                    simulators.base_url, keys_file, cache={**CACHE, "redis_url": redis_url}
                )
            )
            cache, redis = build_cache(settings.cache)
            assert cache is not None
            assert redis is not None
            try:
                await flush_everywhere(cache, redis, None)
            finally:
                await redis.aclose()

            async def dropped() -> bool:
                return not (await gql.data(query))[1]

            await eventually(dropped)


async def test_an_answer_lives_no_longer_than_the_hot_fields_it_read(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    world: World,
    upstreams: Upstreams,
) -> None:
    hot, cold = ticket_query(world, "status"), ticket_query(world, "subject")
    with cached_gateway(simulators, keys_file, hot_ttl=1.0) as url:
        async with caller(url, keys["admin"]) as gql:
            for query in (hot, cold):
                await gql.data(query)
                assert (await gql.data(query))[1]
            await asyncio.sleep(1.2)  # past the hot TTL (waiting, not an assertion)
            await upstreams.reset()
            assert not (await gql.data(hot))[1]
            assert (await upstreams.counts())["zendesk"] == 1  # the hot group, fetched again
            assert (await gql.data(cold))[1]  # read no hot field: still kept


async def test_a_webhook_drops_the_answers_holding_its_record(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    world: World,
    tmp_path: Path,
) -> None:
    store_file = tmp_path / "webhooks.sqlite3"
    query = ticket_query(world)
    with webhook_gateway(simulators.base_url, keys_file, store_file, cache=CACHE) as url:
        async with caller(url, keys["admin"]) as gql:
            await gql.data(query)
            assert (await gql.data(query))[1]
            ticket = world.tickets[0]
            event = zendesk_event(ticket.idx + 1, brand_id=ticket.requester.brand.zendesk_brand_id)
            body = body_of(event)
            response = await gql.http.post(
                "/webhooks/zendesk", content=body, headers=zendesk_headers(body)
            )
            assert response.status_code == 200
            await applied(store_file)
            assert not (await gql.data(query))[1]


async def test_a_change_made_in_the_crm_is_on_the_next_poll(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    world: World,
    tmp_path: Path,
    control: httpx.AsyncClient,
) -> None:
    """The Zendesk simulator's own API changes a ticket; its signed webhook reaches the
    gateway; once applied, the very next identical poll shows the change."""
    store_file = tmp_path / "webhooks.sqlite3"
    route = f"/zendesk/api/v2/tickets/{world.tickets[0].idx + 1}.json"
    with webhook_gateway(simulators.base_url, keys_file, store_file, cache=CACHE) as url:
        target = {"url": f"{url}/webhooks/zendesk", "secret": ZENDESK_SECRET, "attempts": 2}
        (await control.put("/zendesk/__webhooks", json=target)).raise_for_status()
        async with caller(url, keys["admin"]) as gql:
            await gql.data(DASHBOARD, first=50)
            query = ticket_query(world)
            seen, _ = await gql.data(query)
            assert (await gql.data(query))[1]
            assert (await gql.data(DASHBOARD, first=50))[1]
            status = "hold" if seen["ticket"]["status"] == "PENDING" else "pending"
            changed = await control.put(
                route, json={"ticket": {"status": status}}, headers=zendesk_auth()
            )
            assert changed.status_code == 200, changed.text

            async def delivered() -> bool:
                return (await control.get("/zendesk/__webhooks")).json()["sent"] >= 1

            await eventually(delivered)
            await applied(store_file)
            after, hit = await gql.data(query)
            assert not hit
            assert after["ticket"]["status"] == {"hold": "ON_HOLD", "pending": "PENDING"}[status]
            assert not (await gql.data(DASHBOARD, first=50))[1]  # it reads customers' tickets


async def test_a_second_instance_drops_its_answer_when_the_first_takes_a_change(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    world: World,
    redis_url: str,
) -> None:
    ticket = f"zendesk:{world.tickets[1].idx + 1}"
    query = f'{{ ticket(id: "{ticket}") {{ id priority }} }}'
    shared = {"redis_url": redis_url}
    with (
        cached_gateway(simulators, keys_file, **shared) as one,
        cached_gateway(simulators, keys_file, **shared) as two,
    ):
        async with caller(one, keys["admin"]) as first, caller(two, keys["admin"]) as second:
            before, _ = await second.data(query)
            assert (await second.data(query))[1]
            priority = "HIGH" if before["ticket"]["priority"] != "HIGH" else "LOW"
            done, _ = await first.data(UPDATE, id=ticket, p=priority)
            assert done["updateTicket"]["status"] == "APPLIED"

            async def dropped() -> bool:
                return not (await second.data(query))[1]

            await eventually(dropped)
            after, _ = await second.data(query)
            assert after["ticket"]["priority"] == priority


async def test_a_lead_changed_in_salesforce_is_on_the_next_poll(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    tmp_path: Path,
    salesforce: httpx.AsyncClient,
) -> None:
    """Salesforce sends no webhooks: the gateway polls it; once the poll has taken the change
    and the worker applied it, the next identical query shows it."""
    lead = await a_lead(salesforce)
    query = f'{{ lead(id: "salesforce:{lead["Id"]}") {{ id company }} }}'
    store_file = tmp_path / "webhooks.sqlite3"
    polling = {"salesforce_poll_interval": 0.05}
    with webhook_gateway(simulators.base_url, keys_file, store_file, polling, cache=CACHE) as url:
        async with opened(store_file) as store:

            async def cursor() -> str | None:
                return await store.cursor("salesforce-poll:salesforce")

            async def started() -> bool:
                return await cursor() is not None

            await eventually(started)
            async with caller(url, keys["admin"]) as gql:
                await gql.data(query)
                assert (await gql.data(query))[1]
                company = f"Polled {uuid.uuid4().hex[:8]}"
                await update(salesforce, lead["Id"], company)

                async def taken() -> bool:
                    return lead["Id"] in json.loads(await cursor() or "{}").get("seen", [])

                await eventually(taken)
                await applied(store_file)
                after, hit = await gql.data(query)
    assert not hit
    assert after["lead"]["company"] == company

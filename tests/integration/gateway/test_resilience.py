"""Upstreams fail: retries, circuit breakers, deadlines and rate budgets, end to end."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.simulators.server import RunningSimulators
from tests.dashboard import DASHBOARD
from tests.integration.gateway.conftest import GraphQL, Upstreams, serve_gateway

SOURCES = ("hubspot", "salesforce", "zendesk", "players")


@contextlib.contextmanager
def resilient(
    simulators: RunningSimulators, keys_file: Path, resilience: dict[str, Any], **overrides: Any
) -> Iterator[str]:
    from app.demo import demo_config

    sources = demo_config(simulators.base_url)["sources"]
    assert isinstance(sources, dict)
    for name in SOURCES:
        sources[name] = {**sources[name], "resilience": resilience}
    with serve_gateway(simulators.base_url, keys_file, sources=sources, **overrides) as url:
        yield url


@contextlib.asynccontextmanager
async def client(url: str, key: str) -> Any:
    async with httpx.AsyncClient(base_url=url, timeout=60, headers={"X-API-Key": key}) as http:
        yield GraphQL(http)


async def test_with_30_percent_of_reads_failing_the_answers_are_complete(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], upstreams: Upstreams
) -> None:
    with resilient(simulators, keys_file, {"max_attempts": 8, "backoff_base": 0.005}) as url:
        async with client(url, keys["admin"]) as gql:
            await gql.data(DASHBOARD, first=20)  # the token and connections, before the faults
            for name in SOURCES:
                await upstreams.configure(name, {"error_rate": 0.3, "error_status": 503, "seed": 7})
            await upstreams.reset()
            for _ in range(5):
                await gql.data(DASHBOARD, first=20)  # no errors: every failure was retried
    counts = await upstreams.counts()
    sent = sum(counts.values())
    # 5 dashboards cost 5 x 6-7 requests; with 30% failing ~1.4x that is sent, never unbounded.
    assert 30 <= sent <= 2 * 35, counts


async def test_a_dead_source_costs_only_its_fields_and_its_breaker_opens(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], upstreams: Upstreams
) -> None:
    settings = {
        "max_attempts": 2,
        "backoff_base": 0.001,
        "breaker": {"min_calls": 4, "open_seconds": 60},
    }
    with resilient(simulators, keys_file, settings) as url:
        async with client(url, keys["admin"]) as gql:
            await upstreams.configure("players", {"error_rate": 1, "error_status": 503})
            bodies = [await gql(DASHBOARD, first=10) for _ in range(4)]
            after_open = (await upstreams.counts())["players"]
            more = await gql(DASHBOARD, first=10)
            sources = (await gql.data("{ sources { name status breakerState } }"))["sources"]
    for body in [*bodies, more]:
        customers = [e["node"] for e in body["data"]["customers"]["edges"]]
        assert len(customers) == 10
        assert all(c["playerStats"] is None for c in customers)
        assert {e["extensions"]["code"] for e in body["errors"]} == {"UPSTREAM_UNAVAILABLE"}
        assert {e["extensions"]["source"] for e in body["errors"]} == {"players"}
    assert (await upstreams.counts())["players"] == after_open  # failing fast: nothing sent
    assert "failing fast" in more["errors"][0]["message"]
    assert {"name": "players", "status": "DOWN", "breakerState": "open"} in sources


async def test_a_hanging_upstream_is_cut_at_the_request_deadline(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], upstreams: Upstreams
) -> None:
    server = {"request_deadline": 1.0}
    with resilient(simulators, keys_file, {"max_attempts": 3}, server=server) as url:
        async with client(url, keys["admin"]) as gql:
            await gql.data(DASHBOARD, first=5)
            await upstreams.configure("zendesk", {"timeout_rate": 1, "timeout_ms": 20_000})
            body = await gql(DASHBOARD, first=5)
    customers = [e["node"] for e in body["data"]["customers"]["edges"]]
    assert len(customers) == 5
    assert any(c["leads"] for c in customers)
    ticket_errors = [e for e in body["errors"] if e["path"][-1] == "tickets"]
    assert ticket_errors
    assert {e["extensions"]["code"] for e in ticket_errors} == {"UPSTREAM_TIMEOUT"}
    assert {e["extensions"]["source"] for e in ticket_errors} == {"zendesk"}


@pytest.mark.parametrize("status", [400, 404])
async def test_a_client_error_is_not_retried(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    upstreams: Upstreams,
    status: int,
) -> None:
    with resilient(simulators, keys_file, {"max_attempts": 5}) as url:
        async with client(url, keys["admin"]) as gql:
            await upstreams.configure("hubspot", {"error_rate": 1, "error_status": status})
            await gql('{ customer(id: "hubspot:1001") { name } }')
    assert (await upstreams.counts())["hubspot"] == 1


async def lookups(url: str, key: str, ids: range) -> list[dict[str, Any]]:
    async with client(url, key) as gql:
        return [await gql(f'{{ customer(id: "hubspot:{i}") {{ id }} }}') for i in ids]


async def test_under_a_429_storm_the_gateway_waits_for_the_window_instead_of_hammering(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], upstreams: Upstreams
) -> None:
    with resilient(simulators, keys_file, {"max_attempts": 3}) as url:
        await upstreams.configure("hubspot", {"rate_limit": {"requests": 20, "per_seconds": 1}})
        answers = await lookups(url, keys["admin"], range(1001, 1061))
    assert all(a["data"]["customer"] for a in answers)  # every lookup was answered
    stats = (await upstreams.client.get("/hubspot/__stats")).json()
    served = stats["total"] - stats["refused"]["total"]
    assert served == 60
    assert stats["refused"]["total"] < 0.01 * served  # it slowed down before running out


async def test_two_instances_sharing_redis_stay_inside_one_accounts_limit(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    upstreams: Upstreams,
    redis_url: str,
) -> None:
    limit = {"requests": 20, "per_seconds": 2}
    settings = {"max_attempts": 1, "rate_limit": limit}
    shared = {"redis_url": redis_url}
    with (
        resilient(simulators, keys_file, settings, **shared) as one,
        resilient(simulators, keys_file, settings, **shared) as two,
    ):
        await upstreams.configure("hubspot", {"rate_limit": limit})
        await upstreams.reset()
        first, second = await asyncio.gather(
            lookups(one, keys["admin"], range(1001, 1031)),
            lookups(two, keys["admin"], range(1031, 1061)),
        )
    stats = (await upstreams.client.get("/hubspot/__stats")).json()
    # Together they sent more than one window's worth, and the simulator refused none.
    assert stats["total"] == 60
    assert stats["refused"]["total"] == 0
    assert all(a["data"]["customer"] for a in first + second)


SEARCH = "POST /crm/v3/objects/contacts/search"


async def searches(url: str, key: str, n: int) -> list[dict[str, Any]]:
    """``n`` customer lists at once, each one HubSpot search of its own (a company no other
    asks for, so no cache answers it)."""
    query = '{ customers(first: 1, filter: {company: "%s"}) { edges { node { id } } } }'
    async with client(url, key) as gql:
        return list(await asyncio.gather(*(gql(query % uuid.uuid4()) for _ in range(n))))


EXPORT = "GET /api/v2/search/export"


async def exports(url: str, key: str, n: int) -> list[dict[str, Any]]:
    """``n`` ticket lists at once, each one Zendesk search export of its own (a requester no
    other asks for, so no cache answers it)."""
    query = '{ tickets(first: 1, filter: {requesterEmail: "%s"}) { edges { node { id } } } }'
    emails = [f"{uuid.uuid4().hex}@example.test" for _ in range(n)]
    async with client(url, key) as gql:
        return list(await asyncio.gather(*(gql(query % email) for email in emails)))


@dataclass(frozen=True)
class LimitedRoute:
    """A route a CRM limits apart from the account; the simulator's window for it, the
    source's setting that paces it, the burst that reaches it, and how many of a burst of
    24 it refuses at least when nothing paces it (as seen in runs here)."""

    source: str
    setting: str
    route: str
    window: dict[str, Any]
    burst: Callable[[str, str, int], Awaitable[list[dict[str, Any]]]]
    refused_unpaced: int


LIMITED_ROUTES = {
    # HubSpot's search: 4 requests a second per token (its changelog).
    "hubspot search": LimitedRoute(
        "hubspot", "search_limit", SEARCH, {"requests": 4, "per_seconds": 1}, searches, 10
    ),
    # Zendesk's export: 100 a minute per account (its API reference); here 10 in 2 s. Unpaced,
    # 6 to 12 refused: the cold gate and the pause after a refusal hold the rest back.
    "zendesk export": LimitedRoute(
        "zendesk", "export_limit", EXPORT, {"requests": 10, "per_seconds": 2}, exports, 3
    ),
}


@pytest.mark.parametrize("paced", [True, False], ids=["paced", "not paced"])
@pytest.mark.parametrize("limited", LIMITED_ROUTES.values(), ids=LIMITED_ROUTES.keys())
async def test_two_instances_keep_to_a_routes_own_limit_together(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    upstreams: Upstreams,
    redis_url: str,
    limited: LimitedRoute,
    paced: bool,
) -> None:
    """A CRM that limits one route apart from the account (the simulator too, by the
    route's own window). Two instances sharing Redis, 12 requests to that route each at
    once: paced, the CRM refuses none; the pace off (as before), it refuses several."""
    from app.demo import demo_config

    sources = demo_config(simulators.base_url)["sources"]
    assert isinstance(sources, dict)
    pace = limited.window if paced else None
    sources[limited.source] = {**sources[limited.source], limited.setting: pace}
    shared = {"redis_url": redis_url, "sources": sources}
    with (
        serve_gateway(simulators.base_url, keys_file, **shared) as one,
        serve_gateway(simulators.base_url, keys_file, **shared) as two,
    ):
        window = {"rate_limit": limited.window}
        await upstreams.configure(limited.source, {"routes": {limited.route: window}})
        await upstreams.reset()
        first, second = await asyncio.gather(
            limited.burst(one, keys["admin"], 12), limited.burst(two, keys["admin"], 12)
        )
    stats = (await upstreams.client.get(f"/{limited.source}/__stats")).json()
    if paced:
        assert stats["refused"]["total"] == 0
        assert stats["requests"] == {limited.route: 24}
        assert all("errors" not in a for a in first + second)
    else:
        assert stats["refused"]["total"] >= limited.refused_unpaced


async def test_an_export_limit_spent_by_another_app_holds_exports_and_nothing_else(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], upstreams: Upstreams
) -> None:
    """Zendesk's export allowance is the account's: another app may spend it. The refusal
    (429, ``Retry-After`` up to a minute) holds this source's exports; its other calls go on.
    Before, it paused the whole source: the ticket read below failed too."""
    from app.demo import demo_config

    sources = demo_config(simulators.base_url)["sources"]
    assert isinstance(sources, dict)
    sources["zendesk"] = {
        **sources["zendesk"],
        "export_limit": {"requests": 100, "per_seconds": 60},
    }
    spent = {"rate_limit": {"requests": 1, "per_seconds": 60}}  # one left of the minute
    with serve_gateway(simulators.base_url, keys_file, sources=sources) as url:
        await upstreams.configure("zendesk", {"routes": {EXPORT: spent}})
        await upstreams.reset()
        async with client(url, keys["admin"]) as gql:
            by_status = (
                "query($s: [TicketStatus!]) "
                "{ tickets(first: 1, filter: {status: $s}) { edges { node { id } } } }"
            )
            served = await gql(by_status, s=["OPEN"])  # the minute's last export
            refused = await gql(by_status, s=["PENDING"])
            listed = await gql("{ tickets(first: 1) { edges { node { id } } } }")
            ticket_id = listed["data"]["tickets"]["edges"][0]["node"]["id"]
            read = await gql("query($id: ID!) { ticket(id: $id) { id subject } }", id=ticket_id)
            shown = await gql(
                "{ sources { name pausedForSeconds pausedRoutes { route seconds } } }"
            )
    assert "errors" not in served
    (error,) = refused["errors"]
    assert error["extensions"]["code"] == "UPSTREAM_RATE_LIMITED"
    assert 0 < error["extensions"]["retryAfter"] <= 60
    assert "errors" not in listed
    assert "errors" not in read
    assert read["data"]["ticket"]["id"] == ticket_id
    (zendesk,) = [s for s in shown["data"]["sources"] if s["name"] == "zendesk"]
    assert zendesk["pausedForSeconds"] is None  # the source goes on
    (paused,) = zendesk["pausedRoutes"]
    assert paused["route"] == EXPORT
    assert 0 < paused["seconds"] <= 60

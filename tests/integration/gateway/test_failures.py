"""One failing source nulls only the fields it serves; the rest of the answer stands."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.simulators.server import RunningSimulators
from tests.dashboard import DASHBOARD
from tests.integration.gateway.conftest import (
    GraphQL,
    Upstreams,
    errors_at,
    serve_gateway,
    serve_with_source,
)
from tests.misbehaving import Misbehaving, misbehaving


@pytest.fixture
def gateway_url(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str]
) -> Iterator[str]:
    """A gateway of its own for each test here: the failures they provoke leave a source
    paused or its breaker open, which must not reach other tests."""
    with serve_gateway(simulators.base_url, keys_file) as url:
        yield url


async def test_player_stats_down_nulls_only_player_stats(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    await upstreams.configure("players", {"error_rate": 1, "error_status": 503})

    body = await gql(DASHBOARD, first=20)

    customers = [e["node"] for e in body["data"]["customers"]["edges"]]
    assert len(customers) == 20
    assert all(c["playerStats"] is None for c in customers)
    assert any(c["leads"] for c in customers)
    failed = [e for e in body["errors"] if e["path"][-1] == "playerStats"]
    assert failed
    assert {e["extensions"]["code"] for e in failed} == {"UPSTREAM_UNAVAILABLE"}
    assert {e["extensions"]["source"] for e in failed} == {"players"}
    assert all(e["path"][-1] == "playerStats" for e in body["errors"])


async def test_salesforce_down_empties_only_the_leads_with_an_error_at_each(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    await gql.data(DASHBOARD, first=1)  # the token is fetched before the fault is set
    await upstreams.configure("salesforce", {"error_rate": 1, "error_status": 500})

    body = await gql(DASHBOARD, first=5)

    customers = [e["node"] for e in body["data"]["customers"]["edges"]]
    assert len(customers) == 5
    assert all(c["leads"] == [] for c in customers)
    for n in range(5):
        [error] = errors_at(body, "customers", "edges", n, "node", "leads")
        assert error["extensions"] == {"code": "UPSTREAM_UNAVAILABLE", "source": "salesforce"}


async def test_a_rate_limited_source_says_when_to_retry(gql: GraphQL, upstreams: Upstreams) -> None:
    await upstreams.configure("hubspot", {"rate_limit": {"requests": 1, "per_seconds": 60}})
    await gql("{ customers(first: 1) { totalCount } }")

    body = await gql("{ customers(first: 1) { totalCount } }")

    # A root list whose source failed answers an empty connection, never a null answer.
    assert body["data"] == {"customers": {"totalCount": None}}
    [error] = errors_at(body, "customers")
    assert error["extensions"]["code"] == "UPSTREAM_RATE_LIMITED"
    assert error["extensions"]["source"] == "hubspot"
    assert error["extensions"]["retryAfter"] > 0


async def test_a_dropped_connection_is_upstream_unavailable(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    await upstreams.configure("hubspot", {"drop_rate": 1})

    body = await gql('{ customer(id: "hubspot:1001") { name } }')

    assert body["data"] == {"customer": None}
    [error] = errors_at(body, "customer")
    assert error["extensions"] == {"code": "UPSTREAM_UNAVAILABLE", "source": "hubspot"}


async def test_an_expired_salesforce_session_is_renewed_transparently(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    query = "{ leads(first: 2) { edges { node { id status } } } }"
    await gql.data(query)
    await upstreams.client.post("/salesforce/__expire_tokens")
    await upstreams.reset()

    data = await gql.data(query)

    assert len(data["leads"]["edges"]) == 2
    routes = await upstreams.routes("salesforce")
    assert routes.get("POST /services/oauth2/token") == 1


async def test_sources_report_a_failing_upstream(gql: GraphQL, upstreams: Upstreams) -> None:
    await upstreams.configure("players", {"error_rate": 1})
    for _ in range(6):
        await gql('{ playerStats(playerId: "p-000001") { level } }')

    data = await gql.data("{ sources { name kind status errorRate lastError } }")

    by_name = {s["name"]: s for s in data["sources"]}
    assert set(by_name) == {"hubspot", "salesforce", "zendesk", "players"}
    assert by_name["players"]["status"] in {"DEGRADED", "DOWN"}
    assert "HTTP 500" in by_name["players"]["lastError"]


@pytest.mark.parametrize(
    ("mode", "code", "message"),
    [
        ("trickle", "UPSTREAM_TIMEOUT", "players did not answer in time: {route} timed out"),
        (
            "chunked",
            "UPSTREAM_UNAVAILABLE",
            "players is unavailable: answer to {route} is larger than 65536 bytes "
            "(sources.players.max_response_bytes)",
        ),
    ],
)
async def test_a_crm_that_trickles_or_floods_its_answer_costs_only_its_fields(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    mode: str,
    code: str,
    message: str,
) -> None:
    """Player stats served by a server whose answer trickles in 100 bytes at a time (20 s in
    all), or never ends: the dashboard answers at the request's deadline or at once, with
    everything else, and the player stats' own error."""
    # 40 kB, within the 64 kB limit: 100 bytes every 50 ms would take 20 s.
    players = Misbehaving(mode=mode, size=40_000, step=100 if mode == "trickle" else 16_384)
    async with misbehaving(players) as url:
        server = {"startup_check": False, "request_deadline": 1}
        with serve_with_source(
            simulators.base_url,
            keys_file,
            "players",
            server,
            base_url=url,
            max_response_bytes=65536,
        ) as gw:
            headers = {"X-API-Key": keys["admin"]}
            async with httpx.AsyncClient(base_url=gw, timeout=30, headers=headers) as client:
                body = await GraphQL(client)(DASHBOARD, first=5)
        # The gateway hung up on each of its calls (left alone, the server goes on for 20 s,
        # or for ever).
        assert players.requests
        await asyncio.wait_for(asyncio.gather(*players.handlers), 10)

    customers = [e["node"] for e in body["data"]["customers"]["edges"]]
    assert len(customers) == 5
    assert all(c["playerStats"] is None for c in customers)
    assert all(c["email"] and c["tickets"] is not None for c in customers)
    assert any(c["leads"] for c in customers)
    route = "POST /v1/players/stats:batchGet"
    assert {e["path"][-1] for e in body["errors"]} == {"playerStats"}
    assert {e["extensions"]["code"] for e in body["errors"]} == {code}
    assert {e["message"] for e in body["errors"]} == {message.format(route=route)}
    if mode == "trickle":
        assert players.sent < players.size

"""The gateway against CRMs whose base URL has no path, as real ones have
(``https://example.zendesk.com``): each simulator served alone at the root of its own port,
against the same simulators under their usual prefixes, every answer compared.

Found by a trial: with no path, every call with query parameters (the ticket list, Zendesk's
search export, every SOQL query) went to ``http://127.0.0.1:<port>api/v2/…`` and failed as an
internal error; the suite's simulators always had a prefix, so nothing saw it. Here the live
check at start, reads of every kind and a write to each CRM go both ways.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from app.simulators.server import VENDORS, serve_asgi, serve_in_thread
from app.simulators.world import build_world
from tests.conftest import SEED
from tests.dashboard import DASHBOARD
from tests.integration.gateway.conftest import GraphQL, gateway_config, serve_gateway

SOURCES = {"hubspot": "hubspot", "salesforce": "salesforce", "zendesk": "zendesk"}
SOURCES["players"] = "player_stats"

QUERIES: list[tuple[str, dict[str, Any]]] = [
    (DASHBOARD, {"first": 20}),
    ("{ tickets(first: 3) { edges { node { id subject } } pageInfo { endCursor } } }", {}),
    (
        "query($e: String!) { tickets(first: 3, filter: {requesterEmail: $e}) "
        "{ totalCount edges { node { id status } } } }",
        {"e": "ada@example.com"},
    ),
    ("{ leads(first: 3) { totalCount edges { node { id status email } } } }", {}),
    ('{ leads(first: 2, filter: {brand: ["luckyspin"]}) { edges { node { id } } } }', {}),
    ("{ customers(first: 3) { totalCount edges { node { id email } } } }", {}),
]


@contextlib.contextmanager
def bare_simulators() -> Iterator[dict[str, str]]:
    """Each simulator at the root of its own loopback port (a world of the suite's seed)."""
    with contextlib.ExitStack() as stack:
        urls = {}
        for source, vendor in SOURCES.items():
            module = importlib.import_module(f"app.simulators.{vendor}.app")
            app = module.create_app(build_world(SEED))
            urls[source] = stack.enter_context(serve_asgi(app))
        yield urls


WRITES = {
    "ticket": """mutation($id: ID!) { updateTicket(id: $id, input: {priority: "URGENT"}) {
        status userErrors { code } ticket { id priority } } }""",
    "customer": """mutation($id: ID!) { updateCustomer(id: $id, input: {company: "Bare"}) {
        status userErrors { code } customer { id company } } }""",
    "lead": """mutation($id: ID!) { updateLead(id: $id, input: {company: "Bare"}) {
        status userErrors { code } lead { id company } } }""",
    "player": """mutation($id: ID!) { awardPoints(playerId: $id,
        input: {delta: 10, reason: "bare"}) { status userErrors { code }
        playerStats { pointsBalance } } }""",
}


async def answers(url: str, admin: str) -> list[dict[str, Any]]:
    """What ``/readyz`` says of the live check at start, each query's answer, then a write to
    each CRM's first record."""
    headers = {"X-API-Key": admin}
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as client:
        ready = (await client.get("/readyz")).json()
        gql = GraphQL(client)
        found = [await gql(query, **variables) for query, variables in QUERIES]
        first = {
            "ticket": found[1]["data"]["tickets"]["edges"][0]["node"]["id"],
            "lead": found[3]["data"]["leads"]["edges"][0]["node"]["id"],
            "customer": found[5]["data"]["customers"]["edges"][0]["node"]["id"],
            "player": build_world(SEED).players[0].player_id,
        }
        written = [await gql(WRITES[kind], id=first[kind]) for kind in WRITES]
    return [ready["liveCheck"], *found, *written]


async def test_crms_at_the_root_of_their_hosts_answer_as_under_a_prefix(
    keys_file: Path, keys: dict[str, str]
) -> None:
    # The live check at start asks each CRM for its metadata (describe, properties, fields).
    server = {"startup_check": True}
    with serve_in_thread(SEED) as prefixed, bare_simulators() as bare:
        with serve_gateway(prefixed.base_url, keys_file, server=server) as gateway:
            expected = await answers(gateway, keys["admin"])
        sources = gateway_config(prefixed.base_url, keys_file)["sources"]
        for source, url in bare.items():
            assert VENDORS[SOURCES[source]] not in url
            sources[source] = {**sources[source], "base_url": url}
        with serve_gateway(prefixed.base_url, keys_file, sources=sources, server=server) as gw:
            found = await answers(gw, keys["admin"])
    check, *queried = expected
    assert (check["state"], check["unreachable"]) == ("done", {})
    assert [a.get("errors") for a in queried] == [None] * (len(QUERIES) + len(WRITES))
    statuses = [next(iter(a["data"].values()))["status"] for a in queried[len(QUERIES) :]]
    assert statuses == ["APPLIED"] * len(WRITES)
    assert found == expected

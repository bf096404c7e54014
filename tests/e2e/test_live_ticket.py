"""End to end: a ticket changed in the Zendesk simulator goes out as a signed webhook, through
the gateway's intake, queue and worker, to a websocket subscriber — and the next query shows
the new status, because the worker forgot the cached record on the way."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from app.demo import register_webhooks
from app.simulators import credentials
from app.simulators.server import RunningSimulators
from tests.integration.live.conftest import query_data, serve_live, subscribed
from tests.upstreams import Upstreams

OPEN_TICKET = """{ tickets(first: 1, filter: {status: [OPEN]}) {
  edges { node { id status subject } } } }"""
TICKET = "query($id: ID!) { ticket(id: $id) { id status subject } }"


async def test_a_ticket_solved_in_zendesk_reaches_a_subscriber_and_the_next_query(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    connect_as: Any,
    upstreams: Upstreams,
) -> None:
    # The hot TTL outlives the test: only the webhook can make the cached OPEN status go.
    cache = {"enabled": True, "hot_ttl": 600, "cold_ttl": 600}
    async with serve_live(simulators.base_url, keys_file, cache=cache) as live:
        assert register_webhooks(simulators.base_url, live.url) == []
        found = await query_data(live, keys["admin"], OPEN_TICKET)
        ticket = found["tickets"]["edges"][0]["node"]
        # Read once, so the ticket's status is in the cache (hot TTL: seconds).
        cached = await query_data(live, keys["admin"], TICKET, id=ticket["id"])
        assert cached["ticket"]["status"] == "OPEN"

        client = await connect_as(live, "support")
        await client.subscribe(
            "subscription { ticketChanged(status: [SOLVED]) { id status subject } }"
        )
        await subscribed(live)

        native = ticket["id"].split(":", 1)[1]
        auth = (f"{credentials.ZENDESK_EMAIL}/token", credentials.ZENDESK_API_TOKEN)
        async with httpx.AsyncClient(base_url=f"{simulators.base_url}/zendesk", auth=auth) as zd:
            changed = time.monotonic()
            answer = await zd.put(
                f"/api/v2/tickets/{native}.json", json={"ticket": {"status": "solved"}}
            )
            answer.raise_for_status()
        pushed = await client.next()
        latency = time.monotonic() - changed
        solved = {**ticket, "status": "SOLVED"}
        assert pushed == {"data": {"ticketChanged": solved}}
        print(f"Zendesk change → subscriber: {latency * 1000:.0f} ms")  # measured in make bench

        after = await query_data(live, keys["admin"], TICKET, id=ticket["id"])
        assert after["ticket"]["status"] == "SOLVED"  # not the cached OPEN
        webhook = (await upstreams.client.get("/zendesk/__webhooks")).json()
        assert webhook["failed"] == 0

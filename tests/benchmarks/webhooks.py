"""Webhook intake: signed Zendesk events posted straight at a real gateway process (as Zendesk
would, several connections at once), with a websocket subscriber to ``ticketChanged``.

Printed: events accepted per second beside the same client's bare round-trip rate to the same
process (``GET /healthz``: the HTTP floor on this machine, measured side by side), and the time
from each event's POST to its push on the subscriber (p50, p99) — intake, durable store, worker,
cache invalidation, a fresh read of the ticket from the Zendesk simulator, the push.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from app.demo import demo_webhooks
from app.simulators import credentials
from app.simulators.webhooks import compact_json, zendesk_signature
from app.simulators.world import build_world
from tests.benchmarks.harness import gateway, simulators

EVENTS = 1000
CONNECTIONS = 8


def events(count: int) -> list[tuple[str, bytes]]:
    """``(gateway ticket id, body)`` of a status change for each of the first ``count`` tickets."""
    world = build_world(42)
    out = []
    for seed in world.tickets[:count]:
        native = str(seed.idx + 1)
        body = {
            "account_id": 9_242_270,
            "detail": {
                "id": native,
                "status": seed.status.upper(),
                "brand_id": str(seed.requester.brand.zendesk_brand_id),
            },
            "event": {"current": seed.status.upper(), "previous": "NEW"},
            "id": f"bench-{time.time_ns()}-{native}",
            "subject": f"zen:ticket:{native}",
            "time": "2026-11-29T00:00:00.000000Z",
            "type": "zen:event-type:ticket.status_changed",
            "zendesk_event_version": "2022-11-06",
        }
        out.append((f"zendesk:{native}", compact_json(body)))
    return out


async def post_all(
    base: str, bodies: list[tuple[str, bytes]], sent: dict[str, float]
) -> tuple[float, int]:
    """Seconds to have every event accepted, and how many were refused."""
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for item in bodies:
        queue.put_nowait(item)
    refused = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal refused
        url = f"{base}/webhooks/zendesk"
        while not queue.empty():
            ticket, body = queue.get_nowait()
            headers = zendesk_signature(
                [credentials.ZENDESK_WEBHOOK_SECRET], url, body, time.time()
            )
            sent[ticket] = time.monotonic()
            answer = await client.post(
                url, content=body, headers={**headers, "Content-Type": "application/json"}
            )
            if answer.status_code >= 300:
                refused += 1

    started = time.monotonic()
    limits = httpx.Limits(max_connections=CONNECTIONS)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONNECTIONS)))
    return time.monotonic() - started, refused


async def bare_rate(base: str, count: int) -> float:
    """Round trips per second of ``GET /healthz`` with the same client shape."""
    done = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        while done < count:
            done += 1
            (await client.get(f"{base}/healthz")).raise_for_status()

    started = time.monotonic()
    limits = httpx.Limits(max_connections=CONNECTIONS)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONNECTIONS)))
    return count / (time.monotonic() - started)


async def run() -> None:
    print(f"== webhook intake: {EVENTS:,} signed Zendesk events, {CONNECTIONS} connections ==")
    *bodies, warm_up = events(EVENTS + 1)
    with tempfile.TemporaryDirectory(prefix="crmgraph-webhooks-") as folder:
        work = Path(folder)
        overrides: dict[str, Any] = {
            "webhooks": {**demo_webhooks(), "store_path": str(work / "webhooks.sqlite3")},
            "writes": {"outbox_path": str(work / "outbox.sqlite3")},
        }
        async with simulators() as sims, gateway(sims, overrides) as base:
            arrived: dict[str, float] = {}
            sent: dict[str, float] = {}
            ws_url = base.replace("http://", "ws://") + "/graphql"
            async with connect(ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
                await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
                assert json.loads(await ws.recv())["type"] == "connection_ack"
                query = "subscription { ticketChanged { id } }"
                await ws.send(
                    json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}})
                )
                # One event first: when it is pushed, the subscription is live (and the
                # gateway's connections and tokens are warm).
                await post_all(base, [warm_up], {})
                while True:
                    message = json.loads(await ws.recv())
                    if message.get("type") == "next":
                        break

                async def listen() -> None:
                    while len(arrived) < EVENTS:
                        message = json.loads(await ws.recv())
                        if message.get("type") != "next":
                            continue
                        ticket = (message["payload"].get("data") or {}).get("ticketChanged")
                        if ticket:
                            arrived.setdefault(ticket["id"], time.monotonic())

                listener = asyncio.create_task(listen())
                wall, refused = await post_all(base, bodies, sent)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(listener, timeout=120)
            floor = await bare_rate(base, EVENTS)
        latencies = sorted((arrived[t] - sent[t]) * 1000 for t in arrived if t in sent)
        rate = EVENTS / wall
        print(f"  accepted                    {rate:8.0f} events/s   ({refused} refused)")
        print(f"  bare round trips (/healthz) {floor:8.0f} /s       (intake = {rate / floor:.2f}x)")
        if latencies:
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            print(
                f"  intake → subscriber         p50 {statistics.median(latencies):6.0f} ms   "
                f"p99 {p99:6.0f} ms   ({len(latencies)} of {EVENTS} pushed)\n"
            )
        else:
            print("  intake → subscriber         nothing was pushed\n")

"""A gateway whose Redis is down keeps answering, and its background loops and its per-caller
rate limits say so once each, not at every pass or query. Found by running ``crmgraph serve
--workers 2`` with a dead ``redis_url``: the webhook worker (five passes a second), the outbox
worker and the Salesforce poll each logged a traceback at every pass (1.1 MB of log in 20 s),
every query logged that it went without a budget check, and ``/metrics`` answered 500. The
dead Redis's URL carries a password, as a deployment's does: it is in no log line, answer or
error (nor in ``/readyz``)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from pathlib import Path

import httpx
import pytest

from app.auth.keys import KeyStore
from app.simulators.server import RunningSimulators
from tests.integration.gateway.conftest import Upstreams, serve_gateway
from tests.integration.webhooks.conftest import webhooks_config, zendesk_event, zendesk_headers
from tests.redis_server import free_port

LEAD_POSTS = "POST /services/data/{version}/sobjects/Lead"
LOOPS = ("app.webhooks.worker", "app.writes.worker", "app.webhooks.poller", "app.cache.flush")
REFUSED = 'crmgraph_webhook_events_total{outcome="unavailable",source="zendesk"} 5.0'


async def test_each_background_loop_tells_a_redis_outage_once(
    simulators: RunningSimulators,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    upstreams: Upstreams,
) -> None:
    password = "trial-redis-password"
    dead = f"redis://:{password}@127.0.0.1:{free_port()}/0"  # nothing listens there
    leads_before = (await upstreams.routes("salesforce")).get(LEAD_POSTS, 0)
    keys_file = tmp_path / "keys.json"
    admin = KeyStore(keys_file).create("admin", ["*"])[0]
    webhooks = webhooks_config(
        tmp_path / "webhooks.sqlite3", redis_url=dead, salesforce_poll_interval=0.05
    )
    writes = {"backend": "redis", "redis_url": dead, "worker_interval": 0.05}
    with (
        caplog.at_level(logging.INFO),
        serve_gateway(
            simulators.base_url,
            keys_file,
            redis_url=dead,
            writes=writes,
            webhooks=webhooks,
            cache={"redis_url": dead, "responses": {"enabled": False}},
            limits={"rate": {"cost_per_second": 1000, "burst": 10_000}},
        ) as url,
    ):
        async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": admin}) as client:
            query = {"query": "{ customers(first: 2) { edges { node { id } } } }"}
            create = {
                "query": 'mutation($key: String) { createLead(input: {lastName: "Down", '
                'company: "Acme", email: "down@example.com", brand: "luckyspin"}, '
                "idempotencyKey: $key) { status } }",
                "variables": {"key": "redis-down-1"},
            }
            for _ in range(20):  # served, each without a budget check
                answer = (await client.post("/graphql", json=query)).json()
                assert not answer.get("errors"), answer
            for n in range(5):  # refused, for Zendesk to deliver again
                body = json.dumps(zendesk_event(7, event_id=f"down-{n}")).encode()
                refused = await client.post(
                    "/webhooks/zendesk", content=body, headers=zendesk_headers(body)
                )
                assert refused.status_code == 503
                assert refused.json()["message"] == "the events could not be stored; retry"
                # Zendesk retries a 503 only with a Retry-After under 60 s.
                assert 0 < int(refused.headers["Retry-After"]) < 60
            for _ in range(2):  # the same write again, with the same key: refused again
                refusal = (await client.post("/graphql", json=create)).json()
                assert refusal["data"] is None
                [error] = refusal["errors"]
                assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
                assert "nothing was sent to the CRM; retry later" in error["message"]
                assert "6" not in error["message"]  # no address of the gateway's Redis
            ready = await client.get("/readyz")
            assert ready.json()["redis"] == "down"
            assert password not in ready.text
            scrapes = [await client.get("/metrics") for _ in range(3)]
            assert [scrape.status_code for scrape in scrapes] == [200, 200, 200]
            metrics = scrapes[-1].text
            await asyncio.sleep(1.5)  # ~30 passes of each loop at its 0.05 s interval
    assert password not in metrics
    assert not [r for r in caplog.records if password in f"{r.msg} {r.args} {r.exc_text}"]
    told = Counter(r.name for r in caplog.records if r.name in LOOPS)
    failures = [r for r in caplog.records if r.name in LOOPS and r.levelno >= logging.ERROR]
    assert told["app.webhooks.worker"] == 1, told
    assert told["app.writes.worker"] <= 2, told  # its claims, and its lease upkeep
    assert told["app.webhooks.poller"] == 1, told
    intake = [r for r in caplog.records if r.name == "app.webhooks.intake"]
    assert [r.getMessage()[:42] for r in intake] == ["webhook intake's store failed (ConnectionE"]
    assert REFUSED in metrics
    refused_writes = [r.getMessage() for r in caplog.records if r.name == "app.writes.service"]
    assert [m[:37] for m in refused_writes] == ["the outbox failed (OutboxError: the o"]
    sent = (await upstreams.routes("salesforce")).get(LEAD_POSTS, 0)
    assert sent == leads_before  # nothing was sent
    # The backlogs kept in Redis cannot be read: left out of the scrape, said once each.
    assert "\ncrmgraph_outbox_depth " not in metrics  # no sample (its HELP and TYPE stay)
    assert "\ncrmgraph_webhook_queue_depth " not in metrics
    depths = [r.getMessage() for r in caplog.records if r.name == "app.observability.metrics"]
    assert sorted(m.split(" failed")[0] for m in depths) == [
        "the dead_letters depth",
        "the outbox depth",
        "the webhook_queue depth",
    ]
    assert all(r.exc_info is None for r in failures)  # Redis away: no traceback to read
    assert all("ConnectionError" in r.getMessage() for r in failures)
    unchecked = [r for r in caplog.records if "without a budget check" in r.getMessage()]
    assert len(unchecked) == 1  # not one per query
    assert unchecked[0].getMessage().startswith("the per-caller rate limit failed (ConnectionError")

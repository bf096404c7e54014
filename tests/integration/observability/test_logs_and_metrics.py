"""Issue 9 end to end: real queries through the gateway's HTTP endpoint, then its JSON log
lines and its ``/metrics`` read back."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx

from app.demo import DEMO_ENV
from app.observability import metrics
from app.simulators.server import RunningSimulators
from tests.integration.gateway.conftest import serve_gateway
from tests.integration.observability.conftest import LogLines, Scrape, parse_metrics
from tests.upstreams import Upstreams

PLAYERS = """query ObsPlayers { customers(first: 3, filter: {brand: "luckyspin"}) {
  edges { node { id playerStats { level } } } } }"""
LEADS = """query ObsLeads { customers(first: 4, filter: {brand: "goldcoast"}) {
  edges { node { id email leads { id status } } } } }"""


@contextlib.contextmanager
def gateway(sims: RunningSimulators, keys_file: Path, **overrides: Any) -> Iterator[str]:
    with serve_gateway(sims.base_url, keys_file, **overrides) as url:
        yield url


@contextlib.asynccontextmanager
async def client(url: str, key: str | None) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"X-API-Key": key} if key else {}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
        yield http


async def scrape(http: httpx.AsyncClient) -> Scrape:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(parse_metrics(response.text))


async def post(
    http: httpx.AsyncClient, query: str, headers: dict[str, str] | None = None, **body: Any
) -> httpx.Response:
    response = await http.post("/graphql", json={"query": query, **body}, headers=headers)
    assert response.status_code == 200, response.text
    return response


def key_id(key: str) -> str:
    return f"key:{key.split('_')[1]}"  # cgk_<id>_<secret>: the principal's subject


async def test_every_upstream_call_is_one_log_event_with_the_request_context(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], logs: LogLines
) -> None:
    with gateway(simulators, keys_file) as url:
        async with client(url, keys["admin"]) as http:
            response = await post(http, LEADS, headers={"X-Request-Id": "obs-logs-1"})
    assert response.headers["x-request-id"] == "obs-logs-1"
    assert not response.json().get("errors")

    calls = logs.events("upstream.call", request_id="obs-logs-1")
    assert {c["source"] for c in calls} >= {"hubspot", "salesforce"}
    for call in calls:
        assert call["caller"] == key_id(keys["admin"])
        assert call["operation"] == "ObsLeads"
        assert call["level"] == "info"
        assert call["method"] in ("GET", "POST")
        # The template, never a URL with ids or emails.
        assert call["route"].startswith(f"{call['method']} /")
        assert call["status"] == 200
        assert call["latency_ms"] >= 0
        assert call["attempt"] == 1
        assert "budget_left" in call
    [operation] = logs.events("graphql.operation", request_id="obs-logs-1")
    assert operation["outcome"] == "ok"
    assert operation["upstream_calls"] == len(calls)


async def test_a_request_id_is_made_when_none_or_an_insane_one_is_given(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], logs: LogLines
) -> None:
    with gateway(simulators, keys_file) as url:
        async with client(url, keys["admin"]) as http:
            made = await post(http, "{ __typename }")
            replaced = await post(http, "{ __typename }", headers={"X-Request-Id": "x" * 200})
            health = await http.get("/healthz", headers={"X-Request-Id": "probe:1"})
    ids = [made.headers["x-request-id"], replaced.headers["x-request-id"]]
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert ids[0] != ids[1]
    assert health.headers["x-request-id"] == "probe:1"
    assert logs.events("graphql.operation", request_id=ids[1])


async def test_metrics_count_operations_upstream_calls_and_loader_batches(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], upstreams: Upstreams
) -> None:
    with gateway(simulators, keys_file) as url:
        async with client(url, keys["admin"]) as http:
            await post(http, LEADS)  # warm: connections, the Salesforce token (not counted)
            before = await scrape(http)
            upstream_before = await upstreams.counts()
            await post(http, LEADS)
            after = await scrape(http)
            upstream_after = await upstreams.counts()

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert delta("crmgraph_graphql_requests_total", operation="ObsLeads", outcome="ok") == 1
    assert delta("crmgraph_graphql_request_seconds_count") == 1
    for source in ("hubspot", "salesforce"):
        sent = upstream_after[source] - upstream_before[source]
        assert sent >= 1
        assert delta("crmgraph_upstream_requests_total", source=source) == sent
        assert delta("crmgraph_upstream_requests_total", source=source, status="200") == sent
        assert delta("crmgraph_upstream_request_seconds_count", source=source) == sent
        assert delta("crmgraph_upstream_retries_total", source=source) == 0
        assert after.value("crmgraph_breaker_state", source=source) == 0
    # Route templates, never URLs (the registry is the process's: only this query's routes).
    routes = {
        dict(labels)["route"]
        for (name, labels), value in after.samples.items()
        if name == "crmgraph_upstream_requests_total"
        and dict(labels)["source"] == "hubspot"
        and value > before.samples.get((name, labels), 0)
    }
    assert routes
    assert all(r.startswith(("POST /crm/", "GET /crm/")) for r in routes)
    # Four customers' leads in one batch, one batch in the query.
    assert delta("crmgraph_loader_batch_size_count", loader="leads_by_email") == 1
    assert delta("crmgraph_loader_batch_size_sum", loader="leads_by_email") == 4
    assert delta("crmgraph_loader_calls_per_query_count", loader="leads_by_email") == 1
    assert delta("crmgraph_loader_calls_per_query_sum", loader="leads_by_email") == 1
    assert after.has("crmgraph_rate_budget_remaining", source="hubspot")


async def test_a_failing_source_shows_in_logs_metrics_and_readyz(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    upstreams: Upstreams,
    logs: LogLines,
) -> None:
    await upstreams.configure("players", {"error_rate": 1.0, "error_status": 503})
    with gateway(simulators, keys_file) as url:
        async with client(url, keys["admin"]) as http:
            before = await scrape(http)
            body = (await post(http, PLAYERS, headers={"X-Request-Id": "obs-fail-1"})).json()
            after = await scrape(http)
            # Until the breaker opens: a bounded number of queries, each failing 3 attempts.
            for _ in range(10):
                if (await scrape(http)).value("crmgraph_breaker_state", source="players") == 2:
                    break
                await post(http, PLAYERS)
            opened = await scrape(http)
            ready = (await http.get("/readyz")).json()

    assert body["data"]["customers"]["edges"]
    assert {e["extensions"]["code"] for e in body["errors"]} == {"UPSTREAM_UNAVAILABLE"}

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    failed = delta("crmgraph_upstream_requests_total", source="players", status="503")
    assert failed >= 3  # retried
    assert delta("crmgraph_upstream_retries_total", source="players") == failed - 1
    assert delta("crmgraph_graphql_requests_total", operation="ObsPlayers", outcome="partial") == 1

    warnings = logs.events("upstream.call", request_id="obs-fail-1", source="players")
    assert len(warnings) == failed
    assert {(w["level"], w["status"]) for w in warnings} == {("warning", 503)}
    assert [w["attempt"] for w in warnings] == list(range(1, len(warnings) + 1))

    assert opened.value("crmgraph_breaker_state", source="players") == 2
    assert opened.value("crmgraph_breaker_state", source="hubspot") == 0
    assert ready["ready"] is True
    assert ready["status"] == "degraded"
    assert ready["config"] == "loaded"
    assert ready["sources"]["players"]["breaker"] == "open"
    assert ready["sources"]["players"]["status"] == "DOWN"
    assert ready["sources"]["hubspot"]["breaker"] == "closed"


async def test_a_hubspot_error_logs_its_correlation_id_and_429s_are_counted(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    upstreams: Upstreams,
    logs: LogLines,
) -> None:
    await upstreams.configure("hubspot", {"error_rate": 1.0, "error_status": 500})
    await upstreams.configure("players", {"error_rate": 1.0, "error_status": 429})
    with gateway(simulators, keys_file) as url:
        async with client(url, keys["admin"]) as http:
            before = await scrape(http)
            await post(http, PLAYERS, headers={"X-Request-Id": "obs-corr-1"})
            await upstreams.configure("hubspot", {})
            await post(http, PLAYERS, headers={"X-Request-Id": "obs-corr-2"})
            after = await scrape(http)
    hubspot = logs.events("upstream.call", request_id="obs-corr-1", source="hubspot")
    assert hubspot
    assert all(h["status"] == 500 for h in hubspot)
    ids = [h["correlation_id"] for h in hubspot]
    assert all(ids)
    assert len(set(ids)) == len(ids)
    throttled = logs.events("upstream.call", request_id="obs-corr-2", source="players")
    assert throttled
    assert all(t["status"] == 429 for t in throttled)
    assert after.value("crmgraph_upstream_throttled_total", source="players") - before.value(
        "crmgraph_upstream_throttled_total", source="players"
    ) == len(throttled)


async def test_secrets_and_personal_data_never_reach_the_logs(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], logs: LogLines
) -> None:
    forged = "cgk_0000deadbeef_thisisnotarealsecretvalue"
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGFAZXhhbXBsZS5jb20ifQ.c2lnbmF0dXJl"
    with gateway(simulators, keys_file, observability={"log_level": "DEBUG"}) as url:
        async with client(url, keys["admin"]) as http:
            found = await post(http, LEADS)
            email = found.json()["data"]["customers"]["edges"][0]["node"]["email"]
            query = """query ObsByEmail($e: String!) { customers(first: 1, filter: {email: $e}) {
              edges { node { id email phone firstName lastName } } } }"""
            await post(http, query, variables={"e": email}, headers={"X-Request-Id": "obs-red"})
        async with client(url, forged) as http:
            refused = await http.post("/graphql", json={"query": "{ __typename }"})
        async with client(url, None) as http:
            bearer = await http.post(
                "/graphql",
                json={"query": "{ __typename }"},
                headers={"Authorization": f"Bearer {jwt}", "X-Request-Id": "obs-jwt"},
            )
    logging.getLogger("crmgraph.test").warning(
        "contact %s rejected", email, extra={"event": "test.redaction", "api_key": forged}
    )
    assert refused.status_code == 401
    assert bearer.status_code == 401
    assert logs.events("upstream.call", request_id="obs-red")  # the query was logged
    [audit] = logs.events("request.refused", request_id="obs-jwt")
    assert audit["logger"] == "crmgraph.audit"
    assert audit["code"] == "UNAUTHENTICATED"
    [test_event] = logs.events("test.redaction")
    assert test_event["api_key"] == "[redacted]"
    assert "[email]" in test_event["message"]
    for secret in (email, forged, "thisisnotarealsecretvalue", jwt, keys["admin"]):
        assert secret not in logs.text
    for name, value in DEMO_ENV.items():
        assert value not in logs.text, name


async def test_depths_and_webhook_events_are_scraped(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str]
) -> None:
    async def dead_letters() -> int:
        return 3

    with gateway(simulators, keys_file) as url:
        async with client(url, keys["admin"]) as http:
            before = await scrape(http)
            unregister = [
                metrics.register_depth("outbox", lambda: 7),
                metrics.register_depth("dead_letters", dead_letters),
            ]
            metrics.webhook_event("zendesk", "bad_signature")
            during = await scrape(http)
            for undo in unregister:
                undo()
            after = await scrape(http)
    assert during.value("crmgraph_outbox_depth") - before.value("crmgraph_outbox_depth") == 7
    assert during.value("crmgraph_dead_letters") - before.value("crmgraph_dead_letters") == 3
    assert after.value("crmgraph_outbox_depth") == before.value("crmgraph_outbox_depth")
    assert (
        during.value("crmgraph_webhook_events_total", source="zendesk", outcome="bad_signature")
        - before.value("crmgraph_webhook_events_total", source="zendesk", outcome="bad_signature")
        == 1
    )


async def test_healthz_and_readyz_answer_json(
    simulators: RunningSimulators, keys_file: Path
) -> None:
    with gateway(simulators, keys_file, observability={"metrics": False}) as url:
        async with client(url, None) as http:
            health = await http.get("/healthz")
            ready = await http.get("/readyz")
            off = await http.get("/metrics")
    assert health.json() == {"status": "ok"}
    body = ready.json()
    assert ready.status_code == 200
    assert body["ready"] is True
    assert body["status"] == "ok"
    assert body["config"] == "loaded"
    assert set(body["sources"]) == {"hubspot", "salesforce", "zendesk", "players"}
    for source in body["sources"].values():
        assert source["breaker"] == "closed"
        assert "rateBudgetRemaining" in source
    assert off.status_code == 404


async def test_a_write_queued_while_salesforce_is_down_shows_in_the_outbox_depth(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], upstreams: Upstreams
) -> None:
    create = """mutation { createLead(input: {lastName: "Queued", email: "queued@example.com",
      company: "Outbox", brand: "luckyspin"}) { status } }"""
    lead_posts = "POST /services/data/{version}/sobjects/Lead"
    with gateway(simulators, keys_file) as url:
        async with client(url, keys["admin"]) as http:
            await post(http, "{ leads(first: 1) { totalCount } }")  # the token, before the fault
            before = await scrape(http)
            await upstreams.configure(
                "salesforce", {"routes": {lead_posts: {"error_rate": 1, "error_status": 503}}}
            )
            answer = (await post(http, create)).json()
            assert answer["data"]["createLead"]["status"] == "QUEUED"
            during = await scrape(http)
            await upstreams.configure("salesforce", {})
    # The lead may have been created on the way out: the other tests compare with the seed.
    (await upstreams.client.post("/salesforce/__reset", params={"data": "true"})).raise_for_status()
    depth = "crmgraph_outbox_depth"
    assert during.value(depth) - before.value(depth) == 1

"""``extensions.explain`` and the OpenTelemetry spans, through the gateway's HTTP endpoint."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.trace import SpanKind

from app.config import Tracing, parse_config
from app.demo import demo_settings
from app.main import create_app
from app.observability import tracing
from app.simulators.server import RunningSimulators, serve_asgi
from tests.integration.gateway.conftest import gateway_config, serve_gateway

QUERY = """query ObsExplain { customers(first: 3, filter: {brand: "luckyspin"}) {
  edges { node { id leads { id } playerStats { level } } } } }"""
EXPLAIN = {"explain": True}


async def ask(url: str, key: str, query: str = QUERY, **extensions: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}, timeout=30) as http:
        body = {"query": query, **({"extensions": extensions} if extensions else {})}
        response = await http.post("/graphql", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert not answer.get("errors"), answer["errors"]
    return answer


async def test_explain_lists_the_upstream_calls_for_the_roles_allowed(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str]
) -> None:
    with serve_gateway(simulators.base_url, keys_file) as url:
        plain = await ask(url, keys["admin"])
        admin = await ask(url, keys["admin"], **EXPLAIN)
        analyst = await ask(url, keys["analyst"], **EXPLAIN)
        support = await ask(
            url, keys["support"], "{ customers(first: 1) { totalCount } }", **EXPLAIN
        )

    assert "explain" not in (plain.get("extensions") or {})
    explain = admin["extensions"]["explain"]
    assert explain["upstreamCalls"] == len(explain["calls"]) >= 3
    by_source = {c["source"]: c for c in explain["calls"]}
    assert set(by_source) >= {"hubspot", "salesforce", "players"}
    assert by_source["hubspot"]["route"] == "POST /crm/v3/objects/contacts/search"
    for call in explain["calls"]:
        assert call["status"] == 200
        assert call["attempt"] == 1
        assert call["ms"] >= 0
        assert call["method"] in ("GET", "POST")
    loaders = {entry["loader"]: entry for entry in explain["loaders"]}
    # The customers' player stats: one batch, one call for all of them.
    assert loaders["player"]["batches"] == 1
    assert by_source["players"]["batchSize"] == loaders["player"]["keys"] >= 1
    assert loaders["leads_by_email"] == {"loader": "leads_by_email", "batches": 1, "keys": 3}
    assert explain["totalMs"] >= max(c["ms"] for c in explain["calls"])
    assert explain["cache"] == []  # this gateway has no cache
    # The estimate the query limits checked (upstream requests after batching) bounds the calls
    # actually made (one player batch per brand is counted for every brand that may be on it).
    assert isinstance(explain["cost"], int)
    assert explain["cost"] >= explain["upstreamCalls"]
    assert analyst["extensions"]["explain"]["upstreamCalls"] >= 3
    assert support["extensions"]["explain"]["code"] == "FORBIDDEN"
    assert "calls" not in support["extensions"]["explain"]


async def test_explain_and_metrics_show_cache_hits(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str]
) -> None:
    cache = {"enabled": True, "hot_ttl": 600, "cold_ttl": 600}
    with serve_gateway(simulators.base_url, keys_file, cache=cache) as url:
        first = (await ask(url, keys["admin"], **EXPLAIN))["extensions"]["explain"]
        second = (await ask(url, keys["admin"], **EXPLAIN))["extensions"]["explain"]
        async with httpx.AsyncClient(base_url=url) as http:
            text = (await http.get("/metrics")).text

    assert first["upstreamCalls"] >= 3
    assert second["upstreamCalls"] == 0
    assert sum(c["hits"] for c in second["cache"]) > 0
    assert sum(c["misses"] for c in second["cache"]) == 0
    assert sum(c["misses"] for c in first["cache"]) > 0
    assert 'crmgraph_cache_hits_total{group="player.hot"}' in text


class Recording(httpx.AsyncBaseTransport):
    """The network, recording the headers of every request the CRMs receive."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: list[httpx.Headers] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request.headers)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@contextlib.contextmanager
def traced_gateway(sims: RunningSimulators, keys_file: Path, network: Recording) -> Iterator[str]:
    demo_settings(sims.base_url)
    observability = {"tracing": {"enabled": True, "exporter": "memory"}}
    settings = parse_config(gateway_config(sims.base_url, keys_file, observability=observability))
    try:
        with serve_asgi(create_app(settings, network)) as url:
            yield url
    finally:
        tracing.configure_tracing(Tracing())  # off again for the tests after this one


async def test_spans_per_operation_loader_batch_and_upstream_call_with_trace_context(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str]
) -> None:
    network = Recording()
    with traced_gateway(simulators, keys_file, network) as url:
        await ask(url, keys["admin"])  # warm: the Salesforce token
        spans_before = len(tracing.finished_spans())
        sent_before = len(network.sent)
        await ask(url, keys["admin"])
        spans = tracing.finished_spans()[spans_before:]
        sent = network.sent[sent_before:]

    [operation] = [s for s in spans if s.name == "graphql ObsExplain"]
    loaders = [s for s in spans if s.name.startswith("loader ")]
    calls = [s for s in spans if s.kind == SpanKind.CLIENT]
    # Nothing else: no span per resolver.
    assert len(spans) == 1 + len(loaders) + len(calls)
    assert {s.attributes["crmgraph.loader"] for s in loaders} == {"leads_by_email", "player"}
    assert {s.attributes["crmgraph.source"] for s in calls} == {"hubspot", "salesforce", "players"}
    trace_id = operation.context.trace_id
    assert all(s.context.trace_id == trace_id for s in spans)
    by_id = {s.context.span_id: s for s in spans}
    for span in [*loaders, *calls]:
        parent = span.parent
        assert parent is not None
        assert parent.span_id in by_id
    player_call = next(s for s in calls if s.attributes["crmgraph.source"] == "players")
    assert by_id[player_call.parent.span_id].name == "loader player"  # type: ignore[union-attr]
    assert player_call.attributes["http.response.status_code"] == 200
    # Each upstream request carried its own span as W3C trace context.
    parents = sorted(h["traceparent"] for h in sent)
    expected = sorted(
        f"00-{trace_id:032x}-{s.context.span_id:016x}-{int(s.context.trace_flags):02x}"
        for s in calls
    )
    assert parents == expected

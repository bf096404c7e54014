"""Prometheus metrics, served at ``/metrics``.

Events are counted as they happen into one process-wide registry (:data:`REGISTRY`): GraphQL
requests, upstream calls, loader batches, webhook events. State is read when ``/metrics`` is
scraped, from whatever is live then: each tracked gateway's breakers, rate budgets and cache
statistics (:func:`track`), and the depths registered with :func:`register_depth`.

For other modules:

- ``webhook_event(source, outcome)``: one webhook delivery and what became of it
  (``accepted``, ``duplicate``, ``bad_signature``, ``stale``, ``malformed``, ``too_large``,
  ``forbidden_ip``, ``unavailable``).
- ``register_depth(name, read)``: ``name`` is ``"webhook_queue"``, ``"dead_letters"`` or
  ``"outbox"`` (exported as ``crmgraph_webhook_queue_depth``, ``crmgraph_dead_letters``,
  ``crmgraph_outbox_depth``); ``read`` is a callable returning a number, or an awaitable of
  one, called at each scrape. Several callables under one name are summed (several gateways
  in one process). It returns a function that unregisters ``read``: call it on shutdown. A
  depth that cannot be read (its store is down) is left out of that scrape, not the scrape.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from app.connectors.http import UpstreamCall
from app.resilience.outage import Outage

__all__ = [
    "CONTENT_TYPE_LATEST",
    "DEPTHS",
    "REGISTRY",
    "WEBHOOK_OUTCOMES",
    "graphql_request",
    "loader_batch",
    "loader_calls",
    "register_depth",
    "render",
    "track",
    "upstream_call",
    "webhook_event",
]

REGISTRY = CollectorRegistry(auto_describe=True)

#: Whether events are counted at all (``observability.metrics``); off for the overhead bench.
enabled = True

WEBHOOK_OUTCOMES = frozenset(
    {
        "accepted",
        "duplicate",
        "bad_signature",
        "stale",
        "malformed",
        "too_large",
        "forbidden_ip",
        "unavailable",  # the store could not take them: answered 503, delivered again
    }
)
#: The depths a scrape reads, by the name :func:`register_depth` takes, with the metric name.
DEPTHS = {
    "webhook_queue": ("crmgraph_webhook_queue_depth", "Webhook events accepted, not yet applied."),
    "dead_letters": ("crmgraph_dead_letters", "Webhook events given up on, kept for replay."),
    "outbox": ("crmgraph_outbox_depth", "Writes queued in the outbox, not yet applied."),
}
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}
#: Operation names are chosen by callers: past this many distinct ones, they count as "other".
MAX_OPERATIONS = 200

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

GRAPHQL_REQUESTS = Counter(
    "crmgraph_graphql_requests",
    "GraphQL operations by name and outcome (ok, partial, error, refused, subscription).",
    ["operation", "outcome"],
    registry=REGISTRY,
)
GRAPHQL_SECONDS = Histogram(
    "crmgraph_graphql_request_seconds",
    "Time to answer a GraphQL operation.",
    buckets=_LATENCY,
    registry=REGISTRY,
)
UPSTREAM_REQUESTS = Counter(
    "crmgraph_upstream_requests",
    "Upstream call attempts by source, route template and HTTP status (or the failure).",
    ["source", "route", "status"],
    registry=REGISTRY,
)
UPSTREAM_SECONDS = Histogram(
    "crmgraph_upstream_request_seconds",
    "Time of one upstream call attempt.",
    ["source"],
    buckets=_LATENCY,
    registry=REGISTRY,
)
UPSTREAM_RETRIES = Counter(
    "crmgraph_upstream_retries",
    "Upstream call attempts after the first (retries).",
    ["source"],
    registry=REGISTRY,
)
UPSTREAM_THROTTLED = Counter(
    "crmgraph_upstream_throttled",
    "Upstream answers 429 Too Many Requests.",
    ["source"],
    registry=REGISTRY,
)
LOADER_BATCH_SIZE = Histogram(
    "crmgraph_loader_batch_size",
    "Keys in one loader batch.",
    ["loader"],
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
    registry=REGISTRY,
)
LOADER_CALLS = Histogram(
    "crmgraph_loader_calls_per_query",
    "Batches a loader ran for one GraphQL operation (1 is ideal).",
    ["loader"],
    buckets=(1, 2, 3, 5, 10, 25, 50),
    registry=REGISTRY,
)
WEBHOOK_EVENTS = Counter(
    "crmgraph_webhook_events",
    "Webhook deliveries by source and outcome.",
    ["source", "outcome"],
    registry=REGISTRY,
)

_operations: set[str] = set()
_lock = threading.Lock()


def _operation_label(name: str | None) -> str:
    name = (name or "anonymous")[:64]
    with _lock:
        if name in _operations:
            return name
        if len(_operations) >= MAX_OPERATIONS:
            return "other"
        _operations.add(name)
        return name


def graphql_request(operation: str | None, outcome: str, seconds: float | None) -> None:
    """One GraphQL operation answered: ``outcome`` is ok, partial, error or refused — or
    ``subscription`` for one that started, whose lifetime (``seconds`` None) is no latency."""
    if not enabled:
        return
    GRAPHQL_REQUESTS.labels(_operation_label(operation), outcome).inc()
    if seconds is not None:
        GRAPHQL_SECONDS.observe(seconds)


def upstream_call(call: UpstreamCall) -> None:
    """An :class:`UpstreamClient` observer: one attempt, counted."""
    if not enabled:
        return
    status = str(call.status) if call.status is not None else (call.error or "error")
    UPSTREAM_REQUESTS.labels(call.source, call.route, status).inc()
    UPSTREAM_SECONDS.labels(call.source).observe(call.elapsed_ms / 1000)
    if call.attempt > 1:
        UPSTREAM_RETRIES.labels(call.source).inc()
    if call.status == 429:
        UPSTREAM_THROTTLED.labels(call.source).inc()


def loader_batch(loader: str, size: int) -> None:
    if enabled:
        LOADER_BATCH_SIZE.labels(loader).observe(size)


def loader_calls(calls: Iterable[tuple[str, int]]) -> None:
    """How many batches each loader ran for one operation (loaders that ran at all)."""
    if enabled:
        for loader, count in calls:
            LOADER_CALLS.labels(loader).observe(count)


def webhook_event(source: str, outcome: str) -> None:
    """One webhook delivery from ``source`` and its outcome (one of :data:`WEBHOOK_OUTCOMES`)."""
    if outcome not in WEBHOOK_OUTCOMES:
        raise ValueError(f"unknown webhook outcome {outcome!r}; one of {sorted(WEBHOOK_OUTCOMES)}")
    if enabled:
        WEBHOOK_EVENTS.labels(source, outcome).inc()


# -- read at scrape time ---------------------------------------------------------------------

Depth = Callable[[], float | int | Awaitable[float | int]]
#: Each depth's readers, each with what its failures have told the log.
_depths: dict[str, dict[Depth, Outage]] = {name: {} for name in DEPTHS}
_depth_values: dict[str, float] = {}


def register_depth(name: str, read: Depth) -> Callable[[], None]:
    """Read ``read()`` at each scrape into the depth ``name`` (see the module's docstring).
    Returns the function that unregisters it."""
    if name not in DEPTHS:
        raise ValueError(f"unknown depth {name!r}; one of {sorted(DEPTHS)}")
    _depths[name][read] = Outage(
        f"the {name} depth",
        logging.getLogger(__name__),
        level=logging.WARNING,
        consequence="scrapes go without it",
        units=("scrape", "scrapes"),
    )

    def unregister() -> None:
        _depths[name].pop(read, None)

    return unregister


async def _read_depths() -> None:
    values: dict[str, float] = {}
    for name, reads in _depths.items():
        if not reads:
            continue
        total: float | None = 0.0
        for read, outage in list(reads.items()):
            try:
                value = read()
                if inspect.isawaitable(value):
                    value = await value
            except Exception as exc:
                # Its store is down: this scrape goes without the depth (the rest is served).
                outage.failed(exc, 0.0)
                total = None
                continue
            outage.worked()
            if total is not None:
                total += float(value)
        if total is not None:
            values[name] = total
    _depth_values.clear()
    _depth_values.update(values)


class Observed(Protocol):
    """What a scrape reads of a gateway (``app.gateway.Gateway``)."""

    @property
    def clients(self) -> Any: ...

    @property
    def cache(self) -> Any: ...


_gateways: dict[int, Observed] = {}


def track(gateway: Observed) -> Callable[[], None]:
    """Read this gateway's breakers, budgets and cache at each scrape, until the returned
    function is called (on shutdown)."""
    _gateways[id(gateway)] = gateway

    def untrack() -> None:
        _gateways.pop(id(gateway), None)

    return untrack


class _Live(Collector):
    """Breakers, budgets and cache figures of the tracked gateways, and the depths. With
    several gateways in one process, a source's breaker is the worst of them, its budget the
    least, and cache counts are summed."""

    def collect(self) -> Iterator[Metric]:
        breaker = GaugeMetricFamily(
            "crmgraph_breaker_state",
            "Circuit breaker per source: 0 closed, 1 half-open, 2 open (failing fast).",
            labels=["source"],
        )
        budget = GaugeMetricFamily(
            "crmgraph_rate_budget_remaining",
            "Requests left in the source's rate window, as its headers and our pace say.",
            labels=["source"],
        )
        states: dict[str, int] = {}
        budgets: dict[str, float] = {}
        hits: dict[str, float] = {}
        misses: dict[str, float] = {}
        stale: dict[str, float] = {}
        for gateway in list(_gateways.values()):
            for name, client in gateway.clients.items():
                state = BREAKER_STATES.get(client.breaker.state, 0) if client.breaker else 0
                states[name] = max(states.get(name, 0), state)
                left = client.budget.state().remaining if client.budget is not None else None
                if left is not None:
                    budgets[name] = min(budgets.get(name, left), left)
            cache = gateway.cache
            if cache is not None:
                for into, counts in (
                    (hits, cache.stats.hits),
                    (misses, cache.stats.misses),
                    (stale, cache.stats.stale),
                ):
                    for (entity, group), n in counts.items():
                        key = f"{entity}.{group}"
                        into[key] = into.get(key, 0) + n
        for name, state in sorted(states.items()):
            breaker.add_metric([name], state)
        for name, left in sorted(budgets.items()):
            budget.add_metric([name], left)
        yield breaker
        yield budget
        for metric, doc, values in (
            ("crmgraph_cache_hits", "Cache entries found fresh, per entity.group.", hits),
            ("crmgraph_cache_misses", "Cache entries missing or expired.", misses),
            ("crmgraph_cache_stale", "Entries served past TTL as the source failed.", stale),
        ):
            family = CounterMetricFamily(metric, doc, labels=["group"])
            for group, n in sorted(values.items()):
                family.add_metric([group], n)
            yield family
        for name, (metric, doc) in DEPTHS.items():
            gauge = GaugeMetricFamily(metric, doc)
            if name in _depth_values:
                gauge.add_metric([], _depth_values[name])
            yield gauge


REGISTRY.register(_Live())


async def render() -> bytes:
    """The metrics in Prometheus' text format, depths read now."""
    await _read_depths()
    return generate_latest(REGISTRY)

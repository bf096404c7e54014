"""The state of each upstream, for operators and dashboards."""

from __future__ import annotations

import enum
import time

import strawberry

from app.gateway import Gateway


@strawberry.enum
class SourceState(enum.Enum):
    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"
    DOWN = "DOWN"


@strawberry.type
class PausedRoute:
    """A route the CRM limits apart from the account, paused by a refusal of its own."""

    route: str = strawberry.field(description='As "METHOD /path" (GET /api/v2/search/export).')
    seconds: float = strawberry.field(description="How much longer it is paused.")


@strawberry.type
class SourceStatus:
    name: str
    kind: str
    status: SourceState
    calls: int
    error_rate: float = strawberry.field(description="Share of the last 50 calls that failed.")
    last_error: str | None
    last_latency_ms: float | None
    breaker_state: str = strawberry.field(description="closed, open (failing fast) or half_open")
    rate_budget_remaining: float | None = strawberry.field(
        description="Requests left in the CRM's current window, as its headers last said."
    )
    rate_budget_limit: float | None
    paused_for_seconds: float | None = strawberry.field(
        description="How much longer the source is paused after a 429, if it is."
    )
    paused_routes: list[PausedRoute] = strawberry.field(
        description="Routes with a limit of their own paused by their own 429, the rest going on."
    )


def source_statuses(gateway: Gateway) -> list[SourceStatus]:
    return [status_of(gateway, name) for name in gateway.health]


def status_of(gateway: Gateway, name: str) -> SourceStatus:
    health = gateway.health[name]
    client = gateway.clients[name]
    breaker = client.breaker.state if client.breaker is not None else "closed"
    budget = client.budget.state() if client.budget is not None else None  # type: ignore[attr-defined]
    now = time.monotonic()
    paused = None
    if budget is not None and budget.paused_until is not None:
        paused = max(round(budget.paused_until - now, 3), 0.0) or None
    routes = {} if budget is None else budget.routes_paused_until
    paused_routes = [
        PausedRoute(route=route, seconds=round(until - now, 3))
        for route, until in sorted(routes.items())
        if until > now
    ]
    state = health.status
    if breaker == "open":
        state = "DOWN"
    elif breaker == "half_open" and state == "HEALTHY":
        state = "DEGRADED"
    return SourceStatus(
        name=health.name,
        kind=health.kind,
        status=SourceState(state),
        calls=health.calls,
        error_rate=round(health.error_rate, 4),
        last_error=health.last_error,
        last_latency_ms=None
        if health.last_latency_ms is None
        else round(health.last_latency_ms, 1),
        breaker_state=breaker,
        rate_budget_remaining=None if budget is None else budget.remaining,
        rate_budget_limit=None if budget is None else budget.limit,
        paused_for_seconds=paused,
        paused_routes=paused_routes,
    )

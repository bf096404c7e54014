"""The state of each upstream, for operators and dashboards."""

from __future__ import annotations

import enum

import strawberry

from app.gateway import Gateway


@strawberry.enum
class SourceState(enum.Enum):
    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"
    DOWN = "DOWN"


@strawberry.type
class SourceStatus:
    name: str
    kind: str
    status: SourceState
    calls: int
    error_rate: float = strawberry.field(description="Share of the last 50 calls that failed.")
    last_error: str | None
    last_latency_ms: float | None


def source_statuses(gateway: Gateway) -> list[SourceStatus]:
    return [
        SourceStatus(
            name=h.name,
            kind=h.kind,
            status=SourceState(h.status),
            calls=h.calls,
            error_rate=round(h.error_rate, 4),
            last_error=h.last_error,
            last_latency_ms=None if h.last_latency_ms is None else round(h.last_latency_ms, 1),
        )
        for h in gateway.health.values()
    ]

"""Turning ``observability:`` settings into logging, tracing, metrics and the observers each
upstream client reports its calls to."""

from __future__ import annotations

from contextvars import ContextVar

from app.config import Observability
from app.connectors.http import Observer, UpstreamCall
from app.observability import explain, metrics, tracing
from app.observability.logging import configure_logging, get_logger

_upstream_log = get_logger("crmgraph.upstream")
#: Whether the calls made here are a background routine's (see :func:`routine_calls`).
_routine: ContextVar[bool] = ContextVar("crmgraph_routine_calls", default=False)


def configure(settings: Observability) -> None:
    """Process-wide: the log format and levels, the tracer, whether metrics count."""
    configure_logging(settings)
    tracing.configure_tracing(settings.tracing)
    metrics.enabled = settings.metrics


def routine_calls() -> None:
    """The upstream calls made from here on in this task (a poll every few seconds) are
    routine: those that go well are logged at debug, so they do not drown the log."""
    _routine.set(True)


def log_upstream_call(call: UpstreamCall) -> None:
    """One log event per upstream attempt: a warning when it failed or was throttled, debug
    for a routine call that went well (:func:`routine_calls`)."""
    failed = call.error is not None or (call.status is not None and call.status >= 500)
    quiet = "debug" if _routine.get() else "info"
    level = "warning" if failed or call.status == 429 else quiet
    getattr(_upstream_log, level)(
        "upstream.call",
        source=call.source,
        method=call.method,
        route=call.route,
        status=call.status,
        error=call.error,
        latency_ms=round(call.elapsed_ms, 1),
        attempt=call.attempt,
        batch_size=call.items,
        budget_left=call.budget_left,
        correlation_id=call.request_id,
    )


def upstream_observers(settings: Observability) -> list[Observer]:
    """What every upstream client reports each attempt to, besides the source's health."""
    observers: list[Observer] = [explain.upstream_call, tracing.upstream_call]
    if settings.metrics:
        observers.append(metrics.upstream_call)
    if settings.log_upstream_calls:
        observers.append(log_upstream_call)
    return observers

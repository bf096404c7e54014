"""OpenTelemetry spans, optional by config (``observability.tracing``): one span per GraphQL
operation, per loader batch and per upstream call attempt (never per resolver: that costs
too much in Strawberry). Each upstream request carries the W3C ``traceparent`` of its span,
so a CRM that traces can join the trace.

The provider is this module's, not OpenTelemetry's global one (which can be set only once a
process, while tests build many apps): :func:`configure_tracing` installs it, and with
tracing off every span is OpenTelemetry's no-op span. Exporters: ``console`` (JSON on
stdout) and ``memory`` (kept in-process, :func:`finished_spans`); the OTLP exporter package
is not installed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from app.config import Tracing  # app.connectors.http opens these spans
    from app.connectors.http import UpstreamCall

_PROPAGATOR = TraceContextTextMapPropagator()
_NOOP = trace.NoOpTracer()
_tracer: trace.Tracer = _NOOP
_provider: TracerProvider | None = None
_memory: InMemorySpanExporter | None = None


def configure_tracing(settings: Tracing) -> None:
    """Install the configured provider (or none: tracing off), shutting down the previous."""
    global _tracer, _provider, _memory
    if _provider is not None:
        _provider.shutdown()
    _tracer, _provider, _memory = _NOOP, None, None
    if not settings.enabled:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    if settings.exporter == "memory":
        _memory = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(_memory))
    else:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    _provider = provider
    _tracer = provider.get_tracer("crmgraph")


def enabled() -> bool:
    return _provider is not None


def finished_spans() -> tuple[ReadableSpan, ...]:
    """The spans kept by the ``memory`` exporter, oldest first."""
    return _memory.get_finished_spans() if _memory is not None else ()


@contextlib.contextmanager
def span(
    name: str,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[trace.Span]:
    """A span, current for what runs inside; exceptions are recorded on it."""
    if _tracer is _NOOP:
        yield trace.INVALID_SPAN
        return
    clean = {k: v for k, v in (attributes or {}).items() if v is not None}
    with _tracer.start_as_current_span(name, kind=kind, attributes=clean) as current:
        yield current


@contextlib.contextmanager
def upstream_span(source: str, method: str, route: str, attempt: int) -> Iterator[dict[str, str]]:
    """The span of one upstream attempt; yields the headers that carry it to the CRM."""
    if _tracer is _NOOP:
        yield {}
        return
    attributes = {
        "crmgraph.source": source,
        "http.request.method": method,
        "url.template": route,
        "http.request.resend_count": attempt - 1,
    }
    with span(f"{method} {route}", trace.SpanKind.CLIENT, attributes):
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        yield carrier


def upstream_call(call: UpstreamCall) -> None:
    """An :class:`UpstreamClient` observer: the attempt's outcome, on its span."""
    if _tracer is _NOOP:
        return
    current = trace.get_current_span()
    if call.status is not None:
        current.set_attribute("http.response.status_code", call.status)
    if call.items is not None:
        current.set_attribute("crmgraph.batch_size", call.items)
    if call.request_id is not None:
        current.set_attribute("crmgraph.correlation_id", call.request_id)
    if call.error is not None or (call.status is not None and call.status >= 500):
        current.set_status(trace.StatusCode.ERROR, call.error or f"HTTP {call.status}")

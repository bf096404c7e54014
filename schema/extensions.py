"""Schema extensions: the request's projection, and the shape of every error a caller sees."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
)
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from app.auth.access import Access
from app.auth.limits import QueryTooComplex, check, check_tokens
from app.auth.ratelimit import RateLimiterUnavailable
from app.connectors.errors import UpstreamError
from app.observability import explain, metrics, tracing
from app.observability.logging import bind, get_logger, unbind
from app.resilience import deadline
from schema.context import Context
from schema.errors import GatewayError, UpstreamFieldError
from schema.projection import select

log = logging.getLogger("crmgraph.errors")
operations = get_logger("crmgraph.graphql")

INTROSPECTION = {"__schema", "__type", "__typename"}
ENTITY_TYPES = {"Customer", "Lead", "Ticket", "PlayerStats"}
INTROSPECTION_DEPTH = 20
#: graphql-core's parser when told to stop past ``max_tokens`` (RequestPlan.on_parse).
TOKEN_FLOOD = re.compile(
    r"Syntax Error: Document contains more than (\d+) tokens\. Parsing aborted\."
)


class RequestPlan(SchemaExtension):
    """Once per operation, before any resolver: what it selects of each type (pushed down to
    the CRMs), which of those fields the caller's roles may not read, whether it is within the
    query limits, and whether the caller's rate budget covers its cost. A refused operation
    never reaches a resolver, so it costs no upstream call."""

    async def on_execute(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        context = ctx.context
        document = ctx.graphql_document
        if isinstance(context, Context) and document is not None:
            # Every upstream call this operation makes inherits its deadline.
            deadline.start(context.gateway.settings.server.request_deadline)
            schema = ctx.schema._schema
            context.selection = select(schema, document, ctx.operation_name)
            cache = context.gateway.cache
            if cache is not None:
                for type_name, fields in context.selection.by_type.items():
                    if type_name in ENTITY_TYPES:
                        cache.stats.field_reads.update((type_name, f) for f in fields)
            access = context.access
            if access is not None:
                refusal = await self._refusal(context, access, schema, document)
                if refusal is not None:
                    ctx.result = ExecutionResult(data=None, errors=[refusal])
        yield

    def on_parse(self) -> Iterator[None]:
        # The guard counts an HTTP body's tokens before GraphQL sees it; a websocket's
        # operations reach GraphQL directly, so every operation is counted here too, before
        # it is parsed. Over the limit, the parser is told to stop there (cheaply, lazily) and
        # its abort is answered as QUERY_TOO_COMPLEX (see ErrorShaping).
        ctx = self.execution_context
        context = ctx.context
        if isinstance(context, Context) and context.access is not None and ctx.query:
            limits = context.access.limits
            try:
                check_tokens(ctx.query, limits)
            except QueryTooComplex:
                ctx.parse_options["max_tokens"] = limits.max_tokens
            except GraphQLSyntaxError:
                pass  # the parser reports it, with its location
        yield

    def get_results(self) -> dict[str, Any]:
        """Answers served from the cache past their freshness, because their source failed:
        said in ``extensions.stale``, with their age, never silently."""
        context = self.execution_context.context
        if not isinstance(context, Context) or not context.loaders.served.stale:
            return {}
        return {
            "stale": [
                {"entity": s.entity, "source": s.source, "id": s.id, "ageSeconds": s.age_seconds}
                for s in context.loaders.served.stale
            ]
        }

    async def _refusal(
        self, context: Context, access: Access, schema: GraphQLSchema, document: DocumentNode
    ) -> GraphQLError | None:
        ctx = self.execution_context
        principal = context.principal
        context.denied = access.policy.denied(principal.roles, context.selection.by_type)
        limits = access.limits
        if context.selection.by_type.get("Query", set()) <= INTROSPECTION:
            # GraphiQL's schema query is deeper than any data query needs to be.
            limits = replace(limits, max_depth=max(limits.max_depth, INTROSPECTION_DEPTH))
        try:
            cost = check(schema, document, ctx.operation_name, ctx.variables, limits)
        except QueryTooComplex as exc:
            return GraphQLError(str(exc), extensions=exc.extensions)
        context.cost = cost
        if access.rate is None:
            return None
        try:
            # Every operation spends at least one unit, even one that reaches no CRM.
            decision = await access.rate.acquire(principal.subject, max(cost, 1))
        except RateLimiterUnavailable:
            # The shared budget is out of reach: serve rather than refuse every caller because
            # Redis is down (the limiter tells the log once per outage).
            return None
        if decision.allowed:
            return None
        retry = round(decision.retry_after, 3)
        return GraphQLError(
            f"rate limit reached for {principal.subject}: this query costs {cost}; "
            f"retry after {retry} s",
            extensions={"code": "RATE_LIMITED", "retryAfter": retry, "cost": cost},
        )


class Observe(SchemaExtension):
    """Per operation: its span, the caller and operation name on every log event, one
    ``graphql.operation`` event and its metrics at the end, and the trail of upstream calls
    that ``extensions.explain`` shows to ``observability.explain_roles``."""

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
        context = ctx.context
        principal = context.principal if isinstance(context, Context) else None
        self._started = time.perf_counter()
        self._trail, token = explain.start()
        tokens = bind(caller=principal.subject if principal else None)
        try:
            with tracing.span("graphql.operation") as span:
                yield
                name = ctx.operation_name
                span.update_name(f"graphql {name or 'anonymous'}")
                span.set_attribute("graphql.operation.name", name or "")
                outcome = _outcome(ctx.result)
                seconds = time.perf_counter() - self._started
                # A subscription was counted when it started; its span is its lifetime, no
                # latency (and a client's `complete` ends it by cancellation, not here).
                if not _is_subscription(ctx):
                    metrics.graphql_request(name, outcome, seconds)
                metrics.loader_calls(self._trail.batches.items())
                operations.info(
                    "graphql.operation",
                    operation=name,
                    outcome=outcome,
                    latency_ms=round(seconds * 1000, 1),
                    upstream_calls=len(self._trail.calls),
                )
        finally:
            unbind(tokens)
            explain.stop(token)

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        tokens = bind(operation=ctx.operation_name)
        if ctx.operation_type is OperationType.SUBSCRIPTION and ctx.result is None:
            metrics.graphql_request(ctx.operation_name, "subscription", None)
        try:
            yield
        finally:
            unbind(tokens)

    def get_results(self) -> dict[str, Any]:
        ctx = self.execution_context
        context = ctx.context
        asked = (ctx.operation_extensions or {}).get("explain")
        if not asked or not isinstance(context, Context):
            return {}
        allowed = context.gateway.settings.observability.explain_roles
        if not set(context.principal.roles) & set(allowed):
            return {
                "explain": {
                    "code": "FORBIDDEN",
                    "message": f"explain is for the roles {', '.join(allowed) or '(none)'}",
                }
            }
        served = context.loaders.served
        elapsed = (time.perf_counter() - self._started) * 1000
        report = explain.report(self._trail, served.hits, served.misses, elapsed)
        return {"explain": {**report, "cost": context.cost}}


def _is_subscription(ctx: ExecutionContext) -> bool:
    # A document that did not parse has no operation type (Strawberry raises for it).
    return ctx.graphql_document is not None and ctx.operation_type is OperationType.SUBSCRIPTION


def _outcome(result: Any) -> str:
    """ok, partial (data and errors), refused (a limit or budget said no) or error."""
    errors = getattr(result, "errors", None) or []
    if not errors:
        return "ok"
    codes = {(e.extensions or {}).get("code") for e in errors}
    if codes & {"RATE_LIMITED", "QUERY_TOO_COMPLEX", "PERSISTED_QUERY_NOT_FOUND"}:
        return "refused"
    return "partial" if getattr(result, "data", None) else "error"


class ErrorShaping(SchemaExtension):
    """Every error gets ``extensions.code``; upstream failures name their source; anything
    unexpected is masked as ``INTERNAL`` and its detail goes to the log only."""

    def on_operation(self) -> Iterator[None]:
        yield
        ctx = self.execution_context
        result = ctx.result
        if result is None:
            return
        errors = [self._shape(e) for e in getattr(result, "errors", None) or []]
        if isinstance(ctx.context, Context):
            errors += ctx.context.reported
        result.errors = errors or None

    def _shape(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if original is None and error.extensions and "code" in error.extensions:
            return error  # our own refusals (RATE_LIMITED, QUERY_TOO_COMPLEX)
        if original is None or (isinstance(original, GraphQLError) and error.path is None):
            # The caller's request is wrong: its syntax, its document, or its variables (which
            # graphql-core coerces once execution starts, so they are not PreExecutionErrors).
            flood = TOKEN_FLOOD.fullmatch(error.message)
            if isinstance(error, GraphQLSyntaxError) and flood:
                limit = int(flood[1])
                too_complex = QueryTooComplex("tokens", limit, limit + 1)
                return GraphQLError(str(too_complex), extensions=too_complex.extensions)
            if isinstance(error, GraphQLSyntaxError):
                code = "GRAPHQL_PARSE_FAILED"
            elif error.path is None and not isinstance(
                self.execution_context.result, PreExecutionError
            ):
                code = "BAD_USER_INPUT"
            else:
                code = "GRAPHQL_VALIDATION_FAILED"
            extensions = dict(error.extensions or {})
            extensions.setdefault("code", code)
            return _with(error, error.message, extensions)
        if isinstance(original, GatewayError):
            return error
        if isinstance(getattr(original, "extensions", None), dict):
            return error  # an error that already says what it is (QueryTooComplex…)
        if isinstance(original, UpstreamError):
            shaped = UpstreamFieldError(original)
            return _with(error, str(shaped), shaped.extensions)
        log.error("unexpected error at %s", ".".join(map(str, error.path or [])), exc_info=original)
        return _with(error, "Unexpected error.", {"code": "INTERNAL"})


def _with(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )

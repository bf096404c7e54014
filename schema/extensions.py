"""Schema extensions: the request's projection, and the shape of every error a caller sees."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from app.connectors.errors import UpstreamError
from schema.context import Context
from schema.errors import GatewayError, UpstreamFieldError
from schema.projection import select

log = logging.getLogger("crmgraph.errors")


class Projection(SchemaExtension):
    """Reads, once per operation, which fields it selects of each type (for push-down)."""

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        context = ctx.context
        if isinstance(context, Context) and ctx.graphql_document is not None:
            context.selection = select(ctx.schema._schema, ctx.graphql_document, ctx.operation_name)
        yield


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
        if original is None:
            # Syntax and validation errors: the caller's query is wrong.
            code = "GRAPHQL_PARSE_FAILED" if error.path is None and not error.nodes else None
            extensions = dict(error.extensions or {})
            extensions.setdefault("code", code or "GRAPHQL_VALIDATION_FAILED")
            return _with(error, error.message, extensions)
        if isinstance(original, GatewayError):
            return error
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

"""The GraphQL schema: types per domain, thin resolvers, and the extensions around them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StreamResult
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from app.domain.custom import CustomFieldSpec
from app.domain.entities import ENTITIES, EntitySpec, with_custom
from schema.common import read_attribute
from schema.context import Context
from schema.custom import add_custom_fields
from schema.customers import CustomerType
from schema.documents import KnownDocuments
from schema.execution import PolicyExecutionContext
from schema.extensions import Observe, RequestPlan
from schema.leads import LeadType
from schema.mutations import Mutation
from schema.query import Query
from schema.subscriptions import StreamShaping, Subscription, operation_context
from schema.suggestions import NoSuggestionsWithoutIntrospection
from schema.tickets import TicketType


class GatewaySchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Expected errors (a missing record, a failing CRM) are answers, not incidents;
        # ErrorShaping logs the unexpected ones once, with their traceback.
        return None

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> StreamResult:
        # A websocket shares one context between its operations: give each its own.
        if isinstance(context_value, Context):
            context_value = operation_context(context_value)
        return await super().stream(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            operation_extensions,
            allowed_operation_types,
        )


def build_schema(entities: Mapping[str, EntitySpec] = ENTITIES) -> strawberry.Schema:
    """The schema, with the custom fields of ``entities`` (the registry with a config's)."""
    built = GatewaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(default_resolver=read_attribute),
        types=[CustomerType, LeadType, TicketType],
        extensions=[
            Observe,
            RequestPlan,
            KnownDocuments,
            StreamShaping,
            NoSuggestionsWithoutIntrospection,
        ],
        execution_context_class=PolicyExecutionContext,
    )
    add_custom_fields(built._schema, entities)
    return built


schema = build_schema()


def schema_for(custom: Mapping[str, Mapping[str, CustomFieldSpec]]) -> strawberry.Schema:
    """The schema of a config with these custom fields (the shared one when it has none)."""
    if not any(custom.values()):
        return schema
    return build_schema(with_custom(custom))

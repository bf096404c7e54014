"""The GraphQL schema: types per domain, thin resolvers, and the extensions around them."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from schema.common import read_attribute
from schema.customers import CustomerType
from schema.execution import PolicyExecutionContext
from schema.extensions import ErrorShaping, RequestPlan
from schema.leads import LeadType
from schema.mutations import Mutation
from schema.query import Query
from schema.tickets import TicketType


class GatewaySchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Expected errors (a missing record, a failing CRM) are answers, not incidents;
        # ErrorShaping logs the unexpected ones once, with their traceback.
        return None


def build_schema() -> strawberry.Schema:
    return GatewaySchema(
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(default_resolver=read_attribute),
        types=[CustomerType, LeadType, TicketType],
        extensions=[RequestPlan, ErrorShaping],
        execution_context_class=PolicyExecutionContext,
    )


schema = build_schema()

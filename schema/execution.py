"""The executor: roles are enforced here, once, for every field of the schema.

Before execution the request works out which selected fields its roles may not read
(``app.auth.policy``); each of those answers ``null`` (a non-null list: ``[]``) with
``FORBIDDEN`` at its own path, and the rest of the answer stands. Nothing else in the schema
checks roles.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLObjectType,
    Undefined,
    is_list_type,
    is_non_null_type,
    located_error,
)
from graphql.execution.executor import to_nodes
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.errors import GatewayError


class Forbidden(GatewayError):
    code = "FORBIDDEN"


class PolicyExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Path,
        position_context: Any,
    ) -> Any:
        denied = getattr(self.context_value, "denied", None)
        if denied:
            name = field_details_list[0].node.name.value
            if (parent_type.name, name) in denied:
                field = self.schema.get_field(parent_type, name)
                if field is None:
                    return Undefined
                error = Forbidden(f"your role may not read {parent_type.name}.{name}")
                if is_non_null_type(field.type) and is_list_type(field.type.of_type):
                    # A non-null list answers [] with the error at its path, as when its
                    # source fails, so it never nulls its parent.
                    located = located_error(error, to_nodes(field_details_list), path.as_list())
                    self.collected_errors.add(located, path)
                    return []
                self.handle_field_error(error, field.type, field_details_list, path)
                return None
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

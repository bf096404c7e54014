"""graphql-core helps a caller who misspells a field, argument, type or enum value with
"Did you mean 'email'?" — a hint drawn from the schema. For a role that may not introspect,
that hint is the schema leaking a name at a time, so it is cut from every message, whether the
error comes from validation or from coercing the variables when execution starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from schema.context import Context

#: graphql-core appends its suggestions last (``graphql.pyutils.did_you_mean``).
SUGGESTION = " Did you mean "


class NoSuggestionsWithoutIntrospection(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        yield
        # Strawberry answers with this very list: edit it in place.
        self._strip(self.execution_context.pre_execution_errors)

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        self._strip(getattr(result, "errors", None))

    def _strip(self, errors: Iterable[GraphQLError] | None) -> None:
        if not errors or self._may_introspect():
            return
        for error in errors:
            error.message = error.message.split(SUGGESTION, 1)[0]

    def _may_introspect(self) -> bool:
        context = self.execution_context.context
        if not isinstance(context, Context) or context.access is None:
            return True  # the process itself (tests of the schema, maintenance commands)
        return context.access.policy.may_introspect(context.principal.roles)

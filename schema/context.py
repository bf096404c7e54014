"""The per-request context every resolver sees, and the typed ``Info`` alias."""

from __future__ import annotations

from collections.abc import Collection

import strawberry
from graphql import GraphQLError
from strawberry.fastapi import BaseContext

from app.auth.access import Access
from app.auth.principal import SYSTEM, Principal
from app.gateway import Gateway
from app.loaders import Loaders
from schema.projection import Selection


class Context(BaseContext):
    def __init__(
        self, gateway: Gateway, principal: Principal = SYSTEM, access: Access | None = None
    ) -> None:
        super().__init__()
        self.gateway = gateway
        self.principal = principal
        self.access = access
        # Filled in by the RequestPlan extension, before any resolver runs.
        self.selection = Selection()
        self.denied: frozenset[tuple[str, str]] = frozenset()
        #: The operation's estimated upstream requests after batching (app/auth/limits.py).
        self.cost: int | None = None
        self.loaders: Loaders = gateway.loaders(self.fields_of, principal)
        # Errors of fields that still answered (an empty list, a record left out).
        self.reported: list[GraphQLError] = []

    def fields_of(self, entity: str) -> Collection[str]:
        return self.selection.domain_fields(self.gateway.entities[entity])

    def report(self, message: str, extensions: dict[str, object], info: Info) -> None:
        self.reported.append(
            GraphQLError(
                message,
                nodes=info._raw_info.field_nodes,
                path=info.path.as_list(),
                extensions=extensions,
            )
        )


Info = strawberry.Info[Context, None]

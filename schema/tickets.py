"""Ticket: a support request (Zendesk tickets by default)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON

from app.domain.models import Customer, Ticket, TicketStatus
from app.loaders import NOT_HELD, requester_held, requester_of
from schema.common import (
    DateTimeRange,
    Node,
)
from schema.context import Info
from schema.fields import plain_fields

if TYPE_CHECKING:
    from schema.customers import CustomerType

CustomerRef = Annotated["CustomerType", strawberry.lazy("schema.customers")]


@strawberry.type(name="Ticket")
class TicketType(Node):
    __annotations__ = {"id": strawberry.ID, **plain_fields("ticket")}

    @strawberry.field(description="The customer who asked.", graphql_type=CustomerRef | None)
    def requester(
        self, root: strawberry.Parent[Ticket], info: Info
    ) -> Customer | Awaitable[Customer | None] | None:
        # Answered at once when already loaded: no coroutine, no task per ticket.
        held = requester_held(info.context.loaders, root)
        return requester_of(info.context.loaders, root) if held is NOT_HELD else held

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, Ticket)


@strawberry.input
class TicketFilter:
    brand: list[str] | None = None
    status: list[TicketStatus] | None = None
    requester_email: str | None = None
    created_at: DateTimeRange | None = None
    updated_at: DateTimeRange | None = None
    custom: JSON | None = strawberry.field(
        default=None, description="The org's own fields (typed when the config declares any)."
    )

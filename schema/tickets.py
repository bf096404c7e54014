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
from schema.context import Context, Info
from schema.fields import plain_fields
from schema.relations import Arguments, Relation

if TYPE_CHECKING:
    from schema.customers import CustomerType

CustomerRef = Annotated["CustomerType", strawberry.lazy("schema.customers")]


def _start_requester(root: Ticket, context: Context, _: Arguments) -> Any:
    # Answered at once when already loaded (a list's tickets' requesters usually are the
    # customers listed): no coroutine, no task per ticket.
    held = requester_held(context.loaders, root)
    return requester_of(context.loaders, root) if held is NOT_HELD else held


REQUESTER = Relation(_start_requester)


@strawberry.type(name="Ticket")
class TicketType(Node):
    __annotations__ = {"id": strawberry.ID, **plain_fields("ticket")}

    @strawberry.field(
        description="The customer who asked.",
        graphql_type=CustomerRef | None,
        metadata=REQUESTER.metadata(),
    )
    def requester(
        self, root: strawberry.Parent[Ticket], info: Info
    ) -> Customer | Awaitable[Customer | None] | None:
        return REQUESTER.resolve(root, info, {})  # type: ignore[no-any-return]

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

"""Customer: a person in the CRM of record (HubSpot contacts by default)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON

from app.domain.models import Customer, Lead, PlayerStats, Ticket, TicketStatus
from app.loaders import PlayerKey, TicketsKey
from schema.common import (
    DateTimeRange,
    ExternalRefType,
    Node,
    page_size,
    usable,
)
from schema.context import Context, Info
from schema.fields import plain_fields
from schema.relations import Arguments, Relation

if TYPE_CHECKING:
    from schema.leads import LeadType
    from schema.players import PlayerStatsType
    from schema.tickets import TicketType

LeadRef = Annotated["LeadType", strawberry.lazy("schema.leads")]
TicketRef = Annotated["TicketType", strawberry.lazy("schema.tickets")]
PlayerStatsRef = Annotated["PlayerStatsType", strawberry.lazy("schema.players")]


def _start_leads(root: Customer, context: Context, _: Arguments) -> Any:
    return context.loaders.leads_by_email.load(root.email) if root.email else []


def _shown(records: list[Any], _: Arguments, info: Info) -> list[Any]:
    return usable(records, info)


def _first(arguments: Arguments) -> int:
    first = arguments.get("first", 20)
    return 20 if first is None else page_size(first, 500)


#: Ticket statuses in the order a loader key lists them (by value).
_STATUS_ORDER = sorted(TicketStatus, key=lambda s: s.value)


def _start_tickets(root: Customer, context: Context, arguments: Arguments) -> Any:
    first = _first(arguments)  # refused before anything is loaded
    status = arguments.get("status")
    statuses = None if status is None else tuple(s for s in _STATUS_ORDER if s in status)
    key = TicketsKey(root.id.native, root.email, statuses, first)
    return context.loaders.tickets_by_requester.load(key)


def _first_shown(records: list[Any], arguments: Arguments, info: Info) -> list[Any]:
    return usable(records, info, _first(arguments))


def _start_player_stats(root: Customer, context: Context, _: Arguments) -> Any:
    if not root.player_id:
        return None
    return context.loaders.player.load(PlayerKey(root.brand, root.player_id))


LEADS = Relation(_start_leads, _shown)
TICKETS = Relation(_start_tickets, _first_shown)
PLAYER_STATS = Relation(_start_player_stats)


@strawberry.type(name="Customer")
class CustomerType(Node):
    __annotations__ = {"id": strawberry.ID, **plain_fields("customer")}
    name: str | None

    @strawberry.field
    def external_refs(self, root: strawberry.Parent[Customer]) -> list[ExternalRefType]:
        return root.external_refs  # type: ignore[return-value]

    @strawberry.field(
        description="Leads with this customer's email, oldest first.",
        graphql_type=list[LeadRef],
        metadata=LEADS.metadata(),
    )
    def leads(self, root: strawberry.Parent[Customer], info: Info) -> Awaitable[list[Lead]]:
        return LEADS.resolve(root, info, {})  # type: ignore[no-any-return]

    @strawberry.field(
        description="This customer's tickets, newest first.",
        graphql_type=list[TicketRef],
        metadata=TICKETS.metadata(),
    )
    def tickets(
        self,
        root: strawberry.Parent[Customer],
        info: Info,
        status: list[TicketStatus] | None = None,
        first: int | None = 20,
    ) -> Awaitable[list[Ticket]]:
        arguments = {"status": status, "first": first}
        return TICKETS.resolve(root, info, arguments)  # type: ignore[no-any-return]

    @strawberry.field(graphql_type=PlayerStatsRef | None, metadata=PLAYER_STATS.metadata())
    def player_stats(
        self, root: strawberry.Parent[Customer], info: Info
    ) -> Awaitable[PlayerStats | None] | None:
        return PLAYER_STATS.resolve(root, info, {})  # type: ignore[no-any-return]

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, Customer)


@strawberry.input
class CustomerFilter:
    email: str | None = None
    brand: list[str] | None = strawberry.field(
        default=None, description="One brand key or several."
    )
    company: str | None = None
    lifecycle_stage: str | None = None
    created_at: DateTimeRange | None = None
    updated_at: DateTimeRange | None = None
    custom: JSON | None = strawberry.field(
        default=None, description="The org's own fields (typed when the config declares any)."
    )

"""Customer: a person in the CRM of record (HubSpot contacts by default)."""

from __future__ import annotations

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
    shown,
)
from schema.context import Info
from schema.fields import plain_fields

if TYPE_CHECKING:
    from schema.leads import LeadType
    from schema.players import PlayerStatsType
    from schema.tickets import TicketType

LeadRef = Annotated["LeadType", strawberry.lazy("schema.leads")]
TicketRef = Annotated["TicketType", strawberry.lazy("schema.tickets")]
PlayerStatsRef = Annotated["PlayerStatsType", strawberry.lazy("schema.players")]


@strawberry.type(name="Customer")
class CustomerType(Node):
    __annotations__ = {"id": strawberry.ID, **plain_fields("customer")}
    name: str | None

    @strawberry.field
    def external_refs(self, root: strawberry.Parent[Customer]) -> list[ExternalRefType]:
        return root.external_refs  # type: ignore[return-value]

    @strawberry.field(
        description="Leads with this customer's email, oldest first.", graphql_type=list[LeadRef]
    )
    async def leads(self, root: strawberry.Parent[Customer], info: Info) -> list[Lead]:
        if not root.email:
            return []
        return await shown(info, info.context.loaders.leads_by_email.load(root.email))

    @strawberry.field(
        description="This customer's tickets, newest first.", graphql_type=list[TicketRef]
    )
    async def tickets(
        self,
        root: strawberry.Parent[Customer],
        info: Info,
        status: list[TicketStatus] | None = None,
        first: int | None = 20,
    ) -> list[Ticket]:
        first = 20 if first is None else page_size(first, 500)
        statuses = None if status is None else tuple(sorted(set(status), key=lambda s: s.value))
        key = TicketsKey(root.id.native, root.email, statuses)
        tickets = await shown(info, info.context.loaders.tickets_by_requester.load(key))
        return tickets[:first]

    @strawberry.field(graphql_type=PlayerStatsRef | None)
    async def player_stats(
        self, root: strawberry.Parent[Customer], info: Info
    ) -> PlayerStats | None:
        if not root.player_id:
            return None
        return await info.context.loaders.player.load(PlayerKey(root.brand, root.player_id))

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

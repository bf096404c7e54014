"""Lead: a prospect in the sales CRM (Salesforce Leads by default)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON

from app.domain.models import Customer, Lead, LeadStatus
from schema.common import DateTimeRange, Node
from schema.context import Info
from schema.fields import plain_fields

if TYPE_CHECKING:
    from schema.customers import CustomerType

CustomerRef = Annotated["CustomerType", strawberry.lazy("schema.customers")]


@strawberry.type(name="Lead")
class LeadType(Node):
    __annotations__ = {"id": strawberry.ID, **plain_fields("lead")}
    name: str | None

    @strawberry.field(
        description="The customer with this lead's email (the one it became).",
        graphql_type=CustomerRef | None,
    )
    async def customer(self, root: strawberry.Parent[Lead], info: Info) -> Customer | None:
        if not root.email:
            return None
        return await info.context.loaders.customer_by_email.load(root.email)

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, Lead)


@strawberry.input
class LeadFilter:
    email: str | None = None
    brand: list[str] | None = None
    company: str | None = None
    status: list[LeadStatus] | None = None
    created_at: DateTimeRange | None = None
    updated_at: DateTimeRange | None = None
    custom: JSON | None = strawberry.field(
        default=None, description="The org's own fields (typed when the config declares any)."
    )

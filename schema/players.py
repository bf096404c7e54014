"""PlayerStats: a player's figures from the player-stats back office."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from app.domain.models import Customer, PlayerStats
from schema.common import MoneyType
from schema.context import Info
from schema.fields import plain_fields

if TYPE_CHECKING:
    from schema.customers import CustomerType

CustomerRef = Annotated["CustomerType", strawberry.lazy("schema.customers")]
MaybeMoney = MoneyType | None


@strawberry.type(name="PlayerStats")
class PlayerStatsType:
    __annotations__ = {"player_id": strawberry.ID, **plain_fields("player")}
    ggr: MaybeMoney = strawberry.field(description="Gross gaming revenue: bets less wins.")
    ngr: MaybeMoney = strawberry.field(description="Net gaming revenue: GGR less bonuses.")

    @strawberry.field(
        description="The customer with this player's email.", graphql_type=CustomerRef | None
    )
    async def customer(self, root: strawberry.Parent[PlayerStats], info: Info) -> Customer | None:
        if not root.email:
            return None
        return await info.context.loaders.customer_by_email.load(root.email)

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, PlayerStats)

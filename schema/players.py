"""PlayerStats: a player's figures from the player-stats back office."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from app.domain.models import Customer, PlayerStats
from schema.common import MoneyType
from schema.context import Info

if TYPE_CHECKING:
    from schema.customers import CustomerType

CustomerRef = Annotated["CustomerType", strawberry.lazy("schema.customers")]
MaybeMoney = MoneyType | None


@strawberry.type(name="PlayerStats")
class PlayerStatsType:
    player_id: strawberry.ID
    brand: str | None
    country: str | None
    currency: str | None
    registered_at: datetime | None
    last_login_at: datetime | None
    level: int | None
    level_name: str | None
    points_balance: int | None
    points_ever: int | None
    deposit_count: int | None
    deposits_total: MaybeMoney
    withdrawals_total: MaybeMoney
    bets_total: MaybeMoney
    wins_total: MaybeMoney
    bonus_total: MaybeMoney
    ggr: MaybeMoney = strawberry.field(description="Gross gaming revenue: bets less wins.")
    ngr: MaybeMoney = strawberry.field(description="Net gaming revenue: GGR less bonuses.")
    missions_completed: int | None
    tournaments_played: int | None
    churn_risk: float | None
    predicted_ltv: MaybeMoney

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

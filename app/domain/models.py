"""The entities of the graph, as crmgraph's callers see them.

Every field but the id is optional: a connector fills only the fields a query asked for, and
a CRM may simply not hold a value. ``None`` means "not known", never "empty string".
``problems`` names the fields whose wire value could not be read (field → reason): the record
is still served, and those fields answer with an error instead of a guess.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from app.domain.ids import ExternalRef, NodeId
from app.domain.money import Money


class LeadStatus(enum.Enum):
    NEW = "NEW"
    WORKING = "WORKING"
    QUALIFIED = "QUALIFIED"
    UNQUALIFIED = "UNQUALIFIED"
    CONVERTED = "CONVERTED"


class TicketStatus(enum.Enum):
    NEW = "NEW"
    OPEN = "OPEN"
    PENDING = "PENDING"
    ON_HOLD = "ON_HOLD"
    SOLVED = "SOLVED"
    CLOSED = "CLOSED"


class TicketPriority(enum.Enum):
    LOW = "LOW"
    NORMAL = "NORMAL"
    HIGH = "HIGH"
    URGENT = "URGENT"


@dataclass(slots=True)
class Customer:
    id: NodeId
    external_refs: list[ExternalRef] = field(default_factory=list)
    brand: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    lifecycle_stage: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    player_id: str | None = None
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str | None:
        parts = [p for p in (self.first_name, self.last_name) if p]
        return " ".join(parts) or None


@dataclass(slots=True)
class Lead:
    id: NodeId
    status: LeadStatus | None = None
    brand: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    lead_source: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    converted_contact_id: str | None = None
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str | None:
        parts = [p for p in (self.first_name, self.last_name) if p]
        return " ".join(parts) or None


@dataclass(slots=True)
class Ticket:
    id: NodeId
    status: TicketStatus | None = None
    brand: str | None = None
    subject: str | None = None
    description: str | None = None
    priority: TicketPriority | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    requester_id: str | None = None
    requester_email: str | None = None
    requester_external_id: str | None = None
    problems: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class PlayerStats:
    player_id: str
    brand: str | None = None
    email: str | None = None
    country: str | None = None
    currency: str | None = None
    registered_at: datetime | None = None
    last_login_at: datetime | None = None
    updated_at: datetime | None = None
    level: int | None = None
    level_name: str | None = None
    points_balance: int | None = None
    points_ever: int | None = None
    deposit_count: int | None = None
    deposits_total: Money | None = None
    withdrawals_total: Money | None = None
    bets_total: Money | None = None
    wins_total: Money | None = None
    bonus_total: Money | None = None
    missions_completed: int | None = None
    tournaments_played: int | None = None
    churn_risk: float | None = None
    predicted_ltv: Money | None = None
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def ggr(self) -> Money | None:
        """Gross gaming revenue: stakes less winnings."""
        if self.bets_total is None or self.wins_total is None:
            return None
        return self.bets_total - self.wins_total

    @property
    def ngr(self) -> Money | None:
        """Net gaming revenue: GGR less bonuses."""
        ggr = self.ggr
        if ggr is None or self.bonus_total is None:
            return None
        return ggr - self.bonus_total

"""The entities of the graph, as crmgraph's callers see them.

Every field but the id is optional: a connector fills only the fields a query asked for, and
a CRM may simply not hold a value. ``None`` means "not known", never "empty string".
Fields declared with :func:`~app.domain.fields.attr` are the domain fields the rest of the
gateway derives its tables from (:mod:`app.domain.entities`).
``problems`` names the fields whose wire value could not be read (field → reason): the record
is still served, and those fields answer with an error instead of a guess.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.domain.fields import MONEY, PERSONAL, attr
from app.domain.ids import ExternalRef, NodeId
from app.domain.money import Money


class DomainEnum(enum.Enum):
    """An enum of the domain. Its members are singletons that ``Enum`` compares by identity,
    so they hash by identity too: ``Enum.__hash__`` hashes the member's name in Python, and
    a dashboard hashes ~1,500 (its loaders' keys, the statuses written out)."""

    __hash__ = object.__hash__


class LeadStatus(DomainEnum):
    NEW = "NEW"
    WORKING = "WORKING"
    QUALIFIED = "QUALIFIED"
    UNQUALIFIED = "UNQUALIFIED"
    CONVERTED = "CONVERTED"


class TicketStatus(DomainEnum):
    NEW = "NEW"
    OPEN = "OPEN"
    PENDING = "PENDING"
    ON_HOLD = "ON_HOLD"
    SOLVED = "SOLVED"
    CLOSED = "CLOSED"


class TicketPriority(DomainEnum):
    LOW = "LOW"
    NORMAL = "NORMAL"
    HIGH = "HIGH"
    URGENT = "URGENT"


@dataclass(slots=True)
class Customer:
    id: NodeId
    external_refs: list[ExternalRef] = field(default_factory=list)
    brand: str | None = attr(always=True, filterable=True)
    first_name: str | None = attr()
    last_name: str | None = attr()
    email: str | None = attr(always=True, filterable=True, tags=PERSONAL)
    phone: str | None = attr(tags=PERSONAL)
    company: str | None = attr(filterable=True)
    lifecycle_stage: str | None = attr(hot=True, filterable=True)
    created_at: datetime | None = attr(filterable=True)
    updated_at: datetime | None = attr(hot=True, filterable=True)
    player_id: str | None = attr(always=True, graphql=False)
    problems: dict[str, str] = field(default_factory=dict)
    #: The config's custom fields fetched, by name (:mod:`app.domain.custom`).
    custom: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str | None:
        parts = [p for p in (self.first_name, self.last_name) if p]
        return " ".join(parts) or None


@dataclass(slots=True)
class Lead:
    id: NodeId
    status: LeadStatus | None = attr(hot=True, required=True, filterable=True)
    brand: str | None = attr(always=True, filterable=True)
    first_name: str | None = attr()
    last_name: str | None = attr()
    email: str | None = attr(always=True, filterable=True, tags=PERSONAL)
    phone: str | None = attr(tags=PERSONAL)
    company: str | None = attr(filterable=True)
    lead_source: str | None = attr()
    created_at: datetime | None = attr(always=True, filterable=True)
    updated_at: datetime | None = attr(hot=True, filterable=True)
    converted_contact_id: str | None = attr(hot=True, graphql=False)
    problems: dict[str, str] = field(default_factory=dict)
    #: The config's custom fields fetched, by name (:mod:`app.domain.custom`).
    custom: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str | None:
        parts = [p for p in (self.first_name, self.last_name) if p]
        return " ".join(parts) or None


@dataclass(slots=True)
class Ticket:
    id: NodeId
    status: TicketStatus | None = attr(hot=True, required=True, filterable=True)
    brand: str | None = attr(always=True, filterable=True)
    subject: str | None = attr()
    description: str | None = attr()
    priority: TicketPriority | None = attr(hot=True)
    created_at: datetime | None = attr(always=True, filterable=True)
    updated_at: datetime | None = attr(hot=True, filterable=True)
    requester_id: str | None = attr(always=True, graphql=False)
    # Set by the loaders from the customer asked about, never fetched.
    requester_email: str | None = None
    requester_external_id: str | None = None
    problems: dict[str, str] = field(default_factory=dict)
    #: The config's custom fields fetched, by name (:mod:`app.domain.custom`).
    custom: dict[str, Any] = field(default_factory=dict)


#: Non-null fields of list members: a record whose value for one cannot be read is left out
#: of the list (and reported at the list's path) rather than nulling the whole answer.
NON_NULL = ("status",)


def showable(record: object) -> bool:
    """Whether a list may show ``record``: every non-null field of it could be read."""
    problems = getattr(record, "problems", None)
    return not problems or not any(f in problems for f in NON_NULL)


@dataclass(slots=True)
class PlayerStats:
    player_id: str
    brand: str | None = attr(always=True)
    email: str | None = attr(always=True, graphql=False, tags=PERSONAL)
    country: str | None = attr()
    currency: str | None = attr()
    registered_at: datetime | None = attr()
    last_login_at: datetime | None = attr(hot=True)
    updated_at: datetime | None = attr(hot=True, graphql=False)
    level: int | None = attr(hot=True)
    level_name: str | None = attr(hot=True)
    points_balance: int | None = attr(hot=True)
    points_ever: int | None = attr(hot=True)
    deposit_count: int | None = attr(hot=True)
    deposits_total: Money | None = attr(hot=True, tags=MONEY)
    withdrawals_total: Money | None = attr(hot=True, tags=MONEY)
    bets_total: Money | None = attr(hot=True, tags=MONEY)
    wins_total: Money | None = attr(hot=True, tags=MONEY)
    bonus_total: Money | None = attr(hot=True, tags=MONEY)
    missions_completed: int | None = attr(hot=True)
    tournaments_played: int | None = attr(hot=True)
    churn_risk: float | None = attr(hot=True)
    predicted_ltv: Money | None = attr(hot=True, tags=MONEY)
    problems: dict[str, str] = field(default_factory=dict)
    #: The config's custom fields fetched, by name (:mod:`app.domain.custom`).
    custom: dict[str, Any] = field(default_factory=dict)

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

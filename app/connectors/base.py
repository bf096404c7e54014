"""What the loaders and services ask of a source, whatever CRM is behind it.

Connectors know one CRM's wire format and nothing of GraphQL; they return domain objects read
through the declared field maps. ``fields`` is always the set of domain field names a query
needs, so each connector asks its CRM for those properties only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from app.connectors.errors import UpstreamError
from app.connectors.http import UpstreamClient
from app.domain.models import Customer, Lead, LeadStatus, PlayerStats, Ticket, TicketStatus

T = TypeVar("T")
Fields = Collection[str]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list, with the CRM's own cursor for the next one (None at the end).

    ``total`` is the CRM's count, when asked for. A count is its own call on some CRMs: when
    it failed and the page did not, ``total_error`` says why and the page stands."""

    items: list[T]
    next_cursor: str | None
    total: int | None = None
    total_error: UpstreamError | None = None

    @classmethod
    def counted(
        cls, items: list[T], next_cursor: str | None, count: int | UpstreamError | None
    ) -> Page[T]:
        if isinstance(count, UpstreamError):
            return cls(items, next_cursor, None, count)
        return cls(items, next_cursor, count)


async def count_apart(call: Awaitable[int] | None) -> int | UpstreamError | None:
    """A list's count, asked beside its page (``None``: not asked): a failing count costs only
    the total, never the page."""
    if call is None:
        return None
    try:
        return await call
    except UpstreamError as exc:
        return exc


@dataclass(frozen=True, slots=True)
class TimeRange:
    after: datetime | None = None
    before: datetime | None = None


@dataclass(frozen=True, slots=True)
class CustomerQuery:
    email: str | None = None
    brands: tuple[str, ...] | None = None
    company: str | None = None
    lifecycle_stage: str | None = None
    created: TimeRange = field(default_factory=TimeRange)
    updated: TimeRange = field(default_factory=TimeRange)
    #: The config's custom fields to match: (path in the CRM, the CRM's value), by path.
    custom: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class LeadQuery:
    email: str | None = None
    brands: tuple[str, ...] | None = None
    company: str | None = None
    statuses: tuple[LeadStatus, ...] | None = None
    created: TimeRange = field(default_factory=TimeRange)
    updated: TimeRange = field(default_factory=TimeRange)
    #: The config's custom fields to match: (path in the CRM, the CRM's value), by path.
    custom: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class TicketQuery:
    brands: tuple[str, ...] | None = None
    statuses: tuple[TicketStatus, ...] | None = None
    requester_email: str | None = None
    created: TimeRange = field(default_factory=TimeRange)
    updated: TimeRange = field(default_factory=TimeRange)
    #: The config's custom fields to match: (path in the CRM, the CRM's value), by path.
    custom: tuple[tuple[str, Any], ...] = ()


class CustomerSource(Protocol):
    name: str
    batch_limit: int

    async def customers_by_id(self, ids: Sequence[str], fields: Fields) -> dict[str, Customer]:
        """The customers found among ``ids`` (native ids); unknown ids are simply absent."""
        ...

    async def customers_by_email(
        self, emails: Sequence[str], fields: Fields
    ) -> dict[str, Customer]:
        """The customers found, keyed by normalised email."""
        ...

    async def list_customers(
        self, query: CustomerQuery, first: int, cursor: str | None, fields: Fields, total: bool
    ) -> Page[Customer]: ...


class LeadSource(Protocol):
    name: str
    batch_limit: int

    async def leads_by_id(self, ids: Sequence[str], fields: Fields) -> dict[str, Lead]: ...

    async def leads_by_email(self, emails: Sequence[str], fields: Fields) -> dict[str, list[Lead]]:
        """Every lead of each email (normalised), oldest first."""
        ...

    async def list_leads(
        self, query: LeadQuery, first: int, cursor: str | None, fields: Fields, total: bool
    ) -> Page[Lead]: ...


@dataclass(frozen=True, slots=True)
class Requester:
    """A person asking for tickets: their id in the customer system, their email, and how
    many of their newest tickets the caller is shown are enough (None: every one)."""

    customer_id: str
    email: str | None
    first: int | None = None


@dataclass(frozen=True, slots=True)
class Shown:
    """Which tickets a caller is shown: of its ``brands`` (None: every brand), and passing
    ``test``."""

    brands: frozenset[str] | None
    test: Callable[[Ticket], bool]

    @property
    def scope(self) -> str:
        """Names the rule, so that what was enough for one caller is never kept as enough
        for another."""
        return "*" if self.brands is None else ",".join(sorted(self.brands))


class Tally:
    """How many shown tickets of each requester (by customer id) a read has taken, while it
    reads their tickets newest first: who needs no older ones."""

    def __init__(self, requesters: Iterable[Requester], shown: Shown) -> None:
        self.first = {r.customer_id: r.first for r in requesters}
        self.shown = shown
        self.count: dict[str, int] = {}

    def wants(self, customer: str) -> bool:
        """Whether ``customer`` may still be short of their ``first`` shown tickets."""
        first = self.first[customer]
        return first is None or self.count.get(customer, 0) < first

    def took(self, customer: str, ticket: Ticket) -> None:
        if self.shown.test(ticket):
            self.count[customer] = self.count.get(customer, 0) + 1


@dataclass(frozen=True, slots=True)
class RequesterRef:
    """Who a ticket's requester is in the customer system: their id there, or their email."""

    customer_id: str | None
    email: str | None


class TicketSource(Protocol):
    name: str
    batch_limit: int

    async def requesters_by_id(self, ids: Sequence[str]) -> dict[str, RequesterRef]:
        """The ticket system's users by their id there, as links to customers."""
        ...

    async def tickets_by_id(self, ids: Sequence[str], fields: Fields) -> dict[str, Ticket]: ...

    async def tickets_by_requester(
        self,
        requesters: Sequence[Requester],
        statuses: tuple[TicketStatus, ...] | None,
        fields: Fields,
        shown: Shown | None = None,
    ) -> dict[str, list[Ticket]]:
        """Each requester's tickets (keyed by ``customer_id``), newest first: every one, or at
        least the requester's ``first`` newest that ``shown`` passes (every ticket, without
        it), when the CRM can stop reading there."""
        ...

    async def list_tickets(
        self, query: TicketQuery, first: int, cursor: str | None, fields: Fields, total: bool
    ) -> Page[Ticket]: ...


class PlayerStatsSource(Protocol):
    name: str
    batch_limit: int
    brands: tuple[str, ...]

    async def players_by_id(
        self, brand: str, ids: Sequence[str], fields: Fields
    ) -> dict[str, PlayerStats]:
        """The players of ``brand`` found among ``ids``."""
        ...


#: A CRM's reasons for refusing one record: (domain fields, code, message).
Problem = tuple[list[str], str, str]


class LeadWriter(LeadSource, Protocol):
    """A lead source that takes writes. ``values`` are domain values (``status`` is our
    enum's name); refusals raise :class:`~app.connectors.errors.UpstreamRejected`."""

    #: The wire field holding the brand (named in the CRM's refusals), if any.
    brand_field: str | None
    #: The most records one :meth:`create_leads` call takes.
    max_batch: int
    #: Its HTTP client (an import counts its upstream requests there).
    http: UpstreamClient

    async def create_lead(self, values: dict[str, Any]) -> str: ...

    async def update_lead(self, lead_id: str, values: dict[str, Any]) -> None: ...

    async def create_leads(
        self, records: list[dict[str, Any]]
    ) -> list[tuple[str | None, list[Problem]]]:
        """Create up to ``max_batch`` leads in one call: per record, in order, its id or None
        with the CRM's reasons."""
        ...


class CustomerWriter(CustomerSource, Protocol):
    async def create_contact(self, values: dict[str, Any]) -> str:
        """Create a customer; if the CRM already has one with that email, its id."""
        ...

    async def update_contact(self, contact_id: str, values: dict[str, Any]) -> None: ...


class TicketWriter(TicketSource, Protocol):
    async def create_ticket(self, values: dict[str, Any]) -> str:
        """Create a ticket for ``requester_email`` (``external_id``: our idempotency key)."""
        ...

    async def update_ticket(self, ticket_id: str, values: dict[str, Any]) -> None: ...

    async def ticket_id_by_external_id(self, external_id: str) -> str | None:
        """The ticket created with ``external_id`` (a create whose answer was lost), or None."""
        ...


class PlayerWriter(PlayerStatsSource, Protocol):
    async def award_points(
        self, brand: str, player_id: str, delta: int, reason: str, key: str
    ) -> None:
        """Award (or take back) points; the service applies one ``key`` once."""
        ...

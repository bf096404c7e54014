"""Per-request loaders: every relation is fetched in batches, never one record at a time.

A :class:`Loaders` lives for one GraphQL request. Each loader's batch function de-duplicates
its keys, groups them by what the upstream call needs (a status filter, a brand), and makes
one call of the source protocol (:mod:`app.connectors.base`) per group: to the connectors
themselves, or, with the field cache on, to the same connectors behind it
(:mod:`app.cache.sources`, which answers what it holds fresh and fetches only the rest). The
batch functions know nothing of the cache. Results are aligned with the keys: the record,
``None`` when it does not exist, or the exception of the upstream call that failed for it.

They are also where brand scope is applied on the way out: a record of a brand the caller
may not see is answered as if it did not exist, and is never primed for a later lookup.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    Awaitable,
    Callable,
    Collection,
    Coroutine,
    Hashable,
    Iterable,
    Sequence,
)
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from aiodataloader import DataLoader

from app.auth.principal import SYSTEM, Principal
from app.cache.records import FieldCache, Served
from app.connectors.base import (
    CustomerWriter,
    LeadWriter,
    PlayerWriter,
    Requester,
    RequesterRef,
    Shown,
    TicketWriter,
)
from app.connectors.errors import UpstreamError
from app.domain.models import Customer, Lead, PlayerStats, Ticket, TicketStatus, showable
from app.observability.loaders import batch as observed_batch

if TYPE_CHECKING:
    from app.cache.sources import CachedSources

K = TypeVar("K", bound=Hashable)
R = TypeVar("R", Customer, Lead, Ticket, PlayerStats)
V = TypeVar("V")

#: The domain fields a request needs of an entity ("customer", "lead", "ticket", "player").
FieldsOf = Callable[[str], Collection[str]]


@dataclass(frozen=True, slots=True)
class TicketsKey:
    """A customer's tickets (of ``statuses``, or all), of which the newest ``first`` shown."""

    customer_id: str
    email: str | None
    statuses: tuple[TicketStatus, ...] | None
    first: int


@dataclass(frozen=True, slots=True)
class PlayerKey:
    """A player is asked for in one brand, or in every brand when the brand is not known."""

    brand: str | None
    player_id: str


@dataclass(frozen=True, slots=True)
class Sources:
    """The source of each entity; each also takes that entity's writes."""

    customers: CustomerWriter
    leads: LeadWriter
    tickets: TicketWriter
    players: PlayerWriter


class Loader(DataLoader[K, V]):
    """A DataLoader that can say what it already holds (``settled``).

    A primed value is kept as it is until it is loaded: a list primes every record it found
    (hundreds per dashboard) and most are never looked up again, so a done future is made
    only for the ones that are."""

    def __init__(
        self, load: Callable[[list[K]], Coroutine[Any, Any, list[Any]]], **options: Any
    ) -> None:
        self.held: dict[K, asyncio.Future[V]] = {}
        #: Values primed and not loaded since (never an error: those are primed as futures).
        self.primed: dict[K, V] = {}
        super().__init__(load, cache_map=self.held, **options)

    def prime(self, key: K, value: V) -> Loader[K, V]:
        """Hold ``value`` for ``key`` unless something is held for it already."""
        if isinstance(value, Exception) or not self.cache:
            return super().prime(key, value)
        if key not in self.held:
            self.primed.setdefault(key, value)
        return self

    def load(self, key: K) -> asyncio.Future[V]:
        if self.primed and key in self.primed:
            super().prime(key, self.primed.pop(key))
        return super().load(key)

    def clear(self, key: K) -> Loader[K, V]:
        self.primed.pop(key, None)
        return super().clear(key)

    def clear_all(self) -> Loader[K, V]:
        self.primed.clear()
        return super().clear_all()

    def settled(self, key: K) -> V | Any:
        """The value loaded for ``key``, or ``NOT_HELD`` while it is not (or it failed)."""
        if key in self.primed:
            return self.primed[key]
        future = self.held.get(key)
        if future is None or not future.done() or future.cancelled() or future.exception():
            return NOT_HELD
        return future.result()


#: What ``Loader.settled`` answers for a key it does not hold a value for.
NOT_HELD: Any = object()


def _loader(
    name: str, batch: Callable[[list[K]], Awaitable[list[Any]]], batching: bool = True
) -> Loader[K, Any]:
    async def guarded(keys: list[K]) -> list[Any]:
        with observed_batch(name, len(keys)):
            try:
                return await batch(keys)
            except UpstreamError as exc:
                # One failed upstream call fails exactly the keys it served.
                return [exc] * len(keys)

    if not batching:
        return Loader(guarded, batch=False, cache=False)
    return Loader(guarded)


class Loaders:
    def __init__(
        self,
        sources: Sources,
        fields: FieldsOf,
        batching: bool = True,
        principal: Principal = SYSTEM,
        cached: CachedSources | None = None,
    ) -> None:
        #: The connectors (the schema names sources, lists and reads past the cache with them).
        self.sources = sources
        #: The field cache over them for this request, if it is on.
        self.cached = cached
        #: What the loaders read from: the connectors, or the same behind the field cache.
        self.reads: Sources = cached.sources if cached is not None else sources
        # Carried for the schema: a mutation reads a record again, extensions report what the
        # request was served (stale answers, explain's hits and misses).
        self.cache: FieldCache | None = cached.cache if cached is not None else None
        self.served: Served = cached.served if cached is not None else Served()
        self.fields = fields
        self.principal = principal
        #: The tickets a relation shows this caller (cf. ``visible`` and the schema's lists).
        self.shown = Shown(principal.brands, self._shows_ticket)
        self.customer: Loader[str, Customer | None] = _loader("customer", self._customers, batching)
        self.customer_by_email: DataLoader[str, Customer | None] = _loader(
            "customer_by_email", self._customers_by_email, batching
        )
        self.lead: DataLoader[str, Lead | None] = _loader("lead", self._leads, batching)
        self.leads_by_email: DataLoader[str, list[Lead]] = _loader(
            "leads_by_email", self._leads_by_email, batching
        )
        self.ticket: DataLoader[str, Ticket | None] = _loader("ticket", self._tickets, batching)
        self.tickets_by_requester: DataLoader[TicketsKey, list[Ticket]] = _loader(
            "tickets_by_requester", self._tickets_by_requester, batching
        )
        self.player: DataLoader[PlayerKey, PlayerStats | None] = _loader(
            "player", self._players, batching
        )
        self.requester: DataLoader[str, RequesterRef | None] = _loader(
            "requester", self._requesters, batching
        )

    def wanted(self, entity: str) -> frozenset[str]:
        """The domain fields this request needs of ``entity``."""
        return frozenset(self.fields(entity))

    def release(self) -> None:
        """Drop every record the loaders hold, once the request's answer is made. Each loader
        and this object refer to each other (a loader's batch function is a method here), so
        without this a request's records (~4,000 objects for a dashboard) would wait for the
        cyclic garbage collector, whose young collections then walked them all."""
        for loader in vars(self).values():
            if isinstance(loader, DataLoader):
                loader.clear_all()

    # -- brand scope ---------------------------------------------------------------------------

    def visible(self, records: Iterable[R]) -> list[R]:
        """The records of brands the caller may see."""
        sees = self.principal.sees_brand
        return [r for r in records if sees(r.brand)]

    def _shows_ticket(self, ticket: Ticket) -> bool:
        return self.principal.sees_brand(ticket.brand) and showable(ticket)

    def _seen(self, record: R | None) -> R | None:
        return record if record is not None and self.principal.sees_brand(record.brand) else None

    # Records found by one route are primed into the others, so a later lookup costs nothing.
    def prime_customers(self, customers: Sequence[Customer]) -> None:
        for customer in self.visible(customers):
            self.customer.prime(customer.id.native, customer)
            if customer.email:
                self.customer_by_email.prime(customer.email, customer)

    def prime_leads(self, leads: Sequence[Lead]) -> None:
        for lead in self.visible(leads):
            self.lead.prime(lead.id.native, lead)

    def prime_tickets(self, tickets: Sequence[Ticket]) -> None:
        for ticket in self.visible(tickets):
            self.ticket.prime(ticket.id.native, ticket)

    def prime(self, entity: str) -> Callable[[Sequence[Any]], None]:
        """How records of ``entity`` found by a list are primed."""
        if entity == "customer":
            return self.prime_customers
        if entity == "lead":
            return self.prime_leads
        if entity == "ticket":
            return self.prime_tickets
        raise ValueError(f"no list of {entity}")

    # -- customers -----------------------------------------------------------------------------

    async def _customers(self, ids: list[str]) -> list[Customer | None]:
        found = await self.reads.customers.customers_by_id(ids, self.wanted("customer"))
        self.prime_customers(list(found.values()))
        return [self._seen(found.get(i)) for i in ids]

    async def _customers_by_email(self, emails: list[str]) -> list[Customer | None]:
        wanted = [e.lower() for e in emails]
        found = await self.reads.customers.customers_by_email(wanted, self.wanted("customer"))
        self.prime_customers(list(found.values()))
        return [self._seen(found.get(e)) for e in wanted]

    # -- leads ---------------------------------------------------------------------------------

    async def _leads(self, ids: list[str]) -> list[Lead | None]:
        found = await self.reads.leads.leads_by_id(ids, self.wanted("lead"))
        return [self._seen(found.get(i)) for i in ids]

    async def _leads_by_email(self, emails: list[str]) -> list[list[Lead]]:
        wanted = [e.lower() for e in emails]
        found = await self.reads.leads.leads_by_email(wanted, self.wanted("lead"))
        self.prime_leads([lead for leads in found.values() for lead in leads])
        return [self.visible(found.get(e, [])) for e in wanted]

    # -- tickets -------------------------------------------------------------------------------

    async def _tickets(self, ids: list[str]) -> list[Ticket | None]:
        found = await self.reads.tickets.tickets_by_id(ids, self.wanted("ticket"))
        return [self._seen(found.get(i)) for i in ids]

    async def _requesters(self, ids: list[str]) -> list[RequesterRef | None]:
        found = await self.reads.tickets.requesters_by_id(ids)
        return [found.get(i) for i in ids]

    async def _tickets_by_requester(self, keys: list[TicketsKey]) -> list[Any]:
        src = self.reads.tickets
        groups: dict[tuple[TicketStatus, ...] | None, list[TicketsKey]] = {}
        for key in keys:
            groups.setdefault(key.statuses, []).append(key)

        async def fetch(statuses: tuple[TicketStatus, ...] | None, group: list[TicketsKey]) -> None:
            first: dict[tuple[str, str | None], int] = {}
            for k in group:  # aliases of one relation may ask for different numbers
                who = (k.customer_id, k.email)
                first[who] = max(first.get(who, 0), k.first)
            requesters = [Requester(c, e, n) for (c, e), n in first.items()]
            fields = self.wanted("ticket")
            try:
                found = await src.tickets_by_requester(requesters, statuses, fields, self.shown)
            except UpstreamError as exc:
                results.update(dict.fromkeys(group, exc))
                return
            for key in dict.fromkeys(group):
                mine = found.get(key.customer_id, [])
                for ticket in mine:  # the requester is the customer asked about
                    ticket.requester_external_id = key.customer_id
                    ticket.requester_email = key.email
                results[key] = self.visible(mine)
            self.prime_tickets([t for ts in found.values() for t in ts])

        results: dict[TicketsKey, Any] = {}
        await asyncio.gather(*(fetch(s, g) for s, g in groups.items()))
        return [results[k] for k in keys]

    # -- players -------------------------------------------------------------------------------

    async def _players(self, keys: list[PlayerKey]) -> list[Any]:
        players = self.reads.players
        by_brand: dict[str, list[str]] = {}
        for key in keys:
            for brand in self._player_brands(key):
                by_brand.setdefault(brand, []).append(key.player_id)

        async def fetch(brand: str, ids: list[str]) -> None:
            try:
                found = await players.players_by_id(brand, ids, self.wanted("player"))
            except UpstreamError as exc:
                results.update({(brand, i): exc for i in ids})
                return
            # A cached player answers for its own brand only.
            results.update(
                {(brand, i): p for i in ids if (p := found.get(i)) is not None and p.brand == brand}
            )

        results: dict[tuple[str, str], Any] = {}
        await asyncio.gather(*(fetch(b, ids) for b, ids in by_brand.items()))
        return [self._pick_player(key, results) for key in keys]

    def _player_brands(self, key: PlayerKey) -> tuple[str, ...]:
        """The brands to ask for a player in: its own, or (unknown) every brand the caller
        sees; never one the caller may not see."""
        candidates = (key.brand,) if key.brand else self.sources.players.brands
        return tuple(b for b in candidates if self.principal.sees_brand(b))

    def _pick_player(self, key: PlayerKey, results: dict[tuple[str, str], Any]) -> Any:
        answers = [results.get((b, key.player_id)) for b in self._player_brands(key)]
        found = [a for a in answers if isinstance(a, PlayerStats)]
        if found:
            return found[0]
        errors = [a for a in answers if isinstance(a, Exception)]
        return errors[0] if errors else None


def requester_held(loaders: Loaders, ticket: Ticket) -> Any:
    """The customer who asked for ``ticket`` if the request already loaded them (a list's
    tickets' requesters usually are the customers listed), else ``NOT_HELD``."""
    if not ticket.requester_external_id:
        return NOT_HELD
    return loaders.customer.settled(ticket.requester_external_id)


async def requester_of(loaders: Loaders, ticket: Ticket) -> Customer | None:
    """The customer who asked for ``ticket`` (``Ticket.requester``, and the subscriptions'
    customer filter)."""
    if ticket.requester_external_id:
        return await loaders.customer.load(ticket.requester_external_id)
    if ticket.requester_email:
        return await loaders.customer_by_email.load(ticket.requester_email)
    if not ticket.requester_id:
        return None
    ref = await loaders.requester.load(ticket.requester_id)
    if ref is None:
        return None
    if ref.customer_id:
        return await loaders.customer.load(ref.customer_id)
    if ref.email:
        return await loaders.customer_by_email.load(ref.email)
    return None

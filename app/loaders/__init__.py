"""Per-request loaders: every relation is fetched in batches, never one record at a time.

They are also where brand scope is applied on the way out: a record of a brand the caller
may not see is answered as if it did not exist, and is never primed for a later lookup.

A :class:`Loaders` lives for one GraphQL request. Each loader's batch function de-duplicates
its keys, groups them by what the upstream call needs (a status filter, a brand), lets the
connector cut them at its API's batch limit and fetch the chunks concurrently, and returns
results aligned with the keys: the record, ``None`` when it does not exist, or the exception
of the upstream call that failed for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiodataloader import DataLoader

from app.auth.principal import SYSTEM, Principal
from app.connectors.base import (
    CustomerSource,
    LeadSource,
    PlayerStatsSource,
    Requester,
    RequesterRef,
    TicketSource,
)
from app.connectors.errors import UpstreamError
from app.domain.models import Customer, Lead, PlayerStats, Ticket, TicketStatus

K = TypeVar("K", bound=Hashable)
R = TypeVar("R", Customer, Lead, Ticket, PlayerStats)
V = TypeVar("V")

#: The domain fields a request needs of an entity ("customer", "lead", "ticket", "player").
FieldsOf = Callable[[str], Collection[str]]


@dataclass(frozen=True, slots=True)
class TicketsKey:
    customer_id: str
    email: str | None
    statuses: tuple[TicketStatus, ...] | None


@dataclass(frozen=True, slots=True)
class PlayerKey:
    """A player is asked for in one brand, or in every brand when the brand is not known."""

    brand: str | None
    player_id: str


@dataclass(frozen=True, slots=True)
class Sources:
    customers: CustomerSource
    leads: LeadSource
    tickets: TicketSource
    players: PlayerStatsSource


def _loader(
    batch: Callable[[list[K]], Awaitable[list[Any]]], batching: bool = True
) -> DataLoader[K, Any]:
    async def guarded(keys: list[K]) -> list[Any]:
        try:
            return await batch(keys)
        except UpstreamError as exc:
            # One failed upstream call fails exactly the keys it served.
            return [exc] * len(keys)

    if not batching:
        return DataLoader(guarded, batch=False, cache=False)
    return DataLoader(guarded)


class Loaders:
    def __init__(
        self,
        sources: Sources,
        fields: FieldsOf,
        batching: bool = True,
        principal: Principal = SYSTEM,
    ) -> None:
        self.sources = sources
        self.fields = fields
        self.principal = principal
        self.customer: DataLoader[str, Customer | None] = _loader(self._customers, batching)
        self.customer_by_email: DataLoader[str, Customer | None] = _loader(
            self._customers_by_email, batching
        )
        self.lead: DataLoader[str, Lead | None] = _loader(self._leads, batching)
        self.leads_by_email: DataLoader[str, list[Lead]] = _loader(self._leads_by_email, batching)
        self.ticket: DataLoader[str, Ticket | None] = _loader(self._tickets, batching)
        self.tickets_by_requester: DataLoader[TicketsKey, list[Ticket]] = _loader(
            self._tickets_by_requester
        )
        self.player: DataLoader[PlayerKey, PlayerStats | None] = _loader(self._players, batching)
        self.requester: DataLoader[str, RequesterRef | None] = _loader(self._requesters, batching)

    def visible(self, records: Iterable[R]) -> list[R]:
        """The records of brands the caller may see."""
        sees = self.principal.sees_brand
        return [r for r in records if sees(r.brand)]

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

    async def _customers(self, ids: list[str]) -> list[Customer | None]:
        found = await self.sources.customers.customers_by_id(ids, self.fields("customer"))
        self.prime_customers(list(found.values()))
        return [self._seen(found.get(i)) for i in ids]

    async def _customers_by_email(self, emails: list[str]) -> list[Customer | None]:
        wanted = [e.lower() for e in emails]
        found = await self.sources.customers.customers_by_email(wanted, self.fields("customer"))
        self.prime_customers(list(found.values()))
        return [self._seen(found.get(e)) for e in wanted]

    async def _leads(self, ids: list[str]) -> list[Lead | None]:
        found = await self.sources.leads.leads_by_id(ids, self.fields("lead"))
        return [self._seen(found.get(i)) for i in ids]

    async def _leads_by_email(self, emails: list[str]) -> list[list[Lead]]:
        wanted = [e.lower() for e in emails]
        found = await self.sources.leads.leads_by_email(wanted, self.fields("lead"))
        self.prime_leads([lead for leads in found.values() for lead in leads])
        return [self.visible(found.get(e, [])) for e in wanted]

    async def _tickets(self, ids: list[str]) -> list[Ticket | None]:
        found = await self.sources.tickets.tickets_by_id(ids, self.fields("ticket"))
        return [self._seen(found.get(i)) for i in ids]

    async def _requesters(self, ids: list[str]) -> list[RequesterRef | None]:
        found = await self.sources.tickets.requesters_by_id(ids)
        return [found.get(i) for i in ids]

    async def _tickets_by_requester(self, keys: list[TicketsKey]) -> list[Any]:
        groups: dict[tuple[TicketStatus, ...] | None, list[TicketsKey]] = {}
        for key in keys:
            groups.setdefault(key.statuses, []).append(key)
        fields = self.fields("ticket")

        async def fetch(statuses: tuple[TicketStatus, ...] | None, group: list[TicketsKey]) -> None:
            requesters = [Requester(k.customer_id, k.email) for k in group]
            try:
                found = await self.sources.tickets.tickets_by_requester(
                    requesters, statuses, fields
                )
            except UpstreamError as exc:
                results.update(dict.fromkeys(group, exc))
                return
            self.prime_tickets([t for ts in found.values() for t in ts])
            results.update({k: self.visible(found.get(k.customer_id, [])) for k in group})

        results: dict[TicketsKey, Any] = {}
        await asyncio.gather(*(fetch(s, g) for s, g in groups.items()))
        return [results[k] for k in keys]

    async def _players(self, keys: list[PlayerKey]) -> list[Any]:
        players = self.sources.players
        by_brand: dict[str, list[str]] = {}
        for key in keys:
            for brand in self._player_brands(key):
                by_brand.setdefault(brand, []).append(key.player_id)
        fields = self.fields("player")

        async def fetch(brand: str, ids: list[str]) -> None:
            try:
                found = await players.players_by_id(brand, ids, fields)
            except UpstreamError as exc:
                results.update({(brand, i): exc for i in ids})
                return
            results.update({(brand, i): found.get(i) for i in ids})

        results: dict[tuple[str, str], Any] = {}
        await asyncio.gather(*(fetch(b, ids) for b, ids in by_brand.items()))
        return [self._pick_player(key, results) for key in keys]

    def _player_brands(self, key: PlayerKey) -> tuple[str, ...]:
        """The brands to ask for a player in: its own, or (unknown) every brand the caller
        sees; never one the caller may not see."""
        candidates = (key.brand,) if key.brand else self.sources.players.brands
        return tuple(b for b in candidates if self.principal.sees_brand(b))

    def _pick_player(self, key: PlayerKey, results: dict[tuple[str, str], Any]) -> Any:
        brands = self._player_brands(key)
        answers = [results.get((b, key.player_id)) for b in brands]
        found = [a for a in answers if isinstance(a, PlayerStats)]
        if found:
            return found[0]
        errors = [a for a in answers if isinstance(a, Exception)]
        return errors[0] if errors else None

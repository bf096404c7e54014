"""Per-request loaders: every relation is fetched in batches, never one record at a time.

A :class:`Loaders` lives for one GraphQL request. Each loader's batch function de-duplicates
its keys, groups them by what the upstream call needs (a status filter, a brand), and asks the
field cache, which answers what it holds fresh and lets the connector fetch only the rest, cut
at its API's batch limit, chunks concurrently. Results are aligned with the keys: the record,
``None`` when it does not exist, or the exception of the upstream call that failed for it.

They are also where brand scope is applied on the way out: a record of a brand the caller
may not see is answered as if it did not exist, and is never primed for a later lookup.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiodataloader import DataLoader

from app.auth.principal import SYSTEM, Principal
from app.cache.records import FieldCache, Served
from app.connectors.base import (
    CustomerWriter,
    LeadWriter,
    PlayerWriter,
    Requester,
    RequesterRef,
    TicketWriter,
)
from app.connectors.errors import UpstreamError
from app.domain.models import Customer, Lead, PlayerStats, Ticket, TicketStatus
from app.observability.loaders import batch as observed_batch

K = TypeVar("K", bound=Hashable)
R = TypeVar("R", Customer, Lead, Ticket, PlayerStats)

#: The domain fields a request needs of an entity ("customer", "lead", "ticket", "player").
FieldsOf = Callable[[str], Collection[str]]
Fetch = Callable[[list[str], frozenset[str]], Awaitable[dict[str, Any]]]


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
    """The source of each entity; each also takes that entity's writes."""

    customers: CustomerWriter
    leads: LeadWriter
    tickets: TicketWriter
    players: PlayerWriter


def _loader(
    name: str, batch: Callable[[list[K]], Awaitable[list[Any]]], batching: bool = True
) -> DataLoader[K, Any]:
    async def guarded(keys: list[K]) -> list[Any]:
        with observed_batch(name, len(keys)):
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
        cache: FieldCache | None = None,
    ) -> None:
        self.sources = sources
        self.fields = fields
        self.principal = principal
        self.cache = cache
        self.served = Served()
        # Records a relation or list fetched whole in this request, by entity and id.
        self._fetched: dict[str, dict[str, Any]] = {}
        self.customer: DataLoader[str, Customer | None] = _loader(
            "customer", self._customers, batching
        )
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

    # -- brand scope ---------------------------------------------------------------------------

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

    # -- the cache, or straight to the source --------------------------------------------------

    def fetch_fields(self, entity: str) -> frozenset[str]:
        """What to ask the CRM for: the request's fields, widened to whole cache groups."""
        fields = self.fields(entity)
        return self.cache.fields_for(entity, fields) if self.cache else frozenset(fields)

    async def records(
        self, entity: str, source: str, ids: list[str], fetch: Fetch
    ) -> dict[str, Any]:
        """Records by id: those this request already holds, then the cache, then the CRM."""
        held = self._fetched.get(entity, {})
        found = {i: held[i] for i in ids if i in held}
        rest = [i for i in ids if i not in found]
        if not rest:
            return found
        if self.cache is None:
            found.update(await fetch(rest, frozenset(self.fields(entity))))
        else:
            found.update(
                await self.cache.records(
                    entity, source, rest, self.fields(entity), fetch, self.served
                )
            )
        return found

    async def relation(
        self,
        kind: str,
        source: str,
        keys: list[str],
        ttl_of: str,
        compute: Callable[[list[str]], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        """Which ids a relation holds, cached with the TTL of the fastest group of the entity
        ``ttl_of`` it feeds."""
        if self.cache is None:
            return await compute(keys)
        ttl = self.cache.groups.fastest_ttl(ttl_of)
        return await self.cache.relations(kind, source, keys, ttl, compute, self.served)

    async def refresh_fields(
        self, entity: str, source: str, kind: str, keys: list[str]
    ) -> frozenset[str]:
        """The fields to ask when a relation or list answer is (re)computed: every group the
        request needs, less the groups still fresh for all the records it held last time. So a
        poll after the hot TTL asks the CRM for hot fields only, never the cold ones again."""
        if self.cache is None:
            return frozenset(self.fields(entity))
        ids: list[str] = []
        for key in keys:
            previous = await self.cache.previous(kind, source, key)
            if previous is None:
                return self.fetch_fields(entity)  # never seen: fetch whole groups
            held = previous["ids"] if isinstance(previous, dict) else previous
            ids += [held] if isinstance(held, str) else list(held or [])
        fresh = await self.cache.fresh_groups(entity, source, ids) if ids else set()
        return self.cache.fields_for(entity, self.fields(entity), skip=fresh)

    def entity(self, entity: str) -> tuple[str, Fetch, Callable[[Sequence[Any]], None]]:
        """An entity's source name, its fetch by id, and how its records are primed."""
        if entity == "customer":
            return (
                self.sources.customers.name,
                self.sources.customers.customers_by_id,
                self.prime_customers,
            )
        if entity == "lead":
            return self.sources.leads.name, self.sources.leads.leads_by_id, self.prime_leads
        if entity == "ticket":
            return self.sources.tickets.name, self.sources.tickets.tickets_by_id, self.prime_tickets
        raise ValueError(f"no list of {entity}")

    @staticmethod
    def native(record: Any) -> str:
        return str(record.player_id) if isinstance(record, PlayerStats) else str(record.id.native)

    async def keep(
        self, entity: str, source: str, records: Iterable[Any], fields: Iterable[str]
    ) -> None:
        """Records a relation or list fetched (with ``fields``) go into the record cache, and
        when fetched whole are held for this request."""
        records = list(records)
        fields = frozenset(fields)
        if self.cache is not None:
            await self.cache.put_records(entity, source, records, fields, self.served)
        if fields >= self.fetch_fields(entity):
            held = self._fetched.setdefault(entity, {})
            for record in records:
                held[self.native(record)] = record

    # -- customers -----------------------------------------------------------------------------

    async def _customers(self, ids: list[str]) -> list[Customer | None]:
        src = self.sources.customers
        found = await self.records("customer", src.name, ids, src.customers_by_id)
        self.prime_customers(list(found.values()))
        return [self._seen(found.get(i)) for i in ids]

    async def _customers_by_email(self, emails: list[str]) -> list[Customer | None]:
        src = self.sources.customers
        wanted = [e.lower() for e in emails]

        async def ids_by_email(keys: list[str]) -> dict[str, Any]:
            fields = await self.refresh_fields("customer", src.name, "customer_by_email", keys)
            found = await src.customers_by_email(keys, fields)
            await self.keep("customer", src.name, found.values(), fields)
            return {e: (found[e].id.native if e in found else None) for e in keys}

        ids = await self.relation("customer_by_email", src.name, wanted, "customer", ids_by_email)
        known = [i for i in ids.values() if i]
        found = await self.records("customer", src.name, known, src.customers_by_id)
        self.prime_customers(list(found.values()))
        return [self._seen(found.get(ids.get(e) or "")) for e in wanted]

    # -- leads ---------------------------------------------------------------------------------

    async def _leads(self, ids: list[str]) -> list[Lead | None]:
        src = self.sources.leads
        found = await self.records("lead", src.name, ids, src.leads_by_id)
        return [self._seen(found.get(i)) for i in ids]

    async def _leads_by_email(self, emails: list[str]) -> list[list[Lead]]:
        src = self.sources.leads
        wanted = [e.lower() for e in emails]

        async def ids_by_email(keys: list[str]) -> dict[str, Any]:
            fields = await self.refresh_fields("lead", src.name, "leads_by_email", keys)
            found = await src.leads_by_email(keys, fields)
            await self.keep(
                "lead", src.name, [lead for leads in found.values() for lead in leads], fields
            )
            return {e: [lead.id.native for lead in found.get(e, [])] for e in keys}

        ids = await self.relation("leads_by_email", src.name, wanted, "lead", ids_by_email)
        every = [i for e in wanted for i in ids.get(e) or []]
        found = await self.records("lead", src.name, every, src.leads_by_id)
        self.prime_leads(list(found.values()))
        return [self.visible([found[i] for i in ids.get(e) or [] if i in found]) for e in wanted]

    # -- tickets -------------------------------------------------------------------------------

    async def _tickets(self, ids: list[str]) -> list[Ticket | None]:
        src = self.sources.tickets
        found = await self.records("ticket", src.name, ids, src.tickets_by_id)
        return [self._seen(found.get(i)) for i in ids]

    async def _requesters(self, ids: list[str]) -> list[RequesterRef | None]:
        src = self.sources.tickets

        async def refs(keys: list[str]) -> dict[str, Any]:
            found = await src.requesters_by_id(keys)
            return {k: [found[k].customer_id, found[k].email] if k in found else None for k in keys}

        answers = await self.relation("requester", src.name, ids, "customer", refs)
        return [RequesterRef(*answers[i]) if answers.get(i) else None for i in ids]

    async def _tickets_by_requester(self, keys: list[TicketsKey]) -> list[Any]:
        src = self.sources.tickets
        groups: dict[tuple[TicketStatus, ...] | None, list[TicketsKey]] = {}
        for key in keys:
            groups.setdefault(key.statuses, []).append(key)

        def name(key: TicketsKey) -> str:
            statuses = ",".join(s.value for s in key.statuses) if key.statuses else "*"
            return f"{key.customer_id}|{key.email or ''}|{statuses}"

        async def fetch(statuses: tuple[TicketStatus, ...] | None, group: list[TicketsKey]) -> None:
            by_name = {name(k): k for k in group}

            async def ids_of(names: list[str]) -> dict[str, Any]:
                asked = [by_name[n] for n in names]
                requesters = [Requester(k.customer_id, k.email) for k in asked]
                fields = await self.refresh_fields("ticket", src.name, "tickets", names)
                found = await src.tickets_by_requester(requesters, statuses, fields)
                await self.keep(
                    "ticket", src.name, [t for ts in found.values() for t in ts], fields
                )
                return {
                    n: [t.id.native for t in found.get(by_name[n].customer_id, [])] for n in names
                }

            try:
                ids = await self.relation("tickets", src.name, list(by_name), "ticket", ids_of)
                every = [i for n in by_name for i in ids.get(n) or []]
                tickets = await self.records("ticket", src.name, every, src.tickets_by_id)
            except UpstreamError as exc:
                results.update(dict.fromkeys(group, exc))
                return
            for n, key in by_name.items():
                mine = [tickets[i] for i in ids.get(n) or [] if i in tickets]
                for ticket in mine:  # the requester is the customer asked about
                    ticket.requester_external_id = key.customer_id
                    ticket.requester_email = key.email
                results[key] = self.visible(mine)
            self.prime_tickets(list(tickets.values()))

        results: dict[TicketsKey, Any] = {}
        await asyncio.gather(*(fetch(s, g) for s, g in groups.items()))
        return [results[k] for k in keys]

    # -- players -------------------------------------------------------------------------------

    async def _players(self, keys: list[PlayerKey]) -> list[Any]:
        players = self.sources.players
        by_brand: dict[str, list[str]] = {}
        for key in keys:
            for brand in self._player_brands(key):
                by_brand.setdefault(brand, []).append(key.player_id)

        async def fetch(brand: str, ids: list[str]) -> None:
            async def by_id(wanted: list[str], fields: frozenset[str]) -> dict[str, Any]:
                return await players.players_by_id(brand, wanted, fields)

            try:
                # Players are cached per brand: each brand is its own namespace upstream.
                found = await self.records("player", f"{players.name}@{brand}", ids, by_id)
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

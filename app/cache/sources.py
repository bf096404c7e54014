"""The field cache as a source: the request path runs one way down.

::

    resolver ─▶ Loaders ──────────────▶ CachedSources ─────▶ connector ─▶ CRM
    resolver ─▶ lists.listing ────────▶  (this module)        one CRM's
                batch the keys (loaders), the field cache,    HTTP API
                brand scope, priming      for one request

Each wrapper here implements the source protocol of the connector it wraps
(:mod:`app.connectors.base`), so the loaders cannot tell them apart: with the cache off they
are handed the connectors themselves. Lookups by id go through :meth:`FieldCache.records`;
relations (by email, a requester's tickets, a ticket's requester) and list pages keep which
ids they answered with :meth:`FieldCache.relations`, put the records they fetched into the
record cache, and then read those records by id. Writes pass straight through.

One :class:`CachedSources` lives for one request: it records what the request was served
(:class:`~app.cache.records.Served`: stale answers, hits and misses) and holds the records a
relation or list fetched whole, so that reading them by id afterwards costs nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from typing import Any

from app.cache.records import Fetch, FieldCache, Served, answers_tag, native_id, record_tag
from app.connectors.base import (
    CustomerQuery,
    CustomerWriter,
    Fields,
    LeadQuery,
    LeadWriter,
    Page,
    PlayerWriter,
    Problem,
    Requester,
    RequesterRef,
    Shown,
    TicketQuery,
    TicketWriter,
)
from app.connectors.errors import (
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from app.domain.models import Customer, Lead, PlayerStats, Ticket, TicketStatus
from app.loaders import Sources
from app.services.pagination import scope_of

#: A list call of one query: (how many, the CRM's cursor, fields) to a page.
ListCall = Callable[[int, str | None, frozenset[str]], Awaitable[Page[Any]]]
LIST = "list_"


class CachedSources:
    """The ``connectors`` behind the field cache, for one request. ``sources`` holds the
    wrappers, one per entity, as the loaders take them; :meth:`lists` wraps a list call."""

    def __init__(self, connectors: Sources, cache: FieldCache, served: Served | None = None):
        self.connectors = connectors
        self.cache = cache
        self.served = served if served is not None else Served()
        # Records a relation or list fetched whole in this request, by entity and id.
        self._fetched: dict[str, dict[str, Any]] = {}
        self.sources = Sources(
            customers=CachedCustomers(connectors.customers, self),
            leads=CachedLeads(connectors.leads, self),
            tickets=CachedTickets(connectors.tickets, self),
            players=CachedPlayers(connectors.players, self),
        )

    async def records(
        self, entity: str, source: str, ids: list[str], fields: Fields, fetch: Fetch
    ) -> dict[str, Any]:
        """Records by id: those this request already holds, then the cache, then the CRM."""
        # Every read by id comes here (relations and lists too): what the request depends on.
        self.served.tags.update(record_tag(entity, source, i) for i in ids)
        held = self._fetched.get(entity, {})
        found = {i: held[i] for i in ids if i in held}
        rest = [i for i in ids if i not in found]
        if rest:
            found.update(await self.cache.records(entity, source, rest, fields, fetch, self.served))
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
        ttl = self.cache.groups.fastest_ttl(ttl_of)
        self.served.tags.add(answers_tag(kind))
        return await self.cache.relations(kind, source, keys, ttl, compute, self.served)

    async def refresh_fields(
        self, entity: str, source: str, kind: str, keys: list[str], fields: Fields
    ) -> frozenset[str]:
        """The fields to ask when a relation or list answer is (re)computed: every group
        ``fields`` needs, less the groups still fresh for all the records it held last time. So
        a poll after the hot TTL asks the CRM for hot fields only, never the cold ones again."""
        ids: list[str] = []
        for key in keys:
            previous = await self.cache.previous(kind, source, key)
            if previous is None:
                return self.cache.fields_for(entity, fields)  # never seen: fetch whole groups
            held = previous["ids"] if isinstance(previous, dict) else previous
            ids += [held] if isinstance(held, str) else list(held or [])
        fresh = await self.cache.fresh_groups(entity, source, ids) if ids else set()
        return self.cache.fields_for(entity, fields, skip=fresh)

    async def keep(
        self,
        entity: str,
        source: str,
        records: Iterable[Any],
        fetched: Collection[str],
        fields: Fields,
    ) -> None:
        """Records a relation or list fetched (with ``fetched``) go into the record cache, and
        when fetched whole (every group ``fields`` needs) are held for this request."""
        records = list(records)
        fetched = frozenset(fetched)
        await self.cache.put_records(entity, source, records, fetched, self.served)
        if fetched >= self.cache.fields_for(entity, fields):
            held = self._fetched.setdefault(entity, {})
            for record in records:
                held[native_id(record)] = record

    def lists(
        self, entity: str, query: object, total: bool, fetch: ListCall
    ) -> Callable[[int, str | None, Fields], Awaitable[Page[Any]]]:
        """``fetch``, a list call of ``query``, through the cache.

        A page's answer (which ids, the CRM's next cursor, the total) is cached with the TTL
        of the entity's fastest group, and its records go into the record cache, so a poll of
        the same page costs only the refresh of what is really hot."""
        scope = scope_of(entity, query)
        source, by_id = self._by_id(entity)

        async def page(count: int, cursor: str | None, fields: Fields) -> Page[Any]:
            key = f"{scope}|{cursor or ''}|{count}|{int(total)}"

            async def compute(keys: list[str]) -> dict[str, Any]:
                # Refreshing a page, ask only for the groups its records do not hold fresh.
                fetched = await self.refresh_fields(entity, source, LIST + entity, [key], fields)
                page = await fetch(count, cursor, fetched)
                await self.keep(entity, source, page.items, fetched, fields)
                ids = [native_id(r) for r in page.items]
                failed = stored_error(page.total_error)
                return {key: {"ids": ids, "next": page.next_cursor, "total": page.total, **failed}}

            answer = (await self.relation(LIST + entity, source, [key], entity, compute))[key]
            found = await self.records(entity, source, answer["ids"], fields, by_id)
            items = [found[i] for i in answer["ids"] if i in found]
            return Page(items, answer["next"], answer["total"], restored_error(answer))

        return page

    def _by_id(self, entity: str) -> tuple[str, Fetch]:
        """An entity's source name and its connector's fetch by id."""
        if entity == "customer":
            return self.connectors.customers.name, self.connectors.customers.customers_by_id
        if entity == "lead":
            return self.connectors.leads.name, self.connectors.leads.leads_by_id
        if entity == "ticket":
            return self.connectors.tickets.name, self.connectors.tickets.tickets_by_id
        raise ValueError(f"no list of {entity}")


class CachedCustomers:
    def __init__(self, inner: CustomerWriter, cached: CachedSources) -> None:
        self.inner = inner
        self.cached = cached
        self.name = inner.name
        self.batch_limit = inner.batch_limit

    async def customers_by_id(self, ids: Sequence[str], fields: Fields) -> dict[str, Customer]:
        return await self.cached.records(
            "customer", self.name, list(ids), fields, self.inner.customers_by_id
        )

    async def customers_by_email(
        self, emails: Sequence[str], fields: Fields
    ) -> dict[str, Customer]:
        cached = self.cached

        async def ids_by_email(keys: list[str]) -> dict[str, Any]:
            fetched = await cached.refresh_fields(
                "customer", self.name, "customer_by_email", keys, fields
            )
            found = await self.inner.customers_by_email(keys, fetched)
            await cached.keep("customer", self.name, found.values(), fetched, fields)
            return {e: (found[e].id.native if e in found else None) for e in keys}

        ids = await cached.relation(
            "customer_by_email", self.name, list(emails), "customer", ids_by_email
        )
        found = await self.customers_by_id([i for i in ids.values() if i], fields)
        return {e: found[i] for e in emails if (i := ids.get(e)) and i in found}

    async def list_customers(
        self, query: CustomerQuery, first: int, cursor: str | None, fields: Fields, total: bool
    ) -> Page[Customer]:
        def fetch(count: int, at: str | None, asked: frozenset[str]) -> Awaitable[Page[Any]]:
            return self.inner.list_customers(query, count, at, asked, total)

        return await self.cached.lists("customer", query, total, fetch)(first, cursor, fields)

    async def create_contact(self, values: dict[str, Any]) -> str:
        return await self.inner.create_contact(values)

    async def update_contact(self, contact_id: str, values: dict[str, Any]) -> None:
        await self.inner.update_contact(contact_id, values)


class CachedLeads:
    def __init__(self, inner: LeadWriter, cached: CachedSources) -> None:
        self.inner = inner
        self.cached = cached
        self.name = inner.name
        self.batch_limit = inner.batch_limit
        self.brand_field = inner.brand_field
        self.max_batch = inner.max_batch
        self.http = inner.http

    async def leads_by_id(self, ids: Sequence[str], fields: Fields) -> dict[str, Lead]:
        return await self.cached.records(
            "lead", self.name, list(ids), fields, self.inner.leads_by_id
        )

    async def leads_by_email(self, emails: Sequence[str], fields: Fields) -> dict[str, list[Lead]]:
        cached = self.cached

        async def ids_by_email(keys: list[str]) -> dict[str, Any]:
            fetched = await cached.refresh_fields("lead", self.name, "leads_by_email", keys, fields)
            found = await self.inner.leads_by_email(keys, fetched)
            every = [lead for leads in found.values() for lead in leads]
            await cached.keep("lead", self.name, every, fetched, fields)
            return {e: [lead.id.native for lead in found.get(e, [])] for e in keys}

        ids = await cached.relation("leads_by_email", self.name, list(emails), "lead", ids_by_email)
        found = await self.leads_by_id([i for e in emails for i in ids.get(e) or []], fields)
        return {e: [found[i] for i in ids.get(e) or [] if i in found] for e in emails}

    async def list_leads(
        self, query: LeadQuery, first: int, cursor: str | None, fields: Fields, total: bool
    ) -> Page[Lead]:
        def fetch(count: int, at: str | None, asked: frozenset[str]) -> Awaitable[Page[Any]]:
            return self.inner.list_leads(query, count, at, asked, total)

        return await self.cached.lists("lead", query, total, fetch)(first, cursor, fields)

    async def create_lead(self, values: dict[str, Any]) -> str:
        return await self.inner.create_lead(values)

    async def update_lead(self, lead_id: str, values: dict[str, Any]) -> None:
        await self.inner.update_lead(lead_id, values)

    async def create_leads(
        self, records: list[dict[str, Any]]
    ) -> list[tuple[str | None, list[Problem]]]:
        return await self.inner.create_leads(records)


class CachedTickets:
    def __init__(self, inner: TicketWriter, cached: CachedSources) -> None:
        self.inner = inner
        self.cached = cached
        self.name = inner.name
        self.batch_limit = inner.batch_limit

    async def requesters_by_id(self, ids: Sequence[str]) -> dict[str, RequesterRef]:
        async def refs(keys: list[str]) -> dict[str, Any]:
            found = await self.inner.requesters_by_id(keys)
            return {k: [found[k].customer_id, found[k].email] if k in found else None for k in keys}

        answers = await self.cached.relation("requester", self.name, list(ids), "customer", refs)
        return {i: RequesterRef(*answers[i]) for i in ids if answers.get(i)}

    async def tickets_by_id(self, ids: Sequence[str], fields: Fields) -> dict[str, Ticket]:
        return await self.cached.records(
            "ticket", self.name, list(ids), fields, self.inner.tickets_by_id
        )

    async def tickets_by_requester(
        self,
        requesters: Sequence[Requester],
        statuses: tuple[TicketStatus, ...] | None,
        fields: Fields,
        shown: Shown | None = None,
    ) -> dict[str, list[Ticket]]:
        cached = self.cached
        wanted = ",".join(s.value for s in statuses) if statuses else "*"
        by_name = {_tickets_name(r, wanted, shown): r for r in requesters}

        async def ids_of(names: list[str]) -> dict[str, Any]:
            asked = [by_name[n] for n in names]
            fetched = await cached.refresh_fields("ticket", self.name, "tickets", names, fields)
            found = await self.inner.tickets_by_requester(asked, statuses, fetched, shown)
            every = [t for ts in found.values() for t in ts]
            await cached.keep("ticket", self.name, every, fetched, fields)
            return {n: [t.id.native for t in found.get(by_name[n].customer_id, [])] for n in names}

        ids = await cached.relation("tickets", self.name, list(by_name), "ticket", ids_of)
        tickets = await self.tickets_by_id([i for n in by_name for i in ids.get(n) or []], fields)
        return {
            r.customer_id: [tickets[i] for i in ids.get(n) or [] if i in tickets]
            for n, r in by_name.items()
        }

    async def list_tickets(
        self, query: TicketQuery, first: int, cursor: str | None, fields: Fields, total: bool
    ) -> Page[Ticket]:
        def fetch(count: int, at: str | None, asked: frozenset[str]) -> Awaitable[Page[Any]]:
            return self.inner.list_tickets(query, count, at, asked, total)

        return await self.cached.lists("ticket", query, total, fetch)(first, cursor, fields)

    async def create_ticket(self, values: dict[str, Any]) -> str:
        return await self.inner.create_ticket(values)

    async def update_ticket(self, ticket_id: str, values: dict[str, Any]) -> None:
        await self.inner.update_ticket(ticket_id, values)

    async def ticket_id_by_external_id(self, external_id: str) -> str | None:
        return await self.inner.ticket_id_by_external_id(external_id)


def _tickets_name(requester: Requester, statuses: str, shown: Shown | None) -> str:
    """A requester's tickets' entry: a list that may stop at their ``first`` newest shown is
    kept for that number and that caller's view only."""
    name = f"{requester.customer_id}|{requester.email or ''}|{statuses}"
    if requester.first is None:
        return name
    return f"{name}|{requester.first}@{shown.scope if shown else '*'}"


class CachedPlayers:
    def __init__(self, inner: PlayerWriter, cached: CachedSources) -> None:
        self.inner = inner
        self.cached = cached
        self.name = inner.name
        self.batch_limit = inner.batch_limit
        self.brands = inner.brands

    async def players_by_id(
        self, brand: str, ids: Sequence[str], fields: Fields
    ) -> dict[str, PlayerStats]:
        async def by_id(wanted: list[str], asked: frozenset[str]) -> dict[str, Any]:
            return await self.inner.players_by_id(brand, wanted, asked)

        # Players are cached per brand: each brand is its own namespace upstream.
        return await self.cached.records("player", f"{self.name}@{brand}", list(ids), fields, by_id)

    async def award_points(
        self, brand: str, player_id: str, delta: int, reason: str, key: str
    ) -> None:
        await self.inner.award_points(brand, player_id, delta, reason, key)


# A failed count is kept with its page as plain data (cached answers are JSON) and raised again
# from it, so a page served from the cache says its count failed just as the first answer did.
_FAILURES: dict[str, type[UpstreamError]] = {
    UpstreamTimeout.code: UpstreamTimeout,
    UpstreamRateLimited.code: UpstreamRateLimited,
}


def stored_error(error: UpstreamError | None) -> dict[str, Any]:
    """A list count's failure as plain data, to keep with its page's answer."""
    if error is None:
        return {}
    return {
        "total_error": {
            "code": error.code,
            "source": error.source,
            "message": error.message,
            "retry_after": error.retry_after,
        }
    }


def restored_error(answer: dict[str, Any]) -> UpstreamError | None:
    """The count's failure, as the upstream error it was (a count route answering 404 is the
    CRM failing to serve the list, not a missing record: ``UPSTREAM_UNAVAILABLE``)."""
    stored = answer.get("total_error")
    if not stored:
        return None
    kind = _FAILURES.get(stored["code"], UpstreamUnavailable)
    return kind(stored["source"], stored["message"], retry_after=stored["retry_after"])

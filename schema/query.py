"""The Query root: thin resolvers that read arguments, call a loader or a list, wrap."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import strawberry

from app.connectors.base import CustomerQuery, LeadQuery, TicketQuery, TimeRange
from app.connectors.errors import UnsupportedQuery
from app.domain.models import PlayerStats
from app.loaders import PlayerKey
from app.services import lists, pagination
from app.services.pagination import InvalidCursor
from schema.cache import CacheStatus, cache_status
from schema.common import (
    Connection,
    DateTimeRange,
    Node,
    connection,
    lookup,
    page_size,
    parse_id,
)
from schema.context import Info
from schema.customers import CustomerFilter, CustomerType
from schema.errors import BadUserInput, Forbidden, NotFound
from schema.leads import LeadFilter, LeadType
from schema.mutations import SyncJob, sync_job
from schema.players import PlayerStatsType
from schema.sources import SourceStatus, source_statuses
from schema.sync_jobs import visible
from schema.tickets import TicketFilter, TicketType


def _custom(info: Info, entity: str, given: Any) -> tuple[tuple[str, Any], ...]:
    """A ``custom`` filter (coerced by its typed input) as (path, the CRM's value) pairs."""
    if not given:
        return ()
    fields = info.context.gateway.entities[entity].custom
    return tuple(
        sorted(
            (fields[name].path, fields[name].type.write(value))
            for name, value in given.items()
            if value is not None
        )
    )


def _span(value: DateTimeRange | None) -> TimeRange:
    return TimeRange() if value is None else TimeRange(after=value.after, before=value.before)


def _brands(info: Info, value: list[str] | None) -> tuple[str, ...] | None:
    """The brands a list may show: those asked for, within the caller's own."""
    wanted = None if value is None else tuple(sorted(set(value)))
    return info.context.principal.brand_filter(wanted)


async def _load(info: Info, entity: str, id: str) -> Any:
    found = await lookup(info, entity, id)
    if found is None:
        raise NotFound(f"no {entity} with id {parse_id(id)}")
    return found


async def _page(info: Info, call: Awaitable[pagination.Connection[Any]]) -> Connection[Any]:
    """One page of a list. Whatever fails here (a refused cursor or filter value, the CRM)
    answers an empty connection with the error at the list's path (``schema.execution``)."""
    try:
        return connection(await call, info)
    except InvalidCursor as exc:
        raise BadUserInput(str(exc), argument="after") from None
    except UnsupportedQuery as exc:
        argument = "after" if exc.field == "cursor" else f"filter.{_camel(exc.field)}"
        raise BadUserInput(f"{argument} {exc}", argument=argument) from None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _limit(info: Info, first: int | None) -> int:
    return page_size(
        50 if first is None else first, info.context.gateway.settings.server.max_page_size
    )


@strawberry.type
class Query:
    @strawberry.field(description="Any object by its global id.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        node = parse_id(id)
        sources = info.context.loaders.sources
        entity = {
            sources.customers.name: "customer",
            sources.leads.name: "lead",
            sources.tickets.name: "ticket",
        }.get(node.source)
        if entity is None:
            raise NotFound(f"no object with id {node}")
        access = info.context.access
        # Decided by the id's source alone, before any lookup, so the answer is the same for
        # every id of it: it tells nothing of the record, only what `lead(id:)` would say.
        if access is not None and not access.policy.may_read(
            info.context.principal.roles, "Query", entity
        ):
            raise Forbidden(f"your role may not read a {entity}")
        return await _load(info, entity, id)  # type: ignore[no-any-return]

    @strawberry.field
    async def customer(self, info: Info, id: strawberry.ID) -> CustomerType | None:
        return await _load(info, "customer", id)  # type: ignore[no-any-return]

    @strawberry.field
    async def lead(self, info: Info, id: strawberry.ID) -> LeadType | None:
        return await _load(info, "lead", id)  # type: ignore[no-any-return]

    @strawberry.field
    async def ticket(self, info: Info, id: strawberry.ID) -> TicketType | None:
        return await _load(info, "ticket", id)  # type: ignore[no-any-return]

    @strawberry.field(graphql_type=PlayerStatsType | None)
    async def player_stats(self, info: Info, player_id: strawberry.ID) -> PlayerStats | None:
        found = await info.context.loaders.player.load(PlayerKey(None, str(player_id)))
        if found is None:
            raise NotFound(f"no player with id {player_id}")
        return found

    @strawberry.field
    async def customers(
        self,
        info: Info,
        first: int | None = 50,
        after: str | None = None,
        filter: CustomerFilter | None = None,
    ) -> Connection[CustomerType]:
        f = filter or CustomerFilter()
        query = CustomerQuery(
            email=f.email.lower() if f.email else None,
            brands=_brands(info, f.brand),
            company=f.company,
            lifecycle_stage=f.lifecycle_stage,
            created=_span(f.created_at),
            updated=_span(f.updated_at),
            custom=_custom(info, "customer", f.custom),
        )
        loaders = info.context.loaders
        total = info.context.selection.selects("CustomerConnection", "totalCount")
        source = loaders.sources.customers
        return await _page(
            info,
            lists.listing(
                loaders,
                "customer",
                query,
                _limit(info, first),
                after,
                total,
                lambda n, cursor, fields: source.list_customers(query, n, cursor, fields, total),
            ),
        )

    @strawberry.field
    async def leads(
        self,
        info: Info,
        first: int | None = 50,
        after: str | None = None,
        filter: LeadFilter | None = None,
    ) -> Connection[LeadType]:
        f = filter or LeadFilter()
        query = LeadQuery(
            email=f.email.lower() if f.email else None,
            brands=_brands(info, f.brand),
            company=f.company,
            statuses=None
            if f.status is None
            else tuple(sorted(set(f.status), key=lambda s: s.value)),
            created=_span(f.created_at),
            updated=_span(f.updated_at),
            custom=_custom(info, "lead", f.custom),
        )
        loaders = info.context.loaders
        total = info.context.selection.selects("LeadConnection", "totalCount")
        source = loaders.sources.leads
        return await _page(
            info,
            lists.listing(
                loaders,
                "lead",
                query,
                _limit(info, first),
                after,
                total,
                lambda n, cursor, fields: source.list_leads(query, n, cursor, fields, total),
            ),
        )

    @strawberry.field
    async def tickets(
        self,
        info: Info,
        first: int | None = 50,
        after: str | None = None,
        filter: TicketFilter | None = None,
    ) -> Connection[TicketType]:
        f = filter or TicketFilter()
        query = TicketQuery(
            brands=_brands(info, f.brand),
            statuses=None
            if f.status is None
            else tuple(sorted(set(f.status), key=lambda s: s.value)),
            requester_email=f.requester_email.lower() if f.requester_email else None,
            created=_span(f.created_at),
            updated=_span(f.updated_at),
            custom=_custom(info, "ticket", f.custom),
        )
        loaders = info.context.loaders
        total = info.context.selection.selects("TicketConnection", "totalCount")
        source = loaders.sources.tickets
        return await _page(
            info,
            lists.listing(
                loaders,
                "ticket",
                query,
                _limit(info, first),
                after,
                total,
                lambda n, cursor, fields: source.list_tickets(query, n, cursor, fields, total),
            ),
        )

    # Nullable, so that an unknown job (NOT_FOUND) or a refusal costs only this field.
    @strawberry.field(description="A queued write: its state, attempts and last error.")
    async def sync_job(self, info: Info, id: strawberry.ID) -> SyncJob | None:
        outbox = info.context.gateway.outbox
        job = await outbox.get(str(id)) if outbox is not None else None
        if job is not None and not await visible(info, job):
            raise NotFound(f"no sync job {id}")  # as sync_job() words an unknown id
        return await sync_job(info, str(id))

    @strawberry.field(description="The field cache: hits, misses, stale serves, hot fields.")
    def cache(self, info: Info) -> CacheStatus | None:
        return cache_status(info.context.gateway)

    @strawberry.field(description="Each upstream: healthy, degraded or down, and why.")
    def sources(self, info: Info) -> list[SourceStatus]:
        return source_statuses(info.context.gateway)

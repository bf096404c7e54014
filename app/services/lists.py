"""Lists of customers, leads and tickets as Relay connections, through the field cache."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from app.connectors.base import Page
from app.loaders import Loaders
from app.services.pagination import Connection, paginate, scope_of

T = TypeVar("T")
LIST = "list_"


async def listing(
    loaders: Loaders,
    entity: str,
    query: object,
    first: int,
    after: str | None,
    total: bool,
    fetch: Callable[[int, str | None, frozenset[str]], Awaitable[Page[Any]]],
) -> Connection[Any]:
    """One page of the ``entity`` list matching ``query``.

    A page's answer (which ids, the CRM's next cursor, the total) is cached with the TTL of
    the entity's fastest group, and its records go into the record cache, so a poll of the
    same page costs only the refresh of what is really hot. Every record shown is primed into
    the request's loaders. The caller's brands are already in ``query`` (pushed down to the
    CRM); they are checked again on the way out, so a CRM that ignored the filter still leaks
    nothing. A query that can match no brand asks the CRM nothing."""
    if getattr(query, "brands", None) == ():
        return Connection(edges=[], has_next_page=False, end_cursor=None, total_count=0)
    source, by_id, prime = loaders.entity(entity)
    scope = scope_of(entity, query)

    async def fetch_page(count: int, cursor: str | None) -> Page[Any]:
        key = f"{scope}|{cursor or ''}|{count}|{int(total)}"

        async def compute(keys: list[str]) -> dict[str, Any]:
            # Refreshing a page, ask only for the groups its records do not hold fresh: a poll
            # after the hot TTL fetches hot fields, never the cold ones again.
            fields = await loaders.refresh_fields(entity, source, LIST + entity, [key])
            page = await fetch(count, cursor, fields)
            await loaders.keep(entity, source, page.items, fields)
            ids = [loaders.native(r) for r in page.items]
            return {key: {"ids": ids, "next": page.next_cursor, "total": page.total}}

        answer = (await loaders.relation(LIST + entity, source, [key], entity, compute))[key]
        found = await loaders.records(entity, source, answer["ids"], by_id)
        shown = loaders.visible([found[i] for i in answer["ids"] if i in found])
        prime(shown)
        return Page(items=shown, next_cursor=answer["next"], total=answer["total"])

    return await paginate(scope, first, after, fetch_page)

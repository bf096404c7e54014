"""Lists of customers, leads and tickets as Relay connections.

A list call goes one way down, like the loaders': to the connector's own list call, or, with
the field cache on, to the same call behind it (:meth:`app.cache.sources.CachedSources.lists`
keeps each page's answer and its records). Here a page is only paginated, scoped to the
caller's brands and primed into the request's loaders.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from app.cache.sources import restored_error, stored_error
from app.connectors.base import Page
from app.loaders import Loaders
from app.services.pagination import Connection, paginate, scope_of


async def listing(
    loaders: Loaders,
    entity: str,
    query: object,
    first: int,
    after: str | None,
    total: bool,
    fetch: Callable[[int, str | None, frozenset[str]], Awaitable[Page[Any]]],
) -> Connection[Any]:
    """One page of the ``entity`` list matching ``query``; ``fetch`` is the connector's list
    call of that query.

    Every record shown is primed into the request's loaders. The caller's brands are already
    in ``query`` (pushed down to the CRM); they are checked again on the way out, so a CRM that
    ignored the filter still leaks nothing. A query that can match no brand asks the CRM
    nothing."""
    if getattr(query, "brands", None) == ():
        return Connection(edges=[], has_next_page=False, end_cursor=None, total_count=0)
    if loaders.cached is not None:
        fetch = loaders.cached.lists(entity, query, total, fetch)
    prime = loaders.prime(entity)

    async def fetch_page(count: int, cursor: str | None) -> Page[Any]:
        page = await fetch(count, cursor, loaders.wanted(entity))
        shown = loaders.visible(page.items)
        prime(shown)
        # A failed count reads the same whether its page came from the CRM or the cache.
        total_error = restored_error(stored_error(page.total_error))
        return Page(shown, page.next_cursor, page.total, total_error)

    return await paginate(scope_of(entity, query), first, after, fetch_page)

"""Lists of customers, leads and tickets as Relay connections, priming the loaders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from app.connectors.base import Page
from app.services.pagination import Connection, paginate, scope_of

T = TypeVar("T")


async def listing(
    kind: str,
    query: object,
    first: int,
    after: str | None,
    fetch: Callable[[int, str | None], Awaitable[Page[T]]],
    prime: Callable[[Sequence[T]], None],
    visible: Callable[[list[T]], list[T]],
) -> Connection[T]:
    """One page of the ``kind`` list matching ``query``; every record read is primed into
    the request's loaders, so relations to it cost nothing more.

    The caller's brands are already in ``query`` (pushed down to the CRM); ``visible`` checks
    them again on the way out, so a CRM that ignored the filter still leaks nothing. A query
    that can match no brand at all asks the CRM nothing."""
    if getattr(query, "brands", None) == ():
        return Connection(edges=[], has_next_page=False, end_cursor=None, total_count=0)

    async def fetch_and_prime(count: int, cursor: str | None) -> Page[T]:
        page = await fetch(count, cursor)
        shown = visible(page.items)
        prime(shown)
        return Page(items=shown, next_cursor=page.next_cursor, total=page.total)

    return await paginate(scope_of(kind, query), first, after, fetch_and_prime)

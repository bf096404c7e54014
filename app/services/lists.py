"""Lists of customers, leads and tickets as Relay connections, through the field cache."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from app.connectors.base import Page
from app.connectors.errors import (
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
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
            total_error = _stored(page.total_error)
            return {key: {"ids": ids, "next": page.next_cursor, "total": page.total, **total_error}}

        answer = (await loaders.relation(LIST + entity, source, [key], entity, compute))[key]
        found = await loaders.records(entity, source, answer["ids"], by_id)
        shown = loaders.visible([found[i] for i in answer["ids"] if i in found])
        prime(shown)
        return Page(shown, answer["next"], answer["total"], _restored(answer))

    return await paginate(scope, first, after, fetch_page)


# A failed count is kept with its page as plain data (cached answers are JSON) and raised again
# from it, so a page served from the cache says its count failed just as the first answer did.
_FAILURES: dict[str, type[UpstreamError]] = {
    UpstreamTimeout.code: UpstreamTimeout,
    UpstreamRateLimited.code: UpstreamRateLimited,
}


def _stored(error: UpstreamError | None) -> dict[str, Any]:
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


def _restored(answer: dict[str, Any]) -> UpstreamError | None:
    """The count's failure, as the upstream error it was (a count route answering 404 is the
    CRM failing to serve the list, not a missing record: ``UPSTREAM_UNAVAILABLE``)."""
    stored = answer.get("total_error")
    if not stored:
        return None
    kind = _FAILURES.get(stored["code"], UpstreamUnavailable)
    return kind(stored["source"], stored["message"], retry_after=stored["retry_after"])

"""Zendesk Support v2 over HTTP, as Zendesk's own OpenAPI file describes it.

Routes carry the vendor's path templates (``{ticket_id}`` also takes Zendesk's ``123.json``
form). Every request needs HTTP Basic ``{email}/token:{api token}``; anything else is ``401
{"error": "Couldn't authenticate you"}``. Lists page by cursor when ``page[size]`` is given
(``meta``/``links``) and by offset otherwise (``next_page``/``previous_page``/``count``), as
Zendesk's do; search is offset-paged and capped at 1,000 results, while its export is
cursor-paged, uncapped and ordered by ``created_at`` alone (newest first, as the cursor in
Zendesk's own example says: ``{"field":"created_at","desc":true,"tieBreakField":"id",
"tieBreakDesc":false,…}``). An export's cursor expires after an hour, as Zendesk's reference
says (then ``400 InvalidPaginationParameter``); ``POST /__expire_cursors`` (test control, no
credentials) makes every cursor issued so far expire at once. Zendesk warns that an export
page of 1,000 may be slow or time out on an account with many archived tickets (it recommends
100): ``PUT /__slow_exports {"above": 100, "ms": 3000}`` (test control) makes every export page
of more than ``above`` results take ``ms`` longer; ``DELETE`` undoes it. ``__reset?data=true``
undoes both.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeGuard
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.simulators.control import ASGIApp, RateLimit, Receive, Scope, Send, SimulatorControl
from app.simulators.credentials import ZENDESK_API_TOKEN, ZENDESK_EMAIL
from app.simulators.responses import dumps
from app.simulators.webhooks import WebhookSender
from app.simulators.world import World
from app.simulators.zendesk.dialect import ZendeskDialect, error_body, status_body
from app.simulators.zendesk.events import SCHEME, TicketEvents
from app.simulators.zendesk.metadata import metadata_routes
from app.simulators.zendesk.search import Record, SearchError, compile_query, parse, run
from app.simulators.zendesk.store import (
    STATUS_RANK,
    RecordInvalid,
    RecordNotFound,
    Ticket,
    UpdateConflict,
    User,
    ZendeskStore,
    iso,
)

#: What an Enterprise account advertises: 700 requests a minute.
NOMINAL = RateLimit(requests=700, per_seconds=60)
MAX_IDS = 100
MAX_PAGE_SIZE = 100
SEARCH_RESULT_LIMIT = 1000
EXPORT_PAGE_SIZE = 100  # what the live export pages by when page[size] is not given
MAX_EXPORT_PAGE_SIZE = 1000
EXPORT_TYPES = ("ticket", "user", "organization", "group")  # we hold only the first two
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ApiError(Exception):
    """An error answer in Zendesk's shape."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(body)
        self.status, self.body = status, body


def _dumps(data: Any) -> bytes:
    return dumps(data)


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return _raw(_dumps(data), status, headers)


def _raw(payload: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(payload, status, headers, media_type="application/json; charset=utf-8")


def _envelope(key: str, items: Iterable[bytes], extra: dict[str, Any] | None = None) -> bytes:
    """``{"key": [items…], **extra}`` from records that are already JSON."""
    body = b'{"' + key.encode() + b'":[' + b",".join(items) + b"]"
    if extra:
        body += b"," + _dumps(extra)[1:-1]
    return body + b"}"


def _base(request: Request) -> str:
    # The simulator's own root, so that urls and links lead back here (Request.base_url would
    # name the outermost app, not the /zendesk mount).
    url = request.url
    return f"{url.scheme}://{url.netloc}{request.scope.get('root_path', '')}/"


def _url(request: Request, path: str, params: Sequence[tuple[str, Any]]) -> str:
    return f"{_base(request)}{path}?{urlencode([(k, str(v)) for k, v in params])}"


def _path_id(request: Request, name: str) -> int:
    raw = str(request.path_params[name]).removesuffix(".json")
    if not raw.isdigit():
        raise RecordNotFound(raw)
    return int(raw)


def _tokens(request: Request, name: str) -> list[str]:
    """A comma-separated list parameter, refused past Zendesk's 100 values."""
    tokens = [t.strip() for t in request.query_params.get(name, "").split(",") if t.strip()]
    if len(tokens) > MAX_IDS:
        description = f"{name} accepts at most {MAX_IDS} values; {len(tokens)} were given"
        raise ApiError(400, error_body("TooManyValues", description))
    return list(dict.fromkeys(tokens))


def _ids(request: Request, name: str) -> list[int]:
    return [int(t) for t in _tokens(request, name) if t.isdigit()]


def _invalid_attribute(name: str, where: str) -> ApiError:
    # Zendesk's words for a page parameter it cannot read.
    message = (
        f"You passed an invalid value for the {name} attribute. "
        f"Invalid parameter: {name} must be an integer from {where}"
    )
    return ApiError(400, {"error": {"title": "Invalid attribute", "message": message}})


def _positive(request: Request, name: str, default: int, where: str) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise _invalid_attribute(name, where)
    return int(raw)


@dataclass(frozen=True)
class OffsetPage:
    """``page`` and ``per_page`` (at most 100), as Zendesk's offset pagination reads them."""

    number: int
    size: int

    @classmethod
    def of(cls, request: Request, where: str) -> OffsetPage:
        size = min(_positive(request, "per_page", MAX_PAGE_SIZE, where), MAX_PAGE_SIZE)
        return cls(_positive(request, "page", 1, where), size)

    @property
    def start(self) -> int:
        return (self.number - 1) * self.size

    @property
    def end(self) -> int:
        return self.number * self.size

    def tail(
        self, request: Request, path: str, total: int, reachable: int | None = None
    ) -> dict[str, Any]:
        """``next_page``, ``previous_page`` and ``count``; pages stop at ``reachable``."""
        keep = [
            (k, v) for k, v in request.query_params.multi_items() if k not in ("page", "per_page")
        ]

        def link(number: int) -> str:
            return _url(request, path, [*keep, ("page", number), ("per_page", self.size)])

        last = total if reachable is None else min(total, reachable)
        return {
            "next_page": link(self.number + 1) if self.end < last else None,
            "previous_page": link(self.number - 1) if self.number > 1 else None,
            "count": total,
        }


def _pagination_error(description: str) -> ApiError:
    return ApiError(400, error_body("InvalidPaginationParameter", description))


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(
            400, error_body("InvalidJSON", "The request body is not valid JSON")
        ) from None
    if not isinstance(body, dict):
        raise ApiError(400, error_body("InvalidJSON", "The request body must be a JSON object"))
    return body


# -- cursor paging ------------------------------------------------------------------------------


def _encode_cursor(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_cursor(cursor: str) -> Any:
    """What a cursor holds, or None when it is not one of ours."""
    try:
        return json.loads(base64.urlsafe_b64decode(cursor.encode() + b"=="))
    except (ValueError, TypeError, binascii.Error):
        return None


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class Ordering:
    """Ticket ids in a list's order; cursors name the ticket a page stops at."""

    name: str
    ids: Sequence[int]
    ascending_ids: bool = False  # ids sorted ascending: locate a cursor by bisection
    _index: dict[int, int] | None = field(default=None, repr=False)

    def cursor(self, ticket_id: int) -> str:
        return _encode_cursor({"o": self.name, "v": ticket_id})

    def anchor(self, cursor: str) -> int:
        decoded = _decode_cursor(cursor)
        anchor = decoded.get("v") if isinstance(decoded, dict) else None
        if not _is_int(anchor) or decoded.get("o") != self.name:
            raise _pagination_error("The cursor is invalid for this list")
        return anchor

    def locate(self, anchor: int, after: bool) -> int:
        """The position just past the anchor (``after``) or at it (for a page before it)."""
        if self.ascending_ids:
            return (bisect_right if after else bisect_left)(self.ids, anchor)
        if self._index is None:
            self._index = {ticket_id: i for i, ticket_id in enumerate(self.ids)}
        if anchor not in self._index:
            raise _pagination_error("The cursor is invalid for this list")
        return self._index[anchor] + (1 if after else 0)


_LIST_SORTS: dict[str, Callable[[Ticket], Any]] = {
    "id": lambda t: t.id,
    "created_at": lambda t: t.created_at,
    "updated_at": lambda t: t.updated_at,
    "status": lambda t: STATUS_RANK[t.status],
}


def ticket_ordering(store: ZendeskStore, sort: str | None) -> Ordering:
    """``sort=id|created_at|updated_at|status``, ``-`` first for descending."""
    sort = sort or "id"
    attribute = sort.removeprefix("-")
    if attribute not in _LIST_SORTS:
        raise _pagination_error(f"sort must be one of {', '.join(_LIST_SORTS)} (or -name)")
    if sort == "id":
        return Ordering("id", store.ticket_ids, ascending_ids=True)
    key = _LIST_SORTS[attribute]
    ids = sorted(
        store.ticket_ids, key=lambda i: (key(store.tickets[i]), i), reverse=sort.startswith("-")
    )
    return Ordering(sort, ids)


# -- authentication -----------------------------------------------------------------------------


class TokenAuth:
    """HTTP Basic with ``{email}/token:{api token}``, checked before any route runs."""

    def __init__(self, app: ASGIApp, email: str, token: str) -> None:
        self.app = app
        self.expected = f"{email}/token:{token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = scope["path"][len(scope.get("root_path", "")) :]
        if scope["type"] == "http" and not route.startswith("/__") and not self._authorised(scope):
            refusal = _json(
                {"error": "Couldn't authenticate you"},
                401,
                {"WWW-Authenticate": 'Basic realm="Web Password"'},
            )
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _authorised(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, encoded = bytes(value).partition(b" ")
                if scheme.lower() != b"basic":
                    return False
                try:
                    decoded = base64.b64decode(encoded.strip(), validate=True)
                except binascii.Error:
                    return False
                return hmac.compare_digest(decoded, self.expected)
        return False


# -- the API ----------------------------------------------------------------------------------


#: How long an export's cursor is taken: "The cursor specified by the after_cursor property in
#: a response expires after one hour."
EXPORT_CURSOR_SECONDS = 3600.0


class ZendeskApi:
    def __init__(self, store: ZendeskStore, events: TicketEvents) -> None:
        self.store = store
        self.events = events
        #: Export cursors issued before this moment (``time.time()``) have expired.
        self.cursors_expired_at = 0.0
        #: An export page of more than ``[0]`` results takes ``[1]`` seconds longer.
        self.slow_exports: tuple[int, float] | None = None

    def routes(self) -> list[BaseRoute]:
        # Literal paths before the templates that would swallow them.
        return [
            Route("/api/v2/tickets/show_many", self.show_many_tickets, methods=["GET"]),
            Route("/api/v2/tickets/create_many", self.create_many_tickets, methods=["POST"]),
            Route("/api/v2/tickets/count", self.count_tickets, methods=["GET"]),
            Route("/api/v2/tickets", self.list_tickets, methods=["GET"]),
            Route("/api/v2/tickets", self.create_ticket, methods=["POST"]),
            Route("/api/v2/tickets/{ticket_id}", self.show_ticket, methods=["GET"]),
            Route("/api/v2/tickets/{ticket_id}", self.update_ticket, methods=["PUT"]),
            Route("/api/v2/users/show_many", self.show_many_users, methods=["GET"]),
            Route("/api/v2/users/search", self.search_users, methods=["GET"]),
            Route("/api/v2/users/me", self.show_me, methods=["GET"]),
            Route(
                "/api/v2/users/{user_id}/tickets/requested", self.requested_tickets, methods=["GET"]
            ),
            Route("/api/v2/users/{user_id}", self.show_user, methods=["GET"]),
            Route("/api/v2/job_statuses/{job_status_id}", self.show_job_status, methods=["GET"]),
            Route("/api/v2/search", self.search, methods=["GET"]),
            Route("/api/v2/search/count", self.count_search_results, methods=["GET"]),
            Route("/api/v2/search/export", self.export_search_results, methods=["GET"]),
            Route("/__expire_cursors", self.expire_cursors, methods=["POST"]),
            Route("/__slow_exports", self.slow_export_pages, methods=["PUT", "DELETE"]),
        ]

    async def slow_export_pages(self, request: Request) -> Response:
        """Test control: an account whose large export pages are slow (PUT), or not (DELETE)."""
        if request.method == "DELETE":
            self.slow_exports = None
            return Response(status_code=204)
        body = await _body(request)
        above, ms = body.get("above"), body.get("ms")
        if not _is_int(above) or not isinstance(ms, int | float) or above < 1 or ms < 0:
            raise ApiError(400, error_body("invalid", "give above (≥ 1) and ms (≥ 0)"))
        self.slow_exports = (above, ms / 1000)
        return Response(status_code=204)

    def reseed(self) -> None:
        """The seeded records back, every cursor good again and no export page slow."""
        self.store.reseed()
        self.cursors_expired_at = 0.0
        self.slow_exports = None

    async def expire_cursors(self, request: Request) -> Response:
        """Test control: every export cursor issued so far expires, as an hour would do."""
        self.cursors_expired_at = time.time()
        return Response(status_code=204)

    # -- tickets --------------------------------------------------------------------------

    async def show_ticket(self, request: Request) -> Response:
        ticket = self.store.ticket(_path_id(request, "ticket_id"))
        return _raw(b'{"ticket":' + ticket.json(_base(request)) + b"}")

    async def show_many_tickets(self, request: Request) -> Response:
        base, tickets = _base(request), self.store.tickets
        found = (tickets[i] for i in _ids(request, "ids") if i in tickets)
        return _raw(_envelope("tickets", (t.json(base) for t in found)))

    async def list_tickets(self, request: Request) -> Response:
        ordering = ticket_ordering(self.store, request.query_params.get("sort"))
        return self._ticket_list(request, ordering, "api/v2/tickets")

    async def requested_tickets(self, request: Request) -> Response:
        user = self.store.user(_path_id(request, "user_id"))
        ordering = Ordering("id", self.store.requested_ids(user.id), ascending_ids=True)
        return self._ticket_list(request, ordering, f"api/v2/users/{user.id}/tickets/requested")

    async def count_tickets(self, request: Request) -> Response:
        # Exact below Zendesk's 100,000 threshold, where the live count is refreshed on demand.
        refreshed_at = iso(self.store.clock())
        return _json({"count": {"value": len(self.store.tickets), "refreshed_at": refreshed_at}})

    async def create_ticket(self, request: Request) -> Response:
        body = await _body(request)
        ticket = self.store.create_ticket(body.get("ticket"), self.store.api_user)
        self.events.created([ticket], self.store.api_user.id)
        base = _base(request)
        location = {"Location": f"{base}api/v2/tickets/{ticket.id}.json"}
        return _raw(b'{"ticket":' + ticket.json(base) + b"}", 201, location)

    async def update_ticket(self, request: Request) -> Response:
        ticket_id = _path_id(request, "ticket_id")
        body = await _body(request)
        before = self.events.snapshot(self.store.ticket(ticket_id))
        actor = self.store.api_user
        ticket, audit = self.store.update_ticket(ticket_id, body.get("ticket"), actor)
        self.events.updated(ticket, before, actor.id)
        return _raw(
            b'{"ticket":' + ticket.json(_base(request)) + b',"audit":' + _dumps(audit) + b"}"
        )

    async def create_many_tickets(self, request: Request) -> Response:
        items = (await _body(request)).get("tickets")
        if not isinstance(items, list):
            problem = {
                "description": "Tickets: must be an array of tickets",
                "error": "InvalidValue",
            }
            raise RecordInvalid({"tickets": [problem]})
        if len(items) > MAX_IDS:
            description = f"tickets accepts at most {MAX_IDS} values; {len(items)} were given"
            raise ApiError(400, error_body("TooManyValues", description))
        job = self.store.create_many(items, self.store.api_user)
        created = (self.store.tickets[r["id"]] for r in job.results if "id" in r)
        self.events.created(created, self.store.api_user.id)
        return _json({"job_status": job.wire(_base(request))})

    async def show_job_status(self, request: Request) -> Response:
        job_id = str(request.path_params["job_status_id"]).removesuffix(".json")
        return _json({"job_status": self.store.job(job_id).wire(_base(request))})

    def _ticket_list(self, request: Request, ordering: Ordering, path: str) -> Response:
        params = request.query_params
        if any(k in params for k in ("page[size]", "page[after]", "page[before]")):
            return self._cursor_page(request, ordering, path)
        page = OffsetPage.of(request, f"{path}/index")
        base, chunk = _base(request), ordering.ids[page.start : page.end]
        tail = page.tail(request, path, len(ordering.ids))
        return _raw(_envelope("tickets", (self.store.tickets[i].json(base) for i in chunk), tail))

    def _cursor_page(self, request: Request, ordering: Ordering, path: str) -> Response:
        params = request.query_params
        raw_size = params.get("page[size]", str(MAX_PAGE_SIZE))
        if not raw_size.isdigit() or not 1 <= int(raw_size) <= MAX_PAGE_SIZE:
            raise _pagination_error(f"page[size] must be an integer from 1 to {MAX_PAGE_SIZE}")
        size, ids = int(raw_size), ordering.ids
        if "page[before]" in params:
            end = ordering.locate(ordering.anchor(params["page[before]"]), after=False)
            start = max(end - size, 0)
            has_more = start > 0
        else:
            after = params.get("page[after]")
            start = ordering.locate(ordering.anchor(after), after=True) if after else 0
            end = min(start + size, len(ids))
            has_more = end < len(ids)
        chunk = ids[start:end]
        first = ordering.cursor(chunk[0]) if chunk else None
        last = ordering.cursor(chunk[-1]) if chunk else None
        extra = [(k, v) for k, v in params.multi_items() if not k.startswith("page[")]
        size_param = ("page[size]", size)
        tail = {
            "meta": {"has_more": has_more, "after_cursor": last, "before_cursor": first},
            "links": {
                "next": _url(request, path, [size_param, ("page[after]", last), *extra])
                if last
                else None,
                "prev": _url(request, path, [size_param, ("page[before]", first), *extra])
                if first
                else None,
            },
        }
        base = _base(request)
        return _raw(_envelope("tickets", (self.store.tickets[i].json(base) for i in chunk), tail))

    # -- users ----------------------------------------------------------------------------

    async def show_user(self, request: Request) -> Response:
        user = self.store.user(_path_id(request, "user_id"))
        return _raw(b'{"user":' + user.json(_base(request)) + b"}")

    async def show_me(self, request: Request) -> Response:
        return _raw(b'{"user":' + self.store.api_user.json(_base(request)) + b"}")

    async def show_many_users(self, request: Request) -> Response:
        store, params = self.store, request.query_params
        found: list[User]
        if "ids" in params:
            found = [store.users[i] for i in _ids(request, "ids") if i in store.users]
        else:
            hits = (store.user_by_external_id(e) for e in _tokens(request, "external_ids"))
            found = [u for u in hits if u is not None]
        base = _base(request)
        return _raw(_envelope("users", (u.json(base) for u in found)))

    async def search_users(self, request: Request) -> Response:
        params, store = request.query_params, self.store
        found: Sequence[Any]
        if "external_id" in params:
            user = store.user_by_external_id(params["external_id"])
            found = [] if user is None else [user]
        elif params.get("query", "").strip():
            found = run(compile_query(params["query"], store, types={"user"}), store)
        else:
            found = []
        page = OffsetPage.of(request, "api/v2/users/search")
        tail = page.tail(request, "api/v2/users/search", len(found))
        base = _base(request)
        return _raw(_envelope("users", (u.json(base) for u in found[page.start : page.end]), tail))

    # -- search ---------------------------------------------------------------------------

    async def search(self, request: Request) -> Response:
        params, where = request.query_params, "api/v2/search/index"
        text = _search_text(request)
        page = OffsetPage.of(request, where)
        if page.end > SEARCH_RESULT_LIMIT:
            description = (
                "Invalid search: Requested response size was greater than Search Response Limits"
            )
            raise ApiError(422, error_body("invalid", description))
        query = compile_query(text, self.store)
        hits = run(query, self.store, params.get("sort_by"), params.get("sort_order"))
        tail = {
            "facets": None,
            **page.tail(request, "api/v2/search", len(hits), SEARCH_RESULT_LIMIT),
        }
        base = _base(request)
        results = (_search_result(r, base) for r in hits[page.start : page.end])
        return _raw(_envelope("results", results, tail))

    async def count_search_results(self, request: Request) -> Response:
        query = compile_query(_search_text(request), self.store)
        return _json({"count": len(run(query, self.store))})

    async def export_search_results(self, request: Request) -> Response:
        params, path = request.query_params, "api/v2/search/export"
        text = _search_text(request)
        kind = _export_type(params.get("filter[type]"))
        terms = parse(text)
        if any(term.keyword == "type" for term in terms):
            description = (
                "Invalid search: the type keyword is not allowed in an export query; "
                "use the filter[type] parameter"
            )
            raise ApiError(400, error_body("invalid", description))
        size = _export_page_size(params.get("page[size]"))
        if self.slow_exports is not None and size > self.slow_exports[0]:
            await asyncio.sleep(self.slow_exports[1])
        if "page[before]" in params:
            raise _pagination_error("page[before] is not supported: exports page forward only")
        hits = run(compile_query(terms, self.store, types={kind}), self.store)
        hits.sort(key=_export_key)
        after = params.get("page[after]")
        if after:
            oldest = max(time.time() - EXPORT_CURSOR_SECONDS, self.cursors_expired_at)
            start = bisect_right(hits, _export_anchor(after, kind, oldest), key=_export_key)
        else:
            start = 0
        chunk, has_more = hits[start : start + size], start + size < len(hits)
        last = _export_cursor(kind, chunk[-1], time.time()) if chunk else None
        following = [("filter[type]", kind), ("page[after]", last), ("page[size]", size)]
        tail = {
            "facets": None,
            "meta": {"has_more": has_more, "after_cursor": last, "before_cursor": None},
            # Exports page forward only: "prev" is always null.
            "links": {
                "prev": None,
                "next": _url(request, path, [*following, ("query", text)]) if has_more else None,
            },
        }
        base = _base(request)
        return _raw(_envelope("results", (_search_result(r, base) for r in chunk), tail))


def _search_text(request: Request) -> str:
    text = request.query_params.get("query", "")
    if not text.strip():
        raise ApiError(400, error_body("invalid", "Invalid search: the query is empty"))
    return text


# -- search export: one record type, newest first, keyset cursors --------------------------------


def _export_type(raw: str | None) -> str:
    if raw is None or not raw.strip():
        description = (
            f"Invalid search: filter[type] is required; it must be one of {', '.join(EXPORT_TYPES)}"
        )
        raise ApiError(400, error_body("invalid", description))
    kind = raw.strip().lower()
    if kind not in EXPORT_TYPES:
        description = f"Invalid search: filter[type] must be one of {', '.join(EXPORT_TYPES)}"
        raise ApiError(400, error_body("invalid", description))
    return kind


def _export_page_size(raw: str | None) -> int:
    if raw is None:
        return EXPORT_PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_EXPORT_PAGE_SIZE:
        raise _pagination_error(f"page[size] must be an integer from 1 to {MAX_EXPORT_PAGE_SIZE}")
    return int(raw)


def _micros(moment: datetime) -> int:
    since = moment - _EPOCH
    return (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds


def _export_key(record: Record) -> tuple[int, int]:
    """``created_at`` descending, then ``id`` ascending: Zendesk's export order."""
    return -_micros(record.created_at), record.id


def _export_cursor(kind: str, record: Record, issued: float) -> str:
    return _encode_cursor(
        {"o": "export", "f": kind, "t": _micros(record.created_at), "v": record.id, "at": issued}
    )


def _export_anchor(cursor: str, kind: str, oldest: float) -> tuple[int, int]:
    """The sort key of the record a page stopped at: the next page starts just past it. A
    cursor issued before ``oldest`` has expired."""
    decoded = _decode_cursor(cursor)
    if not isinstance(decoded, dict) or (decoded.get("o"), decoded.get("f")) != ("export", kind):
        raise _pagination_error("The cursor is invalid for this export")
    moment, record_id, issued = decoded.get("t"), decoded.get("v"), decoded.get("at")
    if not _is_int(moment) or not _is_int(record_id) or not isinstance(issued, float | int):
        raise _pagination_error("The cursor is invalid for this export")
    if issued < oldest:
        raise _pagination_error("The cursor has expired")
    return -moment, record_id


def _search_result(record: Ticket | User, base: str) -> bytes:
    kind = b"ticket" if isinstance(record, Ticket) else b"user"
    return record.json(base)[:-1] + b',"result_type":"' + kind + b'"}'


# -- errors and assembly ------------------------------------------------------------------------


async def _error_response(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ApiError):
        return _json(exc.body, exc.status)
    if isinstance(exc, RecordNotFound):
        return _json(error_body("RecordNotFound", "Not found"), 404)
    if isinstance(exc, RecordInvalid):
        return _json(error_body("RecordInvalid", "Record validation errors", exc.details), 422)
    if isinstance(exc, UpdateConflict):
        description = (
            "Safe Update prevented the update due to outdated ticket data. "
            "Please fetch the latest ticket data and try again."
        )
        return _json(error_body("UpdateConflict", description), 409)
    if isinstance(exc, SearchError):
        return _json(error_body("invalid", f"Invalid search: {exc}"), 400)
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return _json(status_body(status), status)


def create_app(world: World) -> SimulatorControl:
    store = ZendeskStore(world)
    webhooks = WebhookSender(SCHEME)
    api = ZendeskApi(store, TicketEvents(webhooks))
    routes = api.routes()
    routes += metadata_routes(world.brands, _base, store, _body)
    handled = (ApiError, RecordNotFound, RecordInvalid, UpdateConflict, SearchError, HTTPException)
    app = Starlette(routes=routes, exception_handlers=dict.fromkeys(handled, _error_response))
    secured = TokenAuth(app, ZENDESK_EMAIL, ZENDESK_API_TOKEN)
    return SimulatorControl(
        secured,
        routes,
        ZendeskDialect(),
        NOMINAL,
        seed=world.seed,
        reseed=api.reseed,
        webhooks=webhooks,
    )

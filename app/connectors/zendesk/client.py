"""Zendesk Support v2: tickets, and the end-users who request them.

Basic auth with an API token (``{email}/token`` and the token). Requesters are linked to
customers by the user's ``external_id`` (the customer's id) and, failing that, by email.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Generator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from app.connectors.base import (
    Fields,
    Page,
    Requester,
    RequesterRef,
    Shown,
    Tally,
    TicketQuery,
    count_apart,
)
from app.connectors.errors import (
    UnsupportedQuery,
    UpstreamProtocolError,
    UpstreamRejected,
    UpstreamTimeout,
)
from app.connectors.http import UpstreamClient, error_text, said
from app.connectors.paging import Cursors
from app.connectors.secret import LiveSecret
from app.connectors.zendesk import payloads
from app.connectors.zendesk.mapping import ticket_map
from app.domain.entities import make
from app.domain.ids import NodeId
from app.domain.models import Ticket, TicketStatus
from app.mapping import converters as c
from app.mapping.fieldmap import FieldMap, Wire
from app.resilience import deadline

log = logging.getLogger(__name__)


def describe_error(response: httpx.Response) -> str:
    body = response.json()
    error = body.get("error")
    if isinstance(error, dict):  # some endpoints nest {"title", "message"}
        error = error.get("title") or error.get("message")
    return error_text(error, body.get("description"))


class ZendeskTokenAuth(httpx.Auth):
    """Basic ``{email}/token:{api_token}``, with the token read at each request."""

    def __init__(self, email: str, api_token: LiveSecret) -> None:
        self.email = email
        self.api_token = api_token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        basic = httpx.BasicAuth(f"{self.email}/token", self.api_token.value())
        yield from basic.auth_flow(request)


def _problems(response: httpx.Response) -> list[tuple[list[str], str, str]]:
    """Zendesk's 422 ``details``: field → [{"description", "error"}]."""
    try:
        details = response.json().get("details") or {}
    except (ValueError, AttributeError):
        return []
    found = []
    for field, problems in details.items() if isinstance(details, dict) else []:
        for problem in problems if isinstance(problems, list) else []:
            if isinstance(problem, dict):
                code = str(problem.get("error", "INVALID")).upper()
                found.append(([field], code, str(problem.get("description", ""))[:300]))
    return found


_NEVER = datetime.min.replace(tzinfo=UTC)


def _age(ticket: Ticket) -> tuple[datetime, int]:
    """Sorted on in reverse: newest first, then by id, as Zendesk's export orders them."""
    native = ticket.id.native
    return ticket.created_at or _NEVER, -int(native) if native.isdigit() else 0


def _place(record: dict[str, Any]) -> tuple[datetime, int] | None:
    """A record's ``_age``, read from the wire; None if it cannot be told."""
    native = str(record.get("id"))
    try:
        created = c.iso_datetime(record.get("created_at"))
    except c.ConversionError:
        return None
    if created is None or not native.isdigit():
        return None
    return created, -int(native)


class _Enough:
    """How many of each requester's newest tickets are read, in one ``tickets_by_requester``
    call: who needs no older ones."""

    def __init__(
        self,
        requesters: Mapping[str, Requester],
        users: asyncio.Future[dict[str, str]],
        shown: Shown | None,
    ) -> None:
        self.requesters = requesters
        self.users = users  # customer id → Zendesk user id
        self.shown = shown
        self.owner: dict[str, str] = {}  # Zendesk user id → customer id
        self.tally = Tally(requesters.values(), shown) if shown is not None else None

    def whole(self) -> _Enough:
        """The same requesters, read to the export's end."""
        return _Enough(self.requesters, self.users, None)

    async def ready(self) -> None:
        if not self.owner:
            self.owner = {user: customer for customer, user in (await self.users).items()}

    def wants(self, record: dict[str, Any]) -> bool:
        """Whether ``record`` may be one of its requester's tickets still needed. (One of a
        requester with no customer is not shown at all.)"""
        assert self.tally is not None
        customer = self.owner.get(str(record.get("requester_id")))
        return customer is not None and self.tally.wants(customer)

    def took(self, ticket: Ticket) -> None:
        assert self.tally is not None
        customer = self.owner.get(ticket.requester_id or "")
        if customer is not None:
            self.tally.took(customer, ticket)

    def short(self, emails: list[str]) -> list[str]:
        """The ``emails`` of requesters still short of their ``first`` shown tickets. A
        requester with no Zendesk user has no ticket to show."""
        assert self.tally is not None
        found = self.users.result()
        wanting = {
            r.email
            for customer, r in self.requesters.items()
            if customer in found and self.tally.wants(customer)
        }
        return [e for e in emails if e in wanting]


def chunked(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


#: How long exports are asked for in pages of 100 after a larger page timed out.
SMALL_PAGES_SECONDS = 3600.0


class ZendeskClient:
    batch_limit = payloads.SHOW_MANY_LIMIT

    def __init__(
        self,
        name: str,
        http: UpstreamClient,
        *,
        brands: Mapping[int, str],
        custom: Mapping[str, Wire] | None = None,
    ) -> None:
        self.name = name
        self.http = http
        self.brands = dict(brands)
        self.brand_ids: dict[str, list[int]] = {}
        for zendesk_id, key in self.brands.items():
            self.brand_ids.setdefault(key, []).append(zendesk_id)
        #: The config's custom fields (``custom_fields.<id>`` for a ticket field).
        self.custom = dict(custom or {})
        self.map: FieldMap = ticket_map(self.brands).with_fields(self.custom)
        #: Until when (``time.monotonic()``) export pages are asked for at 100, since one
        #: larger timed out.
        self._small_pages_until = -math.inf

    async def tickets_by_id(self, ids: Sequence[str], fields: Fields) -> dict[str, Ticket]:
        keys = list(dict.fromkeys(ids))
        answers = await asyncio.gather(
            *(
                self._get(
                    "/api/v2/tickets/show_many",
                    {"ids": ",".join(chunk)},
                    items=len(chunk),
                )
                for chunk in chunked(keys, self.batch_limit)
            )
        )
        found: dict[str, Ticket] = {}
        for answer in answers:
            for record in self.http.records(answer, "tickets"):
                ticket = self._ticket(record, fields)
                found[ticket.id.native] = ticket
        return found

    async def tickets_by_requester(
        self,
        requesters: Sequence[Requester],
        statuses: tuple[TicketStatus, ...] | None,
        fields: Fields,
        shown: Shown | None = None,
    ) -> dict[str, list[Ticket]]:
        if statuses is not None and not statuses:
            return {}
        by_customer = {r.customer_id: r for r in requesters}
        emails = sorted({r.email for r in requesters if r.email})
        if not emails:
            return {}
        terms = payloads.status_terms(statuses) if statuses else []
        if shown is not None and shown.brands is not None:  # the caller's brands only
            ids = [i for brand in sorted(shown.brands) for i in self.brand_ids.get(brand, [])]
            if not ids:
                return {}
            terms += [payloads.term("brand_id", str(i)) for i in ids]
        # Users (to tie each ticket to its customer) and tickets are asked for at once.
        users = asyncio.ensure_future(self.users_by_external_id(list(by_customer)))
        enough = _Enough(by_customer, users, shown)
        searches = [
            self._requested(terms, chunk, fields, enough)
            for chunk in chunked(emails, self.batch_limit)
        ]
        found_users, pages = await asyncio.gather(users, asyncio.gather(*searches))
        owner = {user_id: customer for customer, user_id in found_users.items()}
        found: dict[str, list[Ticket]] = {}
        for page in pages:
            for ticket in page:
                customer = owner.get(ticket.requester_id or "")
                if customer is None:
                    continue
                ticket.requester_external_id = customer
                ticket.requester_email = by_customer[customer].email
                found.setdefault(customer, []).append(ticket)
        for tickets in found.values():
            tickets.sort(key=_age, reverse=True)
        return found

    async def _requested(
        self, terms: list[str], emails: list[str], fields: Fields, enough: _Enough
    ) -> list[Ticket]:
        """The tickets (matching ``terms``) of the requesters with ``emails``, from the export.

        While its records come in the order the tickets are answered in (newest first, then
        by id, as Zendesk's own export), a requester with enough of their newest tickets read
        needs none older: their older records are not read into tickets, and the pages after
        are a new export of the other requesters only (what it gives again is read once). If
        the order breaks after a record or requester was passed over, the export is read again
        whole."""
        tickets: dict[str, Ticket] = {}
        capped, passed_over = enough.shown is not None, False
        asked, last = emails, None
        cursors = Cursors(self.name, f"GET {payloads.EXPORT}")
        params = self._export_params(terms, emails)
        while True:
            answer, params = await self._export(params)
            records = self.http.records(answer, "results")
            if capped:
                await enough.ready()
            for record in records:
                if capped:
                    place = _place(record)
                    if place is None or (last is not None and place > last):
                        if passed_over:
                            return await self._requested(terms, asked, fields, enough.whole())
                        capped = False
                    last = place
                native = str(record.get("id"))
                if native in tickets:
                    continue
                if capped and not enough.wants(record):
                    passed_over = True
                    continue
                ticket = tickets[native] = self._ticket(record, fields)
                if capped:
                    enough.took(ticket)
            meta = answer.get("meta") or {}
            if not meta.get("has_more") or not meta.get("after_cursor"):
                return list(tickets.values())
            if capped:
                short = enough.short(emails)
                if not short:
                    return list(tickets.values())
                if len(short) < len(emails):
                    emails, last, passed_over = short, None, True
                    cursors = Cursors(self.name, f"GET {payloads.EXPORT}")
                    params = self._export_params(terms, emails)
                    continue
            params = {**params, "page[after]": cursors.follow(meta["after_cursor"])}

    async def users_by_external_id(self, external_ids: Sequence[str]) -> dict[str, str]:
        """Zendesk user id for each external id found (external id → user id)."""
        answers = await asyncio.gather(
            *(
                self._get(
                    "/api/v2/users/show_many", {"external_ids": ",".join(chunk)}, items=len(chunk)
                )
                for chunk in chunked(list(dict.fromkeys(external_ids)), self.batch_limit)
            )
        )
        found: dict[str, str] = {}
        for answer in answers:
            for user in self.http.records(answer, "users"):
                if user.get("external_id") and user.get("id") is not None:
                    found[str(user["external_id"])] = str(user["id"])
        return found

    async def requesters_by_id(self, ids: Sequence[str]) -> dict[str, RequesterRef]:
        answers = await asyncio.gather(
            *(
                self._get("/api/v2/users/show_many", {"ids": ",".join(chunk)}, items=len(chunk))
                for chunk in chunked(list(dict.fromkeys(ids)), self.batch_limit)
            )
        )
        return {
            str(user["id"]): RequesterRef(
                customer_id=c.text(user.get("external_id")), email=c.email(user.get("email"))
            )
            for answer in answers
            for user in self.http.records(answer, "users")
            if user.get("id") is not None
        }

    async def update_ticket(self, ticket_id: str, values: dict[str, Any]) -> None:
        """Change a ticket: only the fields given are sent. ``status`` and ``priority`` are our
        enum names; ``comment`` becomes a public comment."""
        ticket: dict[str, Any] = {}
        if "subject" in values:
            ticket["subject"] = values["subject"]
        if "status" in values:
            ticket["status"] = payloads.STATUS_WORDS[TicketStatus[values["status"]]]
        if "priority" in values:
            ticket["priority"] = str(values["priority"]).lower()
        if "comment" in values:
            ticket["comment"] = {"body": values["comment"], "public": True}
        ticket.update(payloads.custom_fields(values.get("custom")))
        route = "/api/v2/tickets/{ticket_id}"
        response = await self.http.send(
            "PUT", f"/api/v2/tickets/{ticket_id}", route=f"PUT {route}", json={"ticket": ticket}
        )
        if response.status_code == 422:
            raise UpstreamRejected(
                self.name,
                said(describe_error, response),
                status=422,
                problems=_problems(response),
            )
        self.http.raise_for_status(response, describe_error)

    async def create_ticket(self, values: dict[str, Any]) -> str:
        """Create a ticket for a requester by email (Zendesk finds or makes the end-user)."""
        requester: dict[str, Any] = {"email": values["requester_email"]}
        requester["name"] = values.get("requester_name") or values["requester_email"]
        ticket: dict[str, Any] = {
            "subject": values["subject"],
            "comment": {"body": values["description"]},
            "requester": requester,
        }
        if values.get("priority"):
            ticket["priority"] = str(values["priority"]).lower()
        if values.get("external_id"):
            ticket["external_id"] = values["external_id"]
        ticket.update(payloads.custom_fields(values.get("custom")))
        brand_ids = self.brand_ids.get(values.get("brand") or "", [])
        if brand_ids:
            ticket["brand_id"] = brand_ids[0]
        response = await self.http.send(
            "POST", "/api/v2/tickets", route="POST /api/v2/tickets", json={"ticket": ticket}
        )
        if response.status_code == 422:
            raise UpstreamRejected(
                self.name,
                said(describe_error, response),
                status=422,
                problems=_problems(response),
            )
        self.http.raise_for_status(response, describe_error)
        created = self.http.json(response).get("ticket") or {}
        if created.get("id") is None:
            raise UpstreamProtocolError(self.name, "the create answer has no ticket id")
        return str(created["id"])

    async def ticket_id_by_external_id(self, external_id: str) -> str | None:
        """The ticket created with ``external_id`` (how a create whose answer was lost is
        found), or None. Zendesk's search index may lag a create by a few seconds."""
        params = {
            "query": f'external_id:"{external_id}"',
            "filter[type]": "ticket",
            "page[size]": "10",
        }
        answer = await self._get(payloads.EXPORT, params)
        for record in self.http.records(answer, "results"):
            if record.get("external_id") == external_id and record.get("id") is not None:
                return str(record["id"])
        return None

    async def list_tickets(
        self, query: TicketQuery, first: int, cursor: str | None, fields: Fields, total: bool
    ) -> Page[Ticket]:
        search = payloads.ticket_search(query, self.brand_ids)
        if search is None:
            return Page(items=[], next_cursor=None, total=0)
        if not search:
            return await self._list_all(first, cursor, fields, total)
        params = {
            "query": search,
            "filter[type]": "ticket",
            "page[size]": str(min(first, self.export_page)),
        }
        if cursor:
            params["page[after]"] = cursor
        (answer, _), count = await asyncio.gather(
            self._export(params, first, resuming=cursor is not None),
            count_apart(self._count(search) if total else None),
        )
        items = [self._ticket(r, fields) for r in self.http.records(answer, "results")][:first]
        meta = answer.get("meta") or {}
        after = meta.get("after_cursor") if meta.get("has_more") else None
        return Page.counted(items, after, count)

    async def _list_all(
        self, first: int, cursor: str | None, fields: Fields, total: bool
    ) -> Page[Ticket]:
        items: list[Ticket] = []
        after = cursor
        cursors = Cursors(self.name, "GET /api/v2/tickets")
        count_task = asyncio.ensure_future(count_apart(self._count_all() if total else None))
        try:
            while True:
                params = {"page[size]": str(min(first - len(items), payloads.LIST_PAGE_LIMIT))}
                if after:
                    params["page[after]"] = after
                resuming = after is not None and after == cursor
                answer = await self._resumed("/api/v2/tickets", params, first, resuming)
                items += [self._ticket(r, fields) for r in self.http.records(answer, "tickets")]
                meta = answer.get("meta") or {}
                after = meta.get("after_cursor") if meta.get("has_more") else None
                if after is None or len(items) >= first:
                    break
                cursors.follow(after)
        except BaseException:
            count_task.cancel()  # the page failed: its count is not wanted
            raise
        return Page.counted(items[:first], after, await count_task)

    async def _resumed(
        self,
        route: str,
        params: Mapping[str, str],
        items: int | None,
        resuming: bool,
        retry_timeouts: bool = True,
    ) -> Any:
        """A page of a list; ``resuming``: ``params`` carry the caller's cursor. Zendesk's
        refusal of that cursor is the caller's to mend: an export's cursor expires after an
        hour (Zendesk's reference), so a list resumed later must be asked again."""
        try:
            return await self._get(route, params, items, retry_timeouts)
        except UpstreamRejected as exc:
            if not resuming or exc.status != 400:
                raise
            raise UnsupportedQuery(
                "cursor",
                "is a cursor Zendesk no longer takes (an export's expire after an hour): ask "
                f"for the list again without it. Zendesk said {exc.message}",
            ) from exc

    @property
    def export_page(self) -> int:
        """The most an export page is asked for: 1,000, or 100 for an hour after a page of more
        timed out."""
        if time.monotonic() < self._small_pages_until:
            return payloads.SAFE_EXPORT_PAGE
        return payloads.EXPORT_PAGE_LIMIT

    def _export_params(self, terms: list[str], emails: list[str]) -> dict[str, str]:
        requested = [payloads.term("requester", e) for e in emails]
        return {
            "query": " ".join([*terms, *requested]),
            "filter[type]": "ticket",
            "page[size]": str(self.export_page),
        }

    async def _export(
        self, params: dict[str, str], items: int | None = None, resuming: bool = False
    ) -> tuple[Any, dict[str, str]]:
        """One page of the search export, and the params it was asked with.

        Zendesk warns that a page of 1,000 may be slow or time out when the account has many
        archived tickets, and recommends 100. So a page larger than 100 may take half of the
        request's time left at most; if it times out, it is not asked again as it was (other
        failures are retried as any call's are) but at 100, in the other half, as are this
        source's exports for the next hour (a cursor does not hold the page size: the pages
        after go on at 100)."""
        size = int(params["page[size]"])
        left = deadline.remaining()
        if size <= payloads.SAFE_EXPORT_PAGE or (left is not None and left <= 0):
            # (with no time left, the call says so: that says nothing of the page's size)
            return await self._resumed(payloads.EXPORT, params, items, resuming), params
        try:
            async with asyncio.timeout(None if left is None else left / 2):
                answer = await self._resumed(
                    payloads.EXPORT, params, items, resuming, retry_timeouts=False
                )
        except (UpstreamTimeout, TimeoutError):
            log.warning(
                "an export page of %d timed out: %s's exports ask for %d a page for an hour",
                size,
                self.name,
                payloads.SAFE_EXPORT_PAGE,
            )
            self._small_pages_until = time.monotonic() + SMALL_PAGES_SECONDS
            params = {**params, "page[size]": str(payloads.SAFE_EXPORT_PAGE)}
            return await self._resumed(payloads.EXPORT, params, items, resuming), params
        return answer, params

    async def _count(self, search: str) -> int:
        answer = await self._get("/api/v2/search/count", {"query": f"type:ticket {search}"})
        return self._number(answer.get("count", 0), "search count")

    async def _count_all(self) -> int:
        answer = await self._get("/api/v2/tickets/count", {})
        return self._number((answer.get("count") or {}).get("value"), "ticket count")

    def _number(self, value: Any, what: str) -> int:
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise UpstreamProtocolError(self.name, f"the {what} is not a number") from exc

    async def setup(self, resource: str) -> list[dict[str, Any]]:
        """One list of the account's setup (``ticket_fields``, ``brands``), unpaginated."""
        answer = await self._get(f"/api/v2/{resource}", {})
        found = answer.get(resource) if isinstance(answer, dict) else None
        if not isinstance(found, list):
            raise UpstreamProtocolError(self.name, f"answer to GET /api/v2/{resource} has none")
        return [item for item in found if isinstance(item, dict)]

    async def _get(
        self,
        route: str,
        params: Mapping[str, str],
        items: int | None = None,
        retry_timeouts: bool = True,
    ) -> Any:
        """One GET's JSON object, retried as the source's policy says (a timeout too, if
        ``retry_timeouts``); error statuses raise."""
        response = await self.http.send(
            "GET",
            route,
            route=f"GET {route}",
            params=params,
            items=items,
            retry_timeouts=retry_timeouts,
        )
        self.http.raise_for_status(response, describe_error)
        answer = self.http.json(response)
        if not isinstance(answer, dict):
            raise UpstreamProtocolError(self.name, f"answer to GET {route} is not an object")
        return answer

    def _ticket(self, record: dict[str, Any], fields: Fields) -> Ticket:
        native = record.get("id")
        if native is None:
            raise UpstreamProtocolError(self.name, "a ticket came without an id")
        mapped = self.map.read(record, [*fields, "brand", "requester_id", "created_at"])
        if mapped.problems:
            log.warning(
                "unreadable fields in a record",
                extra={"source": self.name, "record": native, "problems": mapped.problems},
            )
        node = NodeId(self.name, str(native))
        return make(Ticket, mapped.values, id=node, problems=mapped.problems)

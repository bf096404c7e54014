"""Microsoft Dynamics 365 (Dataverse Web API v9.2): contacts as customers, leads as leads,
incidents (cases) as tickets. OAuth 2.0 client credentials (see ``auth.py``).

Lookups by many ids or emails are ``Microsoft.Dynamics.CRM.In`` filters of up to 100 keys;
more keys than one filter takes go as one ``$batch`` of such GETs. Lists page with
``Prefer: odata.maxpagesize`` and the ``$skiptoken`` of ``@odata.nextLink`` (the cursor);
their total is ``@odata.count`` of the same answer (``$count=true``), so it needs no call of
its own and cannot fail apart from the page.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.connectors import urls
from app.connectors.base import (
    CustomerQuery,
    Fields,
    LeadQuery,
    Page,
    Requester,
    RequesterRef,
    Shown,
    Tally,
    TicketQuery,
)
from app.connectors.dynamics import bodies, payloads
from app.connectors.dynamics.api import ANNOTATIONS, ROOT, DataverseApi
from app.connectors.dynamics.batch import Part
from app.connectors.dynamics.creates import create_many
from app.connectors.dynamics.mapping import (
    Columns,
    Vocabulary,
    contact_map,
    incident_map,
    lead_map,
    relabel,
)
from app.connectors.dynamics.queries import customer_terms, lead_terms, ticket_terms
from app.connectors.errors import (
    UpstreamError,
    UpstreamNotFound,
    UpstreamProtocolError,
    UpstreamUnavailable,
)
from app.connectors.http import UpstreamClient
from app.connectors.paging import Cursors
from app.domain.entities import make
from app.domain.ids import ExternalRef, NodeId
from app.domain.models import Customer, Lead, Ticket, TicketStatus
from app.mapping.fieldmap import FieldMap, Wire

log = logging.getLogger(__name__)

#: Incidents created with a key of ours get an id derived from it, so a create whose answer
#: was lost is found by that id, and a second create of it is refused by Dataverse.
TICKET_KEYS = uuid.UUID("6f1d2a4e-3c57-4b8e-9a0d-5e7c1b2f8d93")
DUPLICATE_KEY = "0x80040237"
#: A requester's tickets: newest first, then by id.
BY_AGE = "createdon desc,incidentid desc"
#: Rows a page of requesters' tickets asks for at least, when only their newest are needed.
NEWEST_PAGE = 500


@dataclass(frozen=True, slots=True)
class Table:
    entity_set: str
    key: str
    map: FieldMap


class DynamicsClient:
    """One Dataverse environment serving customers, leads and tickets."""

    batch_limit = payloads.IN_CHUNK
    #: The most leads one :meth:`create_leads` call takes (one ``$batch``).
    max_batch = 100

    def __init__(
        self,
        name: str,
        http: UpstreamClient,
        *,
        columns: Columns,
        words: Vocabulary,
        requester_link: str = "contact",
        custom: Mapping[str, Mapping[str, Wire]] | None = None,
    ) -> None:
        """``custom``: the config's custom fields of each entity (``customer``, ``lead``,
        ``ticket``), read from the column their path names (``<column>@label``: its
        formatted value)."""
        self.name = name
        self.http = http
        self.api = DataverseApi(name, http)
        self.cols = columns
        self.words = words
        self.brand_field: str | None = columns.brand
        self.requester_link = requester_link
        extra = dict(custom or {})

        def table(entity_set: str, key: str, fmap: FieldMap, entity: str) -> Table:
            return Table(entity_set, key, fmap.with_fields(extra.get(entity, {})))

        self.contacts = table("contacts", "contactid", contact_map(columns), "customer")
        self.leads = table("leads", "leadid", lead_map(columns, words), "lead")
        self.incidents = table("incidents", "incidentid", incident_map(columns, words), "ticket")

    # -- reading rows ---------------------------------------------------------------------------

    def _select(self, table: Table, fields: Fields) -> tuple[dict[str, str], dict[str, str]]:
        """``$select`` of the columns ``fields`` need, and the ``Prefer`` header asking for
        the formatted values some of them are read from."""
        wires = table.map.wire_fields(fields)
        # ``x@label`` is read from the annotation that comes with the column ``x``.
        params = {"$select": ",".join(dict.fromkeys(w.split("@")[0] for w in wires))}
        prefer = {"Prefer": ANNOTATIONS} if any("@" in w for w in wires) else {}
        return params, prefer

    async def _rows(
        self, table: Table, filters: list[str], fields: Fields, orderby: str | None = None
    ) -> list[dict[str, Any]]:
        """Every row matching any of ``filters`` (one GET each, in one ``$batch``)."""
        if not filters:
            return []
        params, prefer = self._select(table, fields)
        if orderby:
            params["$orderby"] = orderby
        parts = [
            Part("GET", table.entity_set, {**params, "$filter": f}, None, prefer) for f in filters
        ]
        rows: list[dict[str, Any]] = []
        for part, body in zip(parts, await self.api.many(parts, table.entity_set), strict=True):
            rows += await self._all_pages(table, part, body)
        return [relabel(r) for r in rows]

    async def _all_pages(self, table: Table, part: Part, body: dict[str, Any]) -> list[Any]:
        """The rows of an answer and of the pages after it (beyond 5,000 rows)."""
        rows = list(self.http.records(body, "value"))
        token = payloads.skiptoken(body.get("@odata.nextLink"))
        cursors = Cursors(self.name, f"GET {table.entity_set}")
        while token:
            params = {**part.params, "$skiptoken": cursors.follow(token)}
            prefer = list(part.headers.values())
            body = await self.api.get(table.entity_set, params, prefer)
            rows += self.http.records(body, "value")
            token = payloads.skiptoken(body.get("@odata.nextLink"))
        return rows

    async def _by(
        self,
        table: Table,
        column: str,
        keys: Sequence[str],
        fields: Fields,
        orderby: str | None = None,
    ) -> list[dict[str, Any]]:
        # Each GET's URL within Dataverse's limit: as many keys as fit beside the rest.
        params, _ = self._select(table, fields)
        rest = {**params, "$orderby": orderby or "", "$filter": payloads.one_of(column, [])}
        query = "&".join(f"{name}={value}" for name, value in rest.items())
        fixed = urls.wire_length(f"{ROOT}/{table.entity_set}?{query}")
        chunks = payloads.in_runs(dict.fromkeys(keys), payloads.URL_BYTES - fixed)
        return await self._rows(
            table, [payloads.one_of(column, chunk) for chunk in chunks], fields, orderby
        )

    async def _page(
        self,
        table: Table,
        terms: list[str],
        first: int,
        cursor: str | None,
        fields: Fields,
        total: bool,
    ) -> tuple[list[dict[str, Any]], str | None, int | UpstreamError | None]:
        params, prefer = self._select(table, fields)
        params["$orderby"] = f"createdon desc,{table.key} desc"
        if terms:
            params["$filter"] = " and ".join(terms)
        if total:
            params["$count"] = "true"
        if cursor:
            params["$skiptoken"] = payloads.checked_cursor(cursor)
        size = max(1, min(first, payloads.MAX_PAGE))
        wanted = [f"odata.maxpagesize={size}", *prefer.values()]
        body = await self.api.get(table.entity_set, params, wanted, items=size)
        rows = [relabel(r) for r in self.http.records(body, "value")[:size]]
        return rows, payloads.skiptoken(body.get("@odata.nextLink")), self._count(body, total)

    def _count(self, body: dict[str, Any], total: bool) -> int | UpstreamError | None:
        if not total:
            return None
        count = body.get("@odata.count")
        over = body.get("@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded") is True
        if not isinstance(count, int) or over or count >= payloads.MAX_PAGE:
            return UpstreamUnavailable(
                self.name, "Dataverse counts at most 5,000 rows; this list may hold more"
            )
        return count

    # -- customers ------------------------------------------------------------------------------

    async def customers_by_id(self, ids: Sequence[str], fields: Fields) -> dict[str, Customer]:
        keys = [g for i in ids if (g := payloads.guid(i))]
        rows = await self._by(self.contacts, "contactid", keys, fields)
        found = [self._customer(r, fields) for r in rows]
        return {c.id.native: c for c in found}

    async def customers_by_email(
        self, emails: Sequence[str], fields: Fields
    ) -> dict[str, Customer]:
        wanted = {e.lower() for e in emails if e}
        # Two contacts of one email: the oldest answers for it.
        rows = await self._by(
            self.contacts, "emailaddress1", sorted(wanted), fields, "createdon asc,contactid asc"
        )
        found: dict[str, Customer] = {}
        for customer in (self._customer(r, fields) for r in rows):
            if customer.email in wanted:
                found.setdefault(customer.email, customer)
        return found

    async def list_customers(
        self, query: CustomerQuery, first: int, cursor: str | None, fields: Fields, total: bool
    ) -> Page[Customer]:
        terms = customer_terms(query, self.cols)
        if terms is None:
            return Page(items=[], next_cursor=None, total=0 if total else None)
        rows, after, count = await self._page(self.contacts, terms, first, cursor, fields, total)
        return Page.counted([self._customer(r, fields) for r in rows], after, count)

    def _customer(self, row: dict[str, Any], fields: Fields) -> Customer:
        native = self._key(row, "contactid")
        mapped = self.contacts.map.read(row, [*fields, "email", "brand", "player_id"])
        self._log_problems(native, mapped.problems)
        return make(
            Customer,
            mapped.values,
            id=NodeId(self.name, native),
            external_refs=[ExternalRef(self.name, native)],
            problems=mapped.problems,
        )

    # -- leads ----------------------------------------------------------------------------------

    async def leads_by_id(self, ids: Sequence[str], fields: Fields) -> dict[str, Lead]:
        keys = [g for i in ids if (g := payloads.guid(i))]
        rows = await self._by(self.leads, "leadid", keys, fields)
        return {lead.id.native: lead for lead in (self._lead(r, fields) for r in rows)}

    async def leads_by_email(self, emails: Sequence[str], fields: Fields) -> dict[str, list[Lead]]:
        wanted = {e.lower() for e in emails if e}
        rows = await self._by(self.leads, "emailaddress1", sorted(wanted), fields)
        found: dict[str, list[Lead]] = {}
        for lead in (self._lead(r, fields) for r in rows):
            if lead.email in wanted:
                found.setdefault(lead.email, []).append(lead)
        for leads in found.values():
            leads.sort(key=lambda x: (x.created_at is not None, x.created_at, x.id.native))
        return found

    async def list_leads(
        self, query: LeadQuery, first: int, cursor: str | None, fields: Fields, total: bool
    ) -> Page[Lead]:
        terms = lead_terms(query, self.cols, self.words)
        if terms is None:
            return Page(items=[], next_cursor=None, total=0 if total else None)
        rows, after, count = await self._page(self.leads, terms, first, cursor, fields, total)
        return Page.counted([self._lead(r, fields) for r in rows], after, count)

    def _lead(self, row: dict[str, Any], fields: Fields) -> Lead:
        native = self._key(row, "leadid")
        mapped = self.leads.map.read(row, [*fields, "email", "brand", "created_at"])
        self._log_problems(native, mapped.problems)
        return make(Lead, mapped.values, id=NodeId(self.name, native), problems=mapped.problems)

    # -- tickets --------------------------------------------------------------------------------

    async def tickets_by_id(self, ids: Sequence[str], fields: Fields) -> dict[str, Ticket]:
        keys = [g for i in ids if (g := payloads.guid(i))]
        rows = await self._by(self.incidents, "incidentid", keys, fields)
        return {t.id.native: t for t in (self._ticket(r, fields) for r in rows)}

    async def requesters_by_id(self, ids: Sequence[str]) -> dict[str, RequesterRef]:
        keys = [g for i in ids if (g := payloads.guid(i))]
        rows = await self._by(self.contacts, "contactid", keys, ["email"])
        found = {}
        for row in rows:
            contact = self._customer(row, ["email"])
            linked = contact.id.native if self.requester_link == "contact" else None
            found[contact.id.native] = RequesterRef(customer_id=linked, email=contact.email)
        return found

    async def tickets_by_requester(
        self,
        requesters: Sequence[Requester],
        statuses: tuple[TicketStatus, ...] | None,
        fields: Fields,
        shown: Shown | None = None,
    ) -> dict[str, list[Ticket]]:
        """Each requester's tickets, newest first. Told what the caller is shown, only as many
        as their ``first`` shown ones need (:meth:`_newest`), of the caller's brands only."""
        if statuses is not None and not statuses:
            return {}
        terms = []
        if statuses is not None:
            numbers = self.words.ticket_status.numbers(statuses)
            if not numbers:
                return {}
            terms.append(payloads.one_of("statuscode", [str(n) for n in numbers]))
        if shown is not None and shown.brands is not None:
            if not shown.brands:
                return {}
            terms.append(payloads.one_of(self.cols.brand, sorted(shown.brands)))
        owners = await self._contacts_of(requesters)
        if not owners:
            return {}
        chunks = payloads.chunked(sorted(owners), payloads.LOOKUP_CHUNK)
        if shown is None:
            filters = [_owned(chunk, terms) for chunk in chunks]
            rows = await self._rows(self.incidents, filters, fields, BY_AGE)
            tickets = [self._ticket(r, fields) for r in rows]
        else:
            tickets = await self._newest(chunks, terms, fields, owners, Tally(requesters, shown))
        by_customer = {r.customer_id: r for r in requesters}
        found: dict[str, list[Ticket]] = {}
        for ticket in tickets:
            customer = owners.get(ticket.requester_id or "")
            if customer is None:
                continue
            ticket.requester_external_id = customer
            ticket.requester_email = by_customer[customer].email
            found.setdefault(customer, []).append(ticket)
        return found

    async def _newest(
        self,
        chunks: list[list[str]],
        terms: list[str],
        fields: Fields,
        owners: dict[str, str],
        tally: Tally,
    ) -> list[Ticket]:
        """The tickets of the contacts in ``chunks`` (``owners``: contact → customer id), read
        newest first only as far back as ``tally`` needs.

        Each chunk is asked for pages of 500 rows, or of as many as its requesters need
        together if more (every chunk's first page in one ``$batch``). A row of a requester
        who has enough is not read into a ticket. When more pages remain and some of the
        chunk's requesters have enough, the others are asked again on their own, from their
        newest (a ticket given again is read once)."""
        params, prefer = self._select(self.incidents, fields)
        params["$orderby"] = BY_AGE
        table = self.incidents.entity_set

        def size(contacts: list[str]) -> int:
            need = sum(tally.first[owners[c]] or payloads.MAX_PAGE for c in contacts)
            return min(payloads.MAX_PAGE, max(NEWEST_PAGE, need))

        def ask(contacts: list[str]) -> Part:
            wanted = ",".join([f"odata.maxpagesize={size(contacts)}", *prefer.values()])
            query = {**params, "$filter": _owned(contacts, terms)}
            return Part("GET", table, query, None, {"Prefer": wanted})

        async def read(contacts: list[str], asked: Part, body: dict[str, Any]) -> list[Ticket]:
            tickets: dict[str, Ticket] = {}
            cursors = Cursors(self.name, f"GET {table}")
            while True:
                for row in self.http.records(body, "value"):
                    customer = owners.get(str(row.get("_customerid_value")).lower())
                    native = str(row.get("incidentid"))
                    if customer is None or native in tickets or not tally.wants(customer):
                        continue
                    ticket = tickets[native] = self._ticket(relabel(row), fields)
                    tally.took(customer, ticket)
                token = payloads.skiptoken(body.get("@odata.nextLink"))
                short = [c for c in contacts if tally.wants(owners[c])]
                if not token or not short:
                    return list(tickets.values())
                if len(short) < len(contacts):  # the others, again from their newest
                    contacts, asked = short, ask(short)
                    cursors = Cursors(self.name, f"GET {table}")
                    query = dict(asked.params)
                else:
                    query = {**asked.params, "$skiptoken": cursors.follow(token)}
                wanted = [asked.headers["Prefer"]]
                body = await self.api.get(table, query, wanted, items=size(contacts))

        parts = [ask(chunk) for chunk in chunks]
        bodies = await self.api.many(parts, table)
        pages = await asyncio.gather(
            *(read(c, p, b) for c, p, b in zip(chunks, parts, bodies, strict=True))
        )
        return [t for page in pages for t in page]

    async def _contacts_of(self, requesters: Sequence[Requester]) -> dict[str, str]:
        """Contact id → customer id for the requesters: their own ids when customers are
        this org's contacts, else the contacts found by their emails."""
        owners: dict[str, str] = {}
        by_email: dict[str, str] = {}
        for requester in requesters:
            contact = payloads.guid(requester.customer_id)
            if self.requester_link == "contact" and contact:
                owners[contact] = requester.customer_id
            elif requester.email:
                by_email[requester.email.lower()] = requester.customer_id
        if by_email:
            found = await self.customers_by_email(list(by_email), ["email"])
            for email, contact_row in found.items():
                owners[contact_row.id.native] = by_email[email]
        return owners

    async def list_tickets(
        self, query: TicketQuery, first: int, cursor: str | None, fields: Fields, total: bool
    ) -> Page[Ticket]:
        terms = ticket_terms(query, self.cols, self.words)
        if terms is not None and query.requester_email:
            found = await self.customers_by_email([query.requester_email], ["email"])
            ids = [c.id.native for c in found.values()]
            terms = [*terms, payloads.any_id("_customerid_value", ids)] if ids else None
        if terms is None:
            return Page(items=[], next_cursor=None, total=0 if total else None)
        rows, after, count = await self._page(self.incidents, terms, first, cursor, fields, total)
        return Page.counted([self._ticket(r, fields) for r in rows], after, count)

    def _ticket(self, row: dict[str, Any], fields: Fields) -> Ticket:
        native = self._key(row, "incidentid")
        mapped = self.incidents.map.read(row, [*fields, "brand", "requester_id", "created_at"])
        self._log_problems(native, mapped.problems)
        return make(Ticket, mapped.values, id=NodeId(self.name, native), problems=mapped.problems)

    # -- writes ---------------------------------------------------------------------------------

    async def create_contact(self, values: dict[str, Any]) -> str:
        """Create a contact; if the org already has one with that email, its id."""
        email = values.get("email")
        if email:
            found = await self.customers_by_email([email], ["email"])
            if email.lower() in found:
                return found[email.lower()].id.native
        body = bodies.contact_body(self.name, values, self.cols, creating=True)
        return await self._create("contacts", "contact", body)

    async def update_contact(self, contact_id: str, values: dict[str, Any]) -> None:
        body = bodies.contact_body(self.name, values, self.cols, creating=False)
        await self._update("contacts", "contact", contact_id, body)

    async def create_lead(self, values: dict[str, Any]) -> str:
        body = bodies.lead_body(self.name, values, self.cols, self.words)
        return await self._create("leads", "lead", body)

    async def update_lead(self, lead_id: str, values: dict[str, Any]) -> None:
        body = bodies.lead_body(self.name, values, self.cols, self.words)
        await self._update("leads", "lead", lead_id, body)

    async def create_leads(
        self, records: list[dict[str, Any]]
    ) -> list[tuple[str | None, list[tuple[list[str], str, str]]]]:
        """Up to :attr:`max_batch` leads in one ``$batch`` (no change set: each stands
        alone); per record, in order, its id or None with Dataverse's reasons."""
        return await create_many(self, records)

    async def create_ticket(self, values: dict[str, Any]) -> str:
        """A case for the requester's contact (found by email, or created), its id derived
        from ``external_id`` when one is given."""
        contact_id = await self._requester_contact(values)
        body = bodies.incident_create(self.name, values, contact_id, self.cols, self.words)
        key = _ticket_key(values.get("external_id"))
        if key is not None:
            body["incidentid"] = key
        response = await self.api.create("incidents", body)
        if response.status_code >= 400 and key is not None and DUPLICATE_KEY in response.text:
            return key  # created already, by a try whose answer was lost
        self.api.check_write(response, bodies.columns_of("incident", self.cols))
        return self.api.created_id(response)

    async def _requester_contact(self, values: dict[str, Any]) -> str:
        email = str(values["requester_email"]).lower()
        found = await self.customers_by_email([email], ["email"])
        if email in found:
            return found[email].id.native
        body = bodies.new_contact(
            email, values.get("requester_name"), values.get("brand"), self.cols
        )
        return await self._create("contacts", "contact", body)

    async def update_ticket(self, ticket_id: str, values: dict[str, Any]) -> None:
        body = bodies.incident_update(self.name, values, self.words)
        await self._update("incidents", "incident", ticket_id, body)

    async def ticket_id_by_external_id(self, external_id: str) -> str | None:
        key = _ticket_key(external_id)
        if key is None:
            return None
        try:
            await self.api.get(
                f"incidents({key})", {"$select": "incidentid"}, route="incidents({id})"
            )
        except UpstreamNotFound:
            return None
        return key

    async def _create(self, entity_set: str, entity: str, body: dict[str, Any]) -> str:
        response = await self.api.create(entity_set, body)
        self.api.check_write(response, bodies.columns_of(entity, self.cols))
        return self.api.created_id(response)

    async def _update(self, entity_set: str, entity: str, key: str, body: dict[str, Any]) -> None:
        native = payloads.guid(key)
        if native is None:
            raise UpstreamNotFound(self.name, f"no {entity} with that id")
        response = await self.api.update(entity_set, native, body)
        self.api.check_write(response, bodies.columns_of(entity, self.cols))

    # -- helpers --------------------------------------------------------------------------------

    def _key(self, row: dict[str, Any], column: str) -> str:
        native = row.get(column)
        if not isinstance(native, str) or not payloads.guid(native):
            raise UpstreamProtocolError(self.name, f"a row came without its {column}")
        return native.lower()

    def _log_problems(self, native: str, problems: dict[str, str]) -> None:
        if problems:
            log.warning(
                "unreadable fields in a record",
                extra={"source": self.name, "record": native, "problems": problems},
            )


def _ticket_key(external_id: Any) -> str | None:
    if not isinstance(external_id, str) or not external_id:
        return None
    return str(uuid.uuid5(TICKET_KEYS, external_id))


def _owned(contacts: list[str], terms: list[str]) -> str:
    """The filter of the tickets of ``contacts`` that match ``terms``."""
    return " and ".join([payloads.any_id("_customerid_value", contacts), *terms])

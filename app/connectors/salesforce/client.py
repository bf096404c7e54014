"""Salesforce REST: Leads. OAuth 2.0 client credentials (see ``auth.py``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from app.connectors import urls
from app.connectors.base import Fields, LeadQuery, Page, count_apart
from app.connectors.errors import (
    UnsupportedQuery,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamRejected,
)
from app.connectors.http import UpstreamClient, error_text, said
from app.connectors.paging import Cursors
from app.connectors.salesforce import payloads
from app.connectors.salesforce.describe import (
    LeadMetadata,
    Vocabulary,
    read_lead_metadata,
    vocabulary,
)
from app.connectors.salesforce.mapping import lead_map, lead_statuses
from app.domain.entities import make
from app.domain.ids import NodeId
from app.domain.models import Lead, LeadStatus
from app.mapping.fieldmap import FieldMap, Wire

log = logging.getLogger(__name__)


def describe_error(response: httpx.Response) -> str:
    body = response.json()
    first = body[0] if isinstance(body, list) and body else body
    return error_text(first.get("errorCode"), first.get("message"))


#: Domain field → Lead field, for writes.
WRITE_FIELDS = {
    "first_name": "FirstName",
    "last_name": "LastName",
    "email": "Email",
    "phone": "Phone",
    "company": "Company",
    "lead_source": "LeadSource",
}
#: Lead field → domain field, to point a refusal at the caller's own input.
FIELD_OF = {v: k for k, v in WRITE_FIELDS.items()}


def _problems(
    response: httpx.Response, field_of: Mapping[str, str] = FIELD_OF
) -> list[tuple[list[str], str, str]]:
    try:
        body = response.json()
    except ValueError:
        return []
    found = []
    for error in body if isinstance(body, list) else []:
        if isinstance(error, dict):
            fields = [field_of.get(f, f) for f in error.get("fields") or []]
            found.append(
                (
                    fields,
                    str(error.get("errorCode", "REJECTED")),
                    str(error.get("message", ""))[:300],
                )
            )
    return found


def _limit_exceeded(response: httpx.Response) -> bool:
    if response.status_code != 403:
        return False
    return "REQUEST_LIMIT_EXCEEDED" in said(describe_error, response)


class SalesforceClient:
    batch_limit = payloads.COLLECTION_LIMIT

    def __init__(
        self,
        name: str,
        http: UpstreamClient,
        *,
        api_version: str = "v61.0",
        brand_field: str | None = "Brand__c",
        extra_statuses: Mapping[str, LeadStatus] | None = None,
        custom: Mapping[str, Wire] | None = None,
    ) -> None:
        self.name = name
        self.http = http
        #: sObject Collections saves at most 200 records a call.
        self.max_batch = 200
        self.base = f"/services/data/{api_version}"
        self.brand_field = brand_field
        self.overrides: dict[str, LeadStatus] = dict(extra_statuses or {})
        self.statuses = lead_statuses(self.overrides)
        #: The config's custom fields, read by their field name.
        self.custom = dict(custom or {})
        #: A field Salesforce names in a refusal → ours (a custom one as ``custom.<name>``).
        self.field_of = {
            **FIELD_OF,
            **{w.reads[0]: f"custom.{name}" for name, w in self.custom.items()},
        }
        self.map: FieldMap = lead_map(brand_field, self.statuses).with_fields(self.custom)
        #: The org's own status vocabulary once read (:meth:`learn`); None: the guesses.
        self.vocabulary: Vocabulary | None = None

    def learn(self, metadata: LeadMetadata) -> Vocabulary:
        """Read and write lead statuses in the org's own values from now on (the config's
        ``lead_statuses`` still win); the vocabulary."""
        words = vocabulary(metadata, self.overrides)
        self.vocabulary = words
        # Salesforce's default values stay readable: records may still hold one the org
        # has since replaced.
        self.statuses = {**lead_statuses({}), **words.read, **lead_statuses(self.overrides)}
        self.map = lead_map(self.brand_field, self.statuses).with_fields(self.custom)
        return words

    async def ensure_vocabulary(self) -> None:
        """Learn the org's statuses once, before a write that sends one. An org that cannot
        be asked leaves the guesses in force (and is asked again next time)."""
        if self.vocabulary is not None:
            return
        try:
            self.learn(await read_lead_metadata(self))
        except (UpstreamError, ValueError) as exc:
            log.warning(
                "the org's lead statuses could not be read; using the configured ones",
                extra={"source": self.name, "error": str(exc)[:300]},
            )

    async def describe(self, sobject: str) -> Any:
        """``GET sobjects/{sobject}/describe``: the object's fields and picklists."""
        route = f"{self.base}/sobjects/{sobject}/describe"
        return await self._call("GET", route)

    async def query(self, soql: str) -> list[dict[str, Any]]:
        """Every record a SOQL query finds (following ``nextRecordsUrl``)."""
        return await self._query(soql)

    async def leads_by_id(self, ids: Sequence[str], fields: Fields) -> dict[str, Lead]:
        keys = list(dict.fromkeys(ids))
        wire_fields = self.map.wire_fields(fields)
        route = f"{self.base}/composite/sobjects/Lead"
        chunks = [keys[i : i + self.batch_limit] for i in range(0, len(keys), self.batch_limit)]
        answers = await asyncio.gather(
            *(
                self._call(
                    "POST",
                    route,
                    json={"ids": chunk, "fields": wire_fields},
                    items=len(chunk),
                    idempotent=True,  # the sObject Collections read, sent as POST
                )
                for chunk in chunks
            )
        )
        found: dict[str, Lead] = {}
        for answer in answers:
            # The collection answer is in the order asked, with null for unknown ids.
            if not isinstance(answer, list) or not all(
                r is None or type(r) is dict for r in answer
            ):
                raise UpstreamProtocolError(
                    self.name, "the sObject Collections answer is not a list of records"
                )
            for record in answer:
                if record is not None:
                    lead = self._lead(record, fields)
                    found[lead.id.native] = lead
        return found

    async def leads_by_email(self, emails: Sequence[str], fields: Fields) -> dict[str, list[Lead]]:
        # An address SOQL cannot quote, or longer than an Email field holds, cannot be asked
        # for (nor stored by Salesforce).
        keys = sorted(
            {
                e.lower()
                for e in emails
                if e and len(e) <= payloads.EMAIL_LENGTH and payloads.quotable(e)
            }
        )
        wire_fields = self.map.wire_fields(fields)

        def soql(chunk: list[str]) -> str:
            conditions = [payloads.in_list("Email", chunk)]
            return payloads.select(wire_fields, "Lead", conditions, "ORDER BY CreatedDate ASC")

        # Each query's URI within Salesforce's limit: as many emails as fit beside the rest.
        fixed = urls.wire_length(f"{self.base}/query?q={soql([])}")
        chunks = payloads.packed(keys, payloads.MAX_URI_BYTES - fixed)
        pages = await asyncio.gather(*(self._query(soql(chunk)) for chunk in chunks))
        found: dict[str, list[Lead]] = {}
        for records in pages:
            for record in records:
                lead = self._lead(record, fields)
                if lead.email:
                    found.setdefault(lead.email, []).append(lead)
        return found

    async def list_leads(
        self, query: LeadQuery, first: int, cursor: str | None, fields: Fields, total: bool
    ) -> Page[Lead]:
        conditions = payloads.lead_conditions(
            query, self.brand_field, self.statuses, self._picklist()
        )
        page_conditions = list(conditions)
        if cursor:
            created, _, lead_id = cursor.partition("|")
            try:
                page_conditions.append(payloads.after_cursor(created, lead_id))
            except ValueError as exc:
                raise UnsupportedQuery("cursor", "is not a cursor this server issued") from exc
        soql = payloads.select(
            self.map.wire_fields(fields),
            "Lead",
            page_conditions,
            f"ORDER BY CreatedDate DESC, Id DESC LIMIT {first + 1}",
        )
        uri = payloads.uri_length(f"{self.base}/query", soql)
        if uri > payloads.MAX_URI_BYTES:
            raise UnsupportedQuery(
                payloads.longest_value(query),
                f"makes the SOQL query's URI {uri:,} bytes; crmgraph sends Salesforce at most "
                f"{payloads.MAX_URI_BYTES:,} (it refuses more than 16,384 with the headers)",
            )
        counting = count_apart(self._count(conditions) if total else None)
        records, count = await asyncio.gather(self._query(soql, limit=first + 1), counting)
        leads = [self._lead(r, fields) for r in records[:first]]
        next_cursor = None
        if len(records) > first and leads:
            last = records[first - 1]
            next_cursor = f"{last.get('CreatedDate')}|{last.get('Id')}"
        return Page.counted(leads, next_cursor, count)

    async def create_lead(self, values: dict[str, Any]) -> str:
        """Create a Lead from domain values; its id. Refusals carry Salesforce's reasons."""
        record = self._new_lead(values)
        route = f"{self.base}/sobjects/Lead"
        response = await self.http.send("POST", route, route=f"POST {route}", json=record)
        self._check_write(response)
        answer = self.http.json(response)
        lead_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(lead_id, str):
            raise UpstreamProtocolError(self.name, "the create answer has no id")
        return lead_id

    async def create_leads(
        self, records: list[dict[str, Any]]
    ) -> list[tuple[str | None, list[tuple[list[str], str, str]]]]:
        """Create up to 200 Leads from domain values in one sObject Collections call
        (``allOrNone: false``): per record, in order, its id or None with Salesforce's reasons.
        A refusal of the whole request raises :class:`UpstreamRejected` with its reasons."""
        if len(records) > 200:  # sObject Collections saves at most 200 records a call
            raise ValueError("at most 200 records can be created in one call")
        body = []
        for values in records:
            body.append({"attributes": {"type": "Lead"}, **self._new_lead(values)})
        route = f"{self.base}/composite/sobjects"
        response = await self.http.send(
            "POST",
            route,
            route=f"POST {route}",
            json={"allOrNone": False, "records": body},
            items=len(body),
        )
        self._check_write(response)
        answer = self.http.json(response)
        if not isinstance(answer, list) or len(answer) != len(body):
            raise UpstreamProtocolError(self.name, "the create-many answer has the wrong length")
        results: list[tuple[str | None, list[tuple[list[str], str, str]]]] = []
        for item in answer:
            if not isinstance(item, dict):
                raise UpstreamProtocolError(self.name, "a create-many result is not an object")
            lead_id = item.get("id")
            if item.get("success") and isinstance(lead_id, str):
                results.append((lead_id, []))
                continue
            problems = [
                (
                    [self.field_of.get(f, f) for f in error.get("fields") or []],
                    str(error.get("statusCode") or error.get("errorCode") or "REJECTED"),
                    str(error.get("message", ""))[:300],
                )
                for error in item.get("errors") or []
                if isinstance(error, dict)
            ]
            results.append((None, problems or [([], "REJECTED", "Salesforce refused the record")]))
        return results

    async def update_lead(self, lead_id: str, values: dict[str, Any]) -> None:
        """Change a Lead: only the fields given are sent; ``status`` is our enum name."""
        record = {WRITE_FIELDS[k]: v for k, v in values.items() if k in WRITE_FIELDS}
        record.update(values.get("custom") or {})
        if "status" in values:
            await self.ensure_vocabulary()
            record["Status"] = self._picklist_value(values["status"])
        route = f"{self.base}/sobjects/Lead/{{id}}"
        response = await self.http.send(
            "PATCH", f"{self.base}/sobjects/Lead/{lead_id}", route=f"PATCH {route}", json=record
        )
        self._check_write(response)

    async def changed_leads(self, since: datetime, limit: int = 200) -> list[dict[str, Any]]:
        """Leads changed at or after ``since`` (``SystemModstamp``, to the millisecond), oldest
        first, at most ``limit``: each ``Id``, ``SystemModstamp`` and the brand field."""
        fields = ["Id", "SystemModstamp"] + ([self.brand_field] if self.brand_field else [])
        soql = payloads.select(
            fields,
            "Lead",
            [f"SystemModstamp >= {payloads.literal_datetime_ms(since)}"],
            f"ORDER BY SystemModstamp ASC, Id ASC LIMIT {limit}",
        )
        return await self._query(soql, limit=limit)

    def _new_lead(self, values: dict[str, Any]) -> dict[str, Any]:
        """A new Lead's fields from domain values, with its brand."""
        record = {WRITE_FIELDS[k]: v for k, v in values.items() if k in WRITE_FIELDS}
        record.update(values.get("custom") or {})  # the config's fields: name → value
        if self.brand_field and values.get("brand"):
            record[self.brand_field] = values["brand"]
        # No Status: the org gives a new Lead its own default (describe: defaultedOnCreate),
        # which need not be Salesforce's "Open - Not Contacted".
        return record

    def _check_write(self, response: httpx.Response) -> None:
        """A write's answer: Salesforce's refusal with its reasons, its spent allowance
        (403 ``REQUEST_LIMIT_EXCEEDED``, nothing written), or any other error status."""
        if response.status_code == 400:
            raise UpstreamRejected(
                self.name,
                said(describe_error, response),
                status=400,
                problems=_problems(response, self.field_of),
            )
        if _limit_exceeded(response):
            raise UpstreamRateLimited(
                self.name, "REQUEST_LIMIT_EXCEEDED: the org's API allowance is spent", status=403
            )
        self.http.raise_for_status(response, describe_error)

    def _picklist_value(self, status: str) -> str:
        """The org's picklist value for one of our statuses: what the org's vocabulary says
        once read, else the first guessed value that maps to it."""
        if self.vocabulary is not None:
            sent = self.vocabulary.send.get(LeadStatus[status])
            if sent is not None:
                return sent
            raise UpstreamRejected(
                self.name,
                f"the org's Lead.Status picklist has no value for {status}",
                problems=[
                    (
                        ["status"],
                        "INVALID_VALUE",
                        f"this org has no lead status for {status}; its operator can map one "
                        "in the source's lead_statuses",
                    )
                ],
            )
        for value in self._picklist():
            if (
                self.statuses.get(value.lower()) is not None
                and self.statuses[value.lower()].name == status
            ):
                return value
        raise UpstreamRejected(
            self.name,
            f"no LeadStatus value of this org means {status}",
            problems=[(["status"], "INVALID_VALUE", f"this org has no lead status for {status}")],
        )

    def _picklist(self) -> list[str]:
        # Send the picklist values with their original capitalisation where we know it.
        known = {
            "open - not contacted": "Open - Not Contacted",
            "working - contacted": "Working - Contacted",
            "closed - converted": "Closed - Converted",
            "closed - not converted": "Closed - Not Converted",
        }
        if self.vocabulary is not None:  # and the org's own values, as it spells them
            known |= {v.lower(): v for v in self.vocabulary.spelled}
            known |= {k.lower(): k for k in self.overrides}
        return [known.get(k, k) for k in self.statuses]

    async def _count(self, conditions: list[str]) -> int:
        answer = await self._call(
            "GET",
            f"{self.base}/query",
            params={"q": payloads.select(["COUNT()"], "Lead", conditions)},
        )
        return int(answer.get("totalSize", 0))

    async def _query(self, soql: str, limit: int | None = None) -> list[dict[str, Any]]:
        answer = await self._call("GET", f"{self.base}/query", params={"q": soql})
        records: list[dict[str, Any]] = list(self.http.records(answer, "records"))
        route = f"{self.base}/query/{{locator}}"
        cursors = Cursors(self.name, f"GET {self.base}/query")
        while not answer.get("done", True) and answer.get("nextRecordsUrl"):
            if limit is not None and len(records) >= limit:
                break
            answer = await self._call("GET", cursors.follow(answer["nextRecordsUrl"]), route=route)
            records += self.http.records(answer, "records")
        return records

    async def _call(
        self,
        method: str,
        url: str,
        *,
        route: str | None = None,
        params: dict[str, str] | None = None,
        json: Any = None,
        items: int | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        response = await self.http.send(
            method,
            url,
            route=f"{method} {route or url}",
            params=params,
            json=json,
            items=items,
            idempotent=idempotent,
        )
        if _limit_exceeded(response):
            raise UpstreamRateLimited(
                self.name, "REQUEST_LIMIT_EXCEEDED: the org's API allowance is spent", status=403
            )
        self.http.raise_for_status(response, describe_error)
        return self.http.json(response)

    def _lead(self, record: dict[str, Any], fields: Fields) -> Lead:
        native = record.get("Id")
        if not isinstance(native, str) or not native:
            raise UpstreamProtocolError(self.name, "a Lead came without an Id")
        mapped = self.map.read(record, [*fields, "email", "brand", "created_at"])
        if mapped.problems:
            log.warning(
                "unreadable fields in a record",
                extra={"source": self.name, "record": native, "problems": mapped.problems},
            )
        return make(Lead, mapped.values, id=NodeId(self.name, native), problems=mapped.problems)

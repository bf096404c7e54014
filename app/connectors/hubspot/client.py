"""HubSpot CRM v3: contacts as customers. Bearer-token auth (a private app's token)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from app.connectors.base import CustomerQuery, Fields, Page
from app.connectors.errors import UpstreamProtocolError, UpstreamRejected
from app.connectors.http import UpstreamClient, error_text, said
from app.connectors.hubspot import payloads
from app.connectors.hubspot.mapping import customer_map
from app.connectors.paging import Cursors
from app.connectors.secret import LiveSecret
from app.domain.entities import make
from app.domain.ids import ExternalRef, NodeId
from app.domain.models import Customer
from app.mapping.fieldmap import FieldMap, Wire

log = logging.getLogger(__name__)

CONTACTS = payloads.CONTACTS


#: Domain field → contact property, for writes.
CONTACT_PROPERTIES = {
    "first_name": "firstname",
    "last_name": "lastname",
    "email": "email",
    "phone": "phone",
    "company": "company",
    "lifecycle_stage": "lifecyclestage",
}


def _category(response: httpx.Response) -> str:
    try:
        return str(response.json().get("category", "REJECTED"))
    except (ValueError, AttributeError):
        return "REJECTED"


def describe_error(response: httpx.Response) -> str:
    body = response.json()
    return error_text(body.get("category"), body.get("message"))


class HubSpotClient:
    """Contacts read by id, by email and by search, as domain customers."""

    batch_limit = payloads.BATCH_LIMIT

    def __init__(
        self,
        name: str,
        http: UpstreamClient,
        token: LiveSecret,
        *,
        brand_property: str = "brand",
        player_id_property: str | None = "player_id",
        custom: Mapping[str, Wire] | None = None,
    ) -> None:
        self.name = name
        self.http = http
        self._token = token
        self.brand_property = brand_property
        self.player_id_property = player_id_property
        #: The config's custom fields, read by their property.
        self.custom = dict(custom or {})
        self.map: FieldMap = customer_map(brand_property, player_id_property).with_fields(
            self.custom
        )

    async def customers_by_id(self, ids: Sequence[str], fields: Fields) -> dict[str, Customer]:
        return await self._batch_read(list(dict.fromkeys(ids)), fields, None)

    async def customers_by_email(
        self, emails: Sequence[str], fields: Fields
    ) -> dict[str, Customer]:
        found = await self._batch_read(list(dict.fromkeys(emails)), fields, "email")
        return {c.email: c for c in found.values() if c.email}

    async def list_customers(
        self, query: CustomerQuery, first: int, cursor: str | None, fields: Fields, total: bool
    ) -> Page[Customer]:
        """A page of the contacts matching ``query``, in ``hs_object_id`` order.

        HubSpot's search gives at most 10,000 results a query: no ``paging.next`` past them,
        and a 400 for an ``after`` beyond. When an answer stops there though its ``total``
        says more match, the rest are asked for by id, ``hs_object_id`` greater than the last
        one read (as HubSpot advises), and so is each page after (:func:`payloads.past`)."""
        filters = payloads.search_filters(query, self.brand_property)
        properties = self.map.wire_fields(fields)
        items: list[Customer] = []
        position, count, by_id = cursor, None, False
        cursors = Cursors(self.name, f"POST {payloads.SEARCH}")
        # HubSpot's search pages hold at most 200; a larger page is several calls in a row.
        while True:
            after, floor = payloads.resume(position)
            by_id = floor is not None
            limit = min(first - len(items), payloads.SEARCH_PAGE_LIMIT)
            asked = payloads.and_above(filters, floor) if floor else filters
            answer = await self._post(
                payloads.SEARCH, payloads.search(asked, properties, limit, after), items=limit
            )
            count = int(answer.get("total", 0))
            records = self.http.records(answer, "results")
            items += [self._customer(r, fields) for r in records]
            more = (answer.get("paging") or {}).get("next", {}).get("after")
            position = payloads.next_position(more, by_id, count, items[-1] if records else None)
            if position is None or len(items) >= first:
                break
            cursors.follow(position)
        if by_id and total:  # its answers counted only the contacts past the last id
            count = await self._count(filters)
        return Page(items=items, next_cursor=position, total=count)

    async def _count(self, filters: list[dict[str, Any]]) -> int:
        answer = await self._post(
            payloads.SEARCH, payloads.search(filters, ["hs_object_id"], 1, None), items=1
        )
        return int(answer.get("total", 0))

    async def create_contact(self, values: dict[str, Any]) -> str:
        """Create a contact; if HubSpot already has one with that email, its id (so a replay
        never makes a second one)."""
        properties = {
            CONTACT_PROPERTIES[k]: v for k, v in values.items() if k in CONTACT_PROPERTIES
        }
        properties.update(payloads.custom_properties(values.get("custom")))
        if values.get("brand"):
            properties[self.brand_property] = values["brand"]
        response = await self.http.send(
            "POST",
            CONTACTS,
            route=f"POST {CONTACTS}",
            json={"properties": properties},
            headers={"Authorization": f"Bearer {self._token.value()}"},
        )
        if response.status_code == 409:
            existing = re.search(r"Existing ID: (\d+)", said(describe_error, response))
            if existing:
                return existing.group(1)
        self._check_write(response)
        created = self.http.json(response)
        if not isinstance(created, dict) or not created.get("id"):
            raise UpstreamProtocolError(self.name, "the create answer has no id")
        return str(created["id"])

    async def update_contact(self, contact_id: str, values: dict[str, Any]) -> None:
        """Change a contact: only the properties given are sent."""
        properties = {
            CONTACT_PROPERTIES[k]: v for k, v in values.items() if k in CONTACT_PROPERTIES
        }
        properties.update(payloads.custom_properties(values.get("custom")))
        route = f"{CONTACTS}/{{contactId}}"
        response = await self.http.send(
            "PATCH",
            f"{CONTACTS}/{contact_id}",
            route=f"PATCH {route}",
            json={"properties": properties},
            headers={"Authorization": f"Bearer {self._token.value()}"},
        )
        self._check_write(response)

    def _check_write(self, response: httpx.Response) -> None:
        """A write's answer: HubSpot's refusal (400, or 409 for a conflict) with its category,
        or any other error status."""
        if response.status_code in (400, 409):
            message = said(describe_error, response)
            raise UpstreamRejected(
                self.name,
                message,
                status=response.status_code,
                problems=[([], _category(response), message)],
            )
        self.http.raise_for_status(response, describe_error)

    async def _batch_read(
        self, keys: list[str], fields: Fields, id_property: str | None
    ) -> dict[str, Customer]:
        if not keys:
            return {}
        properties = self.map.wire_fields(fields)
        chunks = [keys[i : i + self.batch_limit] for i in range(0, len(keys), self.batch_limit)]
        answers = await asyncio.gather(
            *(
                self._post(
                    f"{CONTACTS}/batch/read",
                    payloads.batch_read(chunk, properties, id_property),
                    items=len(chunk),
                )
                for chunk in chunks
            )
        )
        found: dict[str, Customer] = {}
        for answer in answers:
            for record in self.http.records(answer, "results"):
                customer = self._customer(record, fields)
                found[customer.id.native] = customer
        return found

    async def properties(self, object_type: str = "contacts") -> list[dict[str, Any]]:
        """The object type's property definitions (``GET /crm/v3/properties/{objectType}``)."""
        route = f"/crm/v3/properties/{object_type}"
        response = await self.http.send(
            "GET",
            route,
            route="GET /crm/v3/properties/{objectType}",
            headers={"Authorization": f"Bearer {self._token.value()}"},
        )
        self.http.raise_for_status(response, describe_error)
        answer = self.http.json(response)
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list):
            raise UpstreamProtocolError(self.name, f"answer to GET {route} has no results")
        return [r for r in results if isinstance(r, dict)]

    async def _post(self, route: str, body: Any, items: int) -> Any:
        response = await self.http.send(
            "POST",
            route,
            route=f"POST {route}",
            json=body,
            headers={"Authorization": f"Bearer {self._token.value()}"},
            items=items,
            idempotent=True,  # batch reads and searches change nothing
        )
        # 207: some inputs were not found; the results still hold the others.
        self.http.raise_for_status(response, describe_error)
        answer = self.http.json(response)
        if not isinstance(answer, dict):
            raise UpstreamProtocolError(self.name, f"answer to POST {route} is not an object")
        return answer

    def _customer(self, record: dict[str, Any], fields: Fields) -> Customer:
        native = str(record.get("id", ""))
        if not native:
            raise UpstreamProtocolError(self.name, "a contact came without an id")
        mapped = self.map.read(
            record.get("properties") or {}, [*fields, "email", "brand", "player_id"]
        )
        if mapped.problems:
            log.warning(
                "unreadable fields in a record",
                extra={"source": self.name, "record": native, "problems": mapped.problems},
            )
        return make(
            Customer,
            mapped.values,
            id=NodeId(self.name, native),
            external_refs=[ExternalRef(self.name, native)],
            problems=mapped.problems,
        )

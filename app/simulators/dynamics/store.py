"""The simulated Dataverse environment: contacts, leads and incidents seeded from the world,
and the checks a write passes before it lands.

Rows are dicts keyed by logical column name holding Python values (``str``, ``int``,
``datetime`` or ``None``); ``app.py`` renders them. Every write stamps ``modifiedon`` with
the real time and takes the next ``versionnumber``, which is what ``@odata.etag`` shows.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from app.simulators.dynamics.dialect import ApiError
from app.simulators.dynamics.schema import (
    BY_LOGICAL,
    CONTACT,
    INCIDENT,
    LEAD,
    TABLES,
    Column,
    Kind,
    Table,
)
from app.simulators.world import Person, TicketSeed, World

Record = dict[str, Any]

PAYLOAD_ERROR = "0x80048d19"
VALIDATION_ERROR = "0x80044331"
STATE_ERROR = "0x8004431a"
REQUIRED_ERROR = "0x80040203"
NOT_FOUND = "0x80040217"
DUPLICATE = "0x80040237"
_HELP = "https://go.microsoft.com/fwlink/?linkid=2195293"
_FIRST_VERSION = 1_200_000

#: The world's Salesforce-flavoured lead statuses, as Dataverse lead status reasons.
LEAD_STATUS_OF = {
    "Open - Not Contacted": 1,
    "Working - Contacted": 2,
    "Closed - Converted": 3,
    "Closed - Not Converted": 4,
}
LEAD_SOURCE_OF = {"Web": 8, "Phone Inquiry": 10, "Partner Referral": 4, "Other": 10}
#: Zendesk ticket statuses, as incident status reasons.
CASE_STATUS_OF = {"new": 1, "open": 4, "pending": 3, "hold": 2, "solved": 5, "closed": 1000}
CASE_PRIORITY_OF = {"urgent": 1, "high": 1, "normal": 2, "low": 3}


def now() -> datetime:
    """Dataverse keeps date-times to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def payload_error(entity_set: str, inner: str) -> ApiError:
    """How the Web API refuses a body it cannot read into the table's type."""
    return ApiError(
        400,
        PAYLOAD_ERROR,
        f"Error identified in Payload provided by the user for Entity :'{entity_set}', For "
        f"more information on this error please follow this help link {_HELP}  ----> "
        f"InnerException : Microsoft.OData.ODataException: {inner}",
    )


def not_found(table: Table, key: str) -> ApiError:
    return ApiError(404, NOT_FOUND, f"Entity '{table.logical}' With Id = {key} Does Not Exist")


def parse_guid(raw: str) -> str | None:
    """The canonical (lower-case, hyphenated) form of a GUID, or ``None``."""
    text = raw.strip()
    if len(text) != 36 or text.count("-") != 4:
        return None
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


class DynamicsStore:
    """Rows by table and key, with the seeded state to go back to."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._rows: dict[str, dict[str, Record]] = {}
        self.reset()

    # -- reading --------------------------------------------------------------------------------

    def get(self, table: Table, key: str) -> Record | None:
        return self._rows[table.entity_set].get(key)

    def rows(self, table: Table) -> Iterable[Record]:
        return self._rows[table.entity_set].values()

    def name_of(self, target: str, key: str | None) -> str | None:
        """The primary name of the row a lookup points at (its formatted value)."""
        table = BY_LOGICAL.get(target)
        row = None if table is None or key is None else self.get(table, key)
        return None if row is None or table is None else row.get(table.primary_name)

    # -- writing --------------------------------------------------------------------------------

    def check(self, table: Table, body: Any, creating: bool, key: str | None = None) -> Record:
        """The values a create or update would write, or the :class:`ApiError` refusing it."""
        if not isinstance(body, dict):
            raise payload_error(
                table.entity_set,
                "An unexpected 'StartArray' node was found when reading from the JSON reader. "
                "A 'StartObject' node was expected.",
            )
        values: Record = {}
        binds = table.binds()
        for name, raw in body.items():
            if name.endswith("@odata.bind"):
                nav = name.removesuffix("@odata.bind")
                column = binds.get(nav)
                if column is None:
                    raise ApiError(
                        400,
                        "0x0",
                        f"An undeclared property '{nav}' which only has property annotations "
                        "in the payload but no property value was found in the payload. In "
                        "OData, only declared navigation properties and declared named streams "
                        "can be represented as properties without values.",
                    )
                values[column.name] = self._bound(column, raw)
                continue
            column = table.column(name)
            if column is None:
                raise payload_error(
                    table.entity_set,
                    f"The property '{name}' does not exist on type '{table.type_name}'. Make "
                    "sure to only use property names that are defined by the type or mark the "
                    "type as open type.",
                )
            if column.kind is Kind.LOOKUP:
                raise ApiError(
                    400,
                    "0x0",
                    "CRM do not support direct update of Entity Reference properties, Use "
                    "Navigation properties instead.",
                )
            if column.kind is Kind.GUID:
                values[column.name] = self._key_value(table, raw, creating, key)
                continue
            if not column.writable:
                continue  # read-only columns in a body are ignored, not refused
            values[column.name] = _coerce(table, column, raw)
        self._check_state(table, values, key)
        self._check_required(table, values, creating)
        return values

    def insert(self, table: Table, values: Record) -> Record:
        stamp = now()
        row: Record = {c.name: None for c in table.columns}
        row["statecode"] = 0
        row["statuscode"] = table.default_status[0]
        row.update(values)
        row[table.key] = row.get(table.key) or str(uuid.uuid4())
        row.update(createdon=stamp, modifiedon=stamp, versionnumber=self._next_version())
        if table.logical == INCIDENT.logical:
            row["ticketnumber"] = self._ticket_number(self._rng)
        self._add(table, row)
        return row

    def update(self, table: Table, row: Record, values: Record) -> None:
        values.pop(table.key, None)
        row.update(values)
        row.update(modifiedon=now(), versionnumber=self._next_version())
        _name(table, row)

    def delete(self, table: Table, key: str) -> None:
        del self._rows[table.entity_set][key]

    def snapshot(self) -> dict[str, dict[str, Record]]:
        """Every row as it stands, for :meth:`restore` (a changeset's rollback)."""
        return {s: {k: dict(r) for k, r in rows.items()} for s, rows in self._rows.items()}

    def restore(self, snapshot: dict[str, dict[str, Record]]) -> None:
        self._rows = snapshot

    def reset(self) -> None:
        """Throw away every write and seed the environment from the world again."""
        self._rows = {name: {} for name in TABLES}
        self._version = _FIRST_VERSION
        self._rng = random.Random(self.world.seed + 365)
        contacts: dict[int, str] = {}
        for person in self.world.customers:
            row = self._seed_contact(person)
            contacts[person.idx] = row["contactid"]
            self._add(CONTACT, row)
        for person in self.world.leads:
            self._add(LEAD, self._seed_lead(person))
        for ticket in self.world.tickets:
            self._add(INCIDENT, self._seed_incident(ticket, contacts[ticket.requester.idx]))

    # -- internals ------------------------------------------------------------------------------

    def _add(self, table: Table, row: Record) -> None:
        _name(table, row)
        self._rows[table.entity_set][row[table.key]] = row

    def _next_version(self) -> int:
        self._version += 1
        return self._version

    def _guid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128)))

    def _ticket_number(self, rng: random.Random) -> str:
        suffix = "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(6))
        return f"CAS-{rng.randrange(10_000, 100_000):05d}-{suffix}"

    def _bound(self, column: Column, raw: Any) -> str | None:
        if raw is None:
            return None
        target = BY_LOGICAL.get(column.target or "")
        reference = raw.rsplit("/", 1)[-1] if isinstance(raw, str) else ""
        prefix = f"{target.entity_set}(" if target else "\0"
        key = parse_guid(reference[len(prefix) : -1]) if reference.startswith(prefix) else None
        if target is None or key is None or not reference.endswith(")"):
            raise ApiError(400, "0x0", f"URI '{raw}' in @odata.bind is not valid.")
        if self.get(target, key) is None:
            raise not_found(target, key)
        return key

    def _key_value(self, table: Table, raw: Any, creating: bool, key: str | None) -> str:
        guid = parse_guid(raw) if isinstance(raw, str) else None
        if guid is None:
            raise payload_error(
                table.entity_set,
                f"Cannot convert the literal '{raw}' to the expected type 'Edm.Guid'.",
            )
        if creating and key is None and self.get(table, guid) is not None:
            raise ApiError(412, DUPLICATE, "A record with matching key values already exists.")
        return guid

    def _check_state(self, table: Table, values: Record, key: str | None) -> None:
        status, state = values.get("statuscode"), values.get("statecode")
        if status is not None:
            owner = table.status_state[status]
            if state is not None and state != owner:
                states = table.column("statecode")
                label = states.options[state] if states else str(state)
                raise ApiError(
                    400,
                    STATE_ERROR,
                    f"{status} is not a valid status code for state code "
                    f"{table.logical.capitalize()}State.{label} on {table.logical} with Id "
                    f"{key or '00000000-0000-0000-0000-000000000000'}.",
                )
            values["statecode"] = owner
        elif state is not None:
            values["statuscode"] = table.default_status[state]

    def _check_required(self, table: Table, values: Record, creating: bool) -> None:
        for column in table.columns:
            if not column.required:
                continue
            missing = values.get(column.name) is None
            if missing and (creating or column.name in values):
                message = f"Attribute '{column.name}' cannot be NULL"
                if column.kind is Kind.LOOKUP:
                    message = "You should specify a parent contact or account."
                raise ApiError(400, REQUIRED_ERROR, message)

    def _seed_contact(self, person: Person) -> Record:
        return {
            "contactid": self._guid(),
            "firstname": person.first_name,
            "lastname": person.last_name,
            "emailaddress1": person.email,
            "telephone1": person.phone,
            "_parentcustomerid_value": None,
            "crmgraph_company": person.company.name if person.company else None,
            "crmgraph_brand": person.brand.key,
            "crmgraph_playerid": person.player_id,
            "statecode": 0,
            "statuscode": 1,
            "createdon": person.created_at,
            "modifiedon": person.updated_at,
            "versionnumber": self._next_version(),
        }

    def _seed_lead(self, person: Person) -> Record:
        status = LEAD_STATUS_OF.get(person.lead_status, 1)
        if status == 4:
            status = (4, 5, 6)[person.idx % 3]  # the ways a lead is disqualified
        return {
            "leadid": self._guid(),
            "firstname": person.first_name,
            "lastname": person.last_name,
            "emailaddress1": person.email,
            "telephone1": person.phone,
            "companyname": person.company.name if person.company else None,
            "leadsourcecode": LEAD_SOURCE_OF.get(person.lead_source or ""),
            "crmgraph_brand": person.brand.key,
            "statecode": LEAD.status_state[status],
            "statuscode": status,
            "createdon": person.created_at,
            "modifiedon": person.updated_at,
            "versionnumber": self._next_version(),
        }

    def _seed_incident(self, ticket: TicketSeed, contact_id: str) -> Record:
        status = CASE_STATUS_OF[ticket.status]
        return {
            "incidentid": self._guid(),
            "title": ticket.subject,
            "description": ticket.description,
            "ticketnumber": self._ticket_number(self._rng),
            "prioritycode": CASE_PRIORITY_OF.get(ticket.priority or "", 2),
            "_customerid_value": contact_id,
            "crmgraph_brand": ticket.requester.brand.key,
            "statecode": INCIDENT.status_state[status],
            "statuscode": status,
            "createdon": ticket.created_at,
            "modifiedon": ticket.updated_at,
            "versionnumber": self._next_version(),
        }


def _name(table: Table, row: Record) -> None:
    if table.logical != INCIDENT.logical:
        parts = (row.get("firstname"), row.get("lastname"))
        row["fullname"] = " ".join(p for p in parts if p) or None


def _coerce(table: Table, column: Column, raw: Any) -> Any:
    if raw is None:
        return None
    if column.kind is Kind.STRING:
        if not isinstance(raw, str):
            raise payload_error(
                table.entity_set,
                "Cannot convert a primitive value to the expected type 'Edm.String'. See the "
                "inner exception for more details.",
            )
        if column.max_length is not None and len(raw) > column.max_length:
            raise ApiError(
                400,
                VALIDATION_ERROR,
                f"A validation error occurred. The length of the '{column.name}' attribute of "
                f"the '{table.logical}' entity exceeded the maximum allowed length of "
                f"'{column.max_length}'.",
            )
        return raw or None  # Dataverse keeps an empty string as null
    if column.kind is Kind.CHOICE:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise payload_error(
                table.entity_set,
                f"Cannot convert the literal '{raw}' to the expected type 'Edm.Int32'.",
            )
        if raw not in column.options:
            accepted = ",".join(str(v) for v in column.options)
            raise ApiError(
                400,
                VALIDATION_ERROR,
                f"A validation error occurred. The value {raw} of '{column.name}' on record of "
                f"type '{table.logical}' is outside the valid range. Accepted Values: "
                f"{accepted}",
            )
        return raw
    raise payload_error(table.entity_set, f"The property '{column.name}' cannot be written.")

"""The simulated org: the sObject schema, Salesforce ids, the seeded records and their writes.

Records are plain dicts keyed by the fields' API names and hold Python values (``datetime``,
``date``, ``bool``, ``str`` or ``None``); :func:`wire_value` renders them the way the REST API
does. Seeding reads only the world, never the clock; writes stamp the real time, as the org does.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from app.simulators.salesforce.typed import TYPED, is_refusal, read_typed
from app.simulators.world import WORLD_START, Person, World

Record = dict[str, Any]
NextId = Callable[["SObjectType"], str]

#: What Web-to-Lead puts in ``Company`` when a person gives none (``Company`` is required).
COMPANY_STAND_IN = "[not provided]"
#: When the org's setup rows (the LeadStatus values) were made.
WORLD_CREATED = WORLD_START
DEFAULT_LEAD_STATUS = "Open - Not Contacted"

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID15 = re.compile(r"[0-9A-Za-z]{15}")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


# -- ids ----------------------------------------------------------------------------------------


def id_suffix(id15: str) -> str:
    """The three case-safe checksum characters that make a 15-character id 18 characters long."""
    out = []
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")
        out.append(_SUFFIX[bits])
    return "".join(out)


def make_id(key_prefix: str, number: int) -> str:
    """An 18-character id: key prefix, pod ``5g``, a reserved ``0`` and nine base-62 digits."""
    digits = []
    for _ in range(9):
        number, rest = divmod(number, 62)
        digits.append(_BASE62[rest])
    id15 = f"{key_prefix}5g0{''.join(reversed(digits))}"
    return id15 + id_suffix(id15)


def normalize_id(raw: str) -> str | None:
    """The canonical 18-character form of a 15- or 18-character id, or ``None`` if malformed.

    An 18-character id may come in the wrong case (that is what its suffix is for): the suffix
    says which of the first fifteen characters are upper case, and that is restored.
    """
    if len(raw) == 15 and _ID15.fullmatch(raw):
        return raw + id_suffix(raw)
    if len(raw) != 18 or not _ID15.fullmatch(raw[:15]):
        return None
    suffix = raw[15:].upper()
    if any(ch not in _SUFFIX for ch in suffix):
        return None
    chars = list(raw[:15])
    for chunk, ch in enumerate(suffix):
        bits = _SUFFIX.index(ch)
        for i in range(5):
            pos = chunk * 5 + i
            if chars[pos].isalpha():
                chars[pos] = chars[pos].upper() if bits & (1 << i) else chars[pos].lower()
    id15 = "".join(chars)
    return id15 + suffix if id_suffix(id15) == suffix else None


# -- schema -------------------------------------------------------------------------------------


class FieldType(StrEnum):
    ID = "id"
    REFERENCE = "reference"
    STRING = "string"
    EMAIL = "email"
    PHONE = "phone"
    PICKLIST = "picklist"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    DATE = "date"
    INT = "int"
    DOUBLE = "double"
    CURRENCY = "currency"


TEXT_TYPES = frozenset({FieldType.STRING, FieldType.EMAIL, FieldType.PHONE, FieldType.PICKLIST})


@dataclass(frozen=True, slots=True)
class PicklistEntry:
    """One value of a picklist, as describe lists it; ``converted`` is LeadStatus.IsConverted."""

    value: str
    label: str
    active: bool = True
    default: bool = False
    converted: bool = False


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field as describe() would report it (the parts the simulator needs)."""

    name: str
    type: FieldType
    label: str
    writable: bool = False  # createable and updateable
    required: bool = False  # not nillable on create or update
    length: int | None = None
    reference_to: str | None = None
    relationship: str | None = None  # e.g. ``Account`` for ``AccountId``
    default: Any = None  # what a create writes when it leaves the field out
    picklist: tuple[PicklistEntry, ...] = ()
    #: A restricted picklist refuses any value that is not one of its active values.
    restricted: bool = False

    @property
    def is_text(self) -> bool:
        return self.type in TEXT_TYPES


@dataclass(frozen=True)
class SObjectType:
    name: str
    key_prefix: str
    fields: tuple[FieldSpec, ...]
    _by_name: dict[str, FieldSpec] = field(init=False, repr=False)
    _by_relationship: dict[str, FieldSpec] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {f.name.lower(): f for f in self.fields})
        relationships = {f.relationship.lower(): f for f in self.fields if f.relationship}
        object.__setattr__(self, "_by_relationship", relationships)

    def field(self, name: str) -> FieldSpec | None:
        """The field named ``name``, in any case (API names are case-insensitive)."""
        return self._by_name.get(name.lower())

    def relationship(self, name: str) -> FieldSpec | None:
        """The reference field behind the relationship ``name`` (``Account`` → ``AccountId``)."""
        return self._by_relationship.get(name.lower())


def _audit_fields() -> tuple[FieldSpec, ...]:
    return (
        FieldSpec("CreatedDate", FieldType.DATETIME, "Created Date"),
        FieldSpec("LastModifiedDate", FieldType.DATETIME, "Last Modified Date"),
        FieldSpec("SystemModstamp", FieldType.DATETIME, "System Modstamp"),
    )


#: The Lead Status picklist of a fresh org (Setup → Lead Status Picklist); the converted value
#: is the one lead conversion sets.
FRESH_ORG_LEAD_STATUSES: tuple[PicklistEntry, ...] = (
    PicklistEntry(DEFAULT_LEAD_STATUS, DEFAULT_LEAD_STATUS, default=True),
    PicklistEntry("Working - Contacted", "Working - Contacted"),
    PicklistEntry("Closed - Converted", "Closed - Converted", converted=True),
    PicklistEntry("Closed - Not Converted", "Closed - Not Converted"),
)
LEAD_SOURCE_VALUES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")

LEAD = SObjectType(
    "Lead",
    "00Q",
    (
        FieldSpec("Id", FieldType.ID, "Lead ID"),
        FieldSpec("FirstName", FieldType.STRING, "First Name", writable=True, length=40),
        FieldSpec("LastName", FieldType.STRING, "Last Name", True, required=True, length=80),
        FieldSpec("Name", FieldType.STRING, "Full Name"),
        FieldSpec("Company", FieldType.STRING, "Company", True, required=True, length=255),
        FieldSpec("Email", FieldType.EMAIL, "Email", writable=True, length=80),
        FieldSpec("Phone", FieldType.PHONE, "Phone", writable=True, length=40),
        FieldSpec(
            "Status",
            FieldType.PICKLIST,
            "Status",
            writable=True,
            required=True,
            length=255,
            default=DEFAULT_LEAD_STATUS,
            picklist=FRESH_ORG_LEAD_STATUSES,
        ),
        FieldSpec(
            "LeadSource",
            FieldType.PICKLIST,
            "Lead Source",
            writable=True,
            length=255,
            picklist=tuple(PicklistEntry(v, v) for v in LEAD_SOURCE_VALUES),
        ),
        FieldSpec("IsConverted", FieldType.BOOLEAN, "Converted", default=False),
        FieldSpec(
            "ConvertedAccountId",
            FieldType.REFERENCE,
            "Converted Account ID",
            reference_to="Account",
            relationship="ConvertedAccount",
        ),
        FieldSpec(
            "ConvertedContactId",
            FieldType.REFERENCE,
            "Converted Contact ID",
            reference_to="Contact",
            relationship="ConvertedContact",
        ),
        FieldSpec("ConvertedDate", FieldType.DATE, "Converted Date"),
        *_audit_fields(),
        FieldSpec("Brand__c", FieldType.STRING, "Brand", writable=True, length=255),
    ),
)
CONTACT = SObjectType(
    "Contact",
    "003",
    (
        FieldSpec("Id", FieldType.ID, "Contact ID"),
        FieldSpec("FirstName", FieldType.STRING, "First Name", writable=True, length=40),
        FieldSpec("LastName", FieldType.STRING, "Last Name", True, required=True, length=80),
        FieldSpec("Name", FieldType.STRING, "Full Name"),
        FieldSpec("Email", FieldType.EMAIL, "Email", writable=True, length=80),
        FieldSpec("Phone", FieldType.PHONE, "Business Phone", writable=True, length=40),
        FieldSpec(
            "AccountId",
            FieldType.REFERENCE,
            "Account ID",
            writable=True,
            reference_to="Account",
            relationship="Account",
        ),
        *_audit_fields(),
    ),
)
ACCOUNT = SObjectType(
    "Account",
    "001",
    (
        FieldSpec("Id", FieldType.ID, "Account ID"),
        FieldSpec("Name", FieldType.STRING, "Account Name", True, required=True, length=255),
        *_audit_fields(),
    ),
)
#: The values of the Lead Status picklist, one row each: queryable and describable, not writable.
LEAD_STATUS = SObjectType(
    "LeadStatus",
    "01J",
    (
        FieldSpec("Id", FieldType.ID, "Lead Status Value ID"),
        FieldSpec("MasterLabel", FieldType.STRING, "Master Label", length=255),
        FieldSpec("ApiName", FieldType.STRING, "API Name", length=255),
        FieldSpec("SortOrder", FieldType.INT, "Sort Order"),
        FieldSpec("IsDefault", FieldType.BOOLEAN, "Is Default", default=False),
        FieldSpec("IsConverted", FieldType.BOOLEAN, "Is Converted", default=False),
        *_audit_fields(),
    ),
)
#: The types with record routes (create, read, update).
SOBJECTS: dict[str, SObjectType] = {t.name: t for t in (LEAD, CONTACT, ACCOUNT)}
#: Every type SOQL and describe know.
SCHEMA: dict[str, SObjectType] = {**SOBJECTS, LEAD_STATUS.name: LEAD_STATUS}
_SOBJECTS_BY_LOWER = {name.lower(): t for name, t in SOBJECTS.items()}
_BY_KEY_PREFIX = {t.key_prefix: t for t in SCHEMA.values()}


def no_such_column(name: str, entity: str) -> str:
    """What Salesforce says of a field an object does not have (reads and SOQL)."""
    return (
        f"No such column '{name}' on entity '{entity}'. If you are attempting to use a custom "
        "field, be sure to append the '__c' after the custom field name. Please reference your "
        "WSDL or the describe call for the appropriate names."
    )


def sobject(name: str) -> SObjectType | None:
    """The sObject type called ``name`` in any case, or ``None``."""
    return _SOBJECTS_BY_LOWER.get(name.lower())


# -- wire values --------------------------------------------------------------------------------


def format_datetime(value: datetime) -> str:
    """``2013-05-20T20:49:32.000+0000``: what the REST API sends for a dateTime."""
    utc = value.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}+0000"


def wire_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def attributes(type_name: str, record_id: str, version: str) -> dict[str, str]:
    """A record's ``attributes``: its type and its resource URL under the API version asked."""
    return {"type": type_name, "url": f"/services/data/{version}/sobjects/{type_name}/{record_id}"}


def now_ms() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


# -- save errors --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SaveError:
    """One entry of a save result's ``errors`` (and of a single write's error array)."""

    status_code: str
    message: str
    fields: tuple[str, ...] = ()

    def as_result_error(self) -> dict[str, Any]:
        return {
            "statusCode": self.status_code,
            "message": self.message,
            "fields": list(self.fields),
        }


def _coerce(spec: FieldSpec, value: Any) -> Any | SaveError:
    if spec.type in TYPED:
        typed = read_typed(spec.type, spec.label, value)
        if is_refusal(typed):
            code, message = typed
            fields = (spec.name,) if code != "JSON_PARSER_ERROR" else ()
            return SaveError(code, message, fields)
        return typed
    # The API reads numbers into text fields as their text, and keeps "" as null.
    if value is None or (isinstance(value, str) and value == ""):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    token = "START_OBJECT" if isinstance(value, dict) else "START_ARRAY"
    return SaveError(
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of string from {token} value for field {spec.name}",
    )


# -- the store ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Journal:
    """The writes made to one store while a journal is open: (type, id, the record before)."""

    store: SalesforceStore
    entries: list[tuple[str, str, Record | None]] = field(default_factory=list)


# A context variable, so that only the writes of the request that opened the journal (and the
# subrequests it runs) are journaled, not those of requests served meanwhile.
_JOURNAL: ContextVar[Journal | None] = ContextVar("salesforce_journal", default=None)


class SalesforceStore:
    """Leads, Contacts and Accounts, by id, with an email index for the lookups SOQL does most."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.lead_statuses: tuple[PicklistEntry, ...] = FRESH_ORG_LEAD_STATUSES
        self._last_stamp = datetime(1970, 1, 1, tzinfo=UTC)
        self.reset()

    # reading

    def get(self, type_name: str, record_id: str) -> Record | None:
        """The record of ``type_name`` with the canonical 18-character ``record_id``."""
        return self._records[type_name].get(record_id)

    def find(self, record_id: str) -> Record | None:
        """The record with this canonical id, whatever its type (its key prefix says)."""
        sotype = _BY_KEY_PREFIX.get(record_id[:3])
        return None if sotype is None else self._records[sotype.name].get(record_id)

    def all(self, type_name: str) -> Iterable[Record]:
        return self._records[type_name].values()

    def count(self, type_name: str) -> int:
        return len(self._records[type_name])

    def with_email(self, type_name: str, email: str) -> list[Record]:
        """Records whose Email equals ``email`` ignoring case (as SOQL compares text)."""
        ids = self._emails[type_name].get(email.casefold(), ())
        return [self._records[type_name][i] for i in ids]

    def position(self, type_name: str, record_id: str) -> int:
        """Where the record sits in the org's natural (creation) order."""
        return self._positions[type_name][record_id]

    # writing

    def check_create(self, sotype: SObjectType, body: dict[str, Any]) -> Record | SaveError:
        """The values a create would write, or why it is refused."""
        values = self._clean(sotype, body, creating=True)
        if isinstance(values, SaveError):
            return values
        for spec in sotype.fields:
            if spec.default is not None and values.get(spec.name) is None:
                values[spec.name] = spec.default
        missing = [f.name for f in sotype.fields if f.required and values.get(f.name) is None]
        return _required_missing(missing) if missing else values

    def check_update(self, sotype: SObjectType, body: dict[str, Any]) -> Record | SaveError:
        """The values an update would write, or why it is refused."""
        values = self._clean(sotype, body, creating=False)
        if isinstance(values, SaveError):
            return values
        missing = [
            f.name for f in sotype.fields if f.required and f.name in values and not values[f.name]
        ]
        return _required_missing(missing) if missing else values

    @contextmanager
    def journal(self) -> Iterator[Journal]:
        """Journal the writes made in this context, so that :meth:`undo` can take them back."""
        journal = Journal(self)
        token = _JOURNAL.set(journal)
        try:
            yield journal
        finally:
            _JOURNAL.reset(token)

    def undo(self, journal: Journal) -> None:
        """Take back the journaled writes, newest first (the ids they used stay used)."""
        for type_name, record_id, before in reversed(journal.entries):
            record = self._records[type_name][record_id]
            self._unindex_email(type_name, record.get("Email"), record_id)
            if before is None:
                del self._records[type_name][record_id]
                del self._positions[type_name][record_id]
            else:
                record.clear()
                record.update(before)
                self._index_email(type_name, record)
        journal.entries.clear()

    def insert(self, sotype: SObjectType, values: Record) -> Record:
        stamp = self._stamp()
        # Every field of the full type: a field the org's shape hides is still stored.
        record: Record = {f.name: f.default for f in SCHEMA[sotype.name].fields}
        record.update(values)
        record.update(
            Id=self._next_id(sotype),
            CreatedDate=stamp,
            LastModifiedDate=stamp,
            SystemModstamp=stamp,
        )
        self._add(sotype, record)
        self._note(sotype.name, record["Id"], None)
        return record

    def update(self, sotype: SObjectType, record: Record, values: Record) -> None:
        self._note(sotype.name, record["Id"], dict(record))
        old_email = record.get("Email")
        record.update(values)
        if sotype is not ACCOUNT:
            record["Name"] = _full_name(record["FirstName"], record["LastName"])
        stamp = self._stamp()
        record["LastModifiedDate"] = record["SystemModstamp"] = stamp
        if "Email" in values and values["Email"] != old_email:
            self._unindex_email(sotype.name, old_email, record["Id"])
            self._index_email(sotype.name, record)

    def reset(self) -> None:
        """Throw away every write and seed the org from the world again."""
        self._records: dict[str, dict[str, Record]] = {name: {} for name in SCHEMA}
        self._positions: dict[str, dict[str, int]] = {name: {} for name in SCHEMA}
        self._emails: dict[str, dict[str, list[str]]] = {name: {} for name in SCHEMA}
        self._sequence = itertools.count()
        rng = random.Random(self.world.seed + 17)
        # Each type's numbering starts somewhere of its own, so the ids do not look alike.
        self._numbers = {name: rng.randrange(62**5, 62**6) for name in SOBJECTS}
        self._numbers[LEAD_STATUS.name] = 62**5
        for sotype, record in _seed(self.world, rng, self._next_id):
            self._add(sotype, record)
            self._last_stamp = max(self._last_stamp, record["SystemModstamp"])
        self.set_lead_statuses(FRESH_ORG_LEAD_STATUSES)

    def set_lead_statuses(self, entries: tuple[PicklistEntry, ...]) -> None:
        """Make the LeadStatus rows the values of the org's Lead Status picklist."""
        self.lead_statuses = entries
        self._records[LEAD_STATUS.name].clear()
        self._positions[LEAD_STATUS.name].clear()
        self._numbers[LEAD_STATUS.name] = 62**5
        for order, entry in enumerate(entries, start=1):
            stamp = WORLD_CREATED
            record: Record = {
                "Id": self._next_id(LEAD_STATUS),
                "MasterLabel": entry.label,
                "ApiName": entry.value,
                "SortOrder": order,
                "IsDefault": entry.default,
                "IsConverted": entry.converted,
                "CreatedDate": stamp,
                "LastModifiedDate": stamp,
                "SystemModstamp": stamp,
            }
            self._records[LEAD_STATUS.name][record["Id"]] = record
            self._positions[LEAD_STATUS.name][record["Id"]] = next(self._sequence)

    def _stamp(self) -> datetime:
        # Now to the millisecond, but always after every stamp handed out before (even across
        # a reset): a poller asking for SystemModstamp > its cursor never misses a write made
        # in the same millisecond as the last one it saw.
        self._last_stamp = max(now_ms(), self._last_stamp + timedelta(milliseconds=1))
        return self._last_stamp

    # internals

    def _clean(
        self, sotype: SObjectType, body: dict[str, Any], creating: bool
    ) -> Record | SaveError:
        values: Record = {}
        read_only: list[str] = []
        for key, raw in body.items():
            if key == "attributes":
                continue
            spec = sotype.field(key)
            if spec is None:
                return SaveError(
                    "INVALID_FIELD", f"No such column '{key}' on sobject of type {sotype.name}"
                )
            if spec.type is FieldType.ID:
                if creating:
                    return SaveError(
                        "INVALID_FIELD_FOR_INSERT_UPDATE",
                        "cannot specify Id in an insert call",
                        ("Id",),
                    )
                continue  # an update names its record by id; the caller has checked it
            if not spec.writable:
                read_only.append(spec.name)
                continue
            value = _coerce(spec, raw)
            if isinstance(value, SaveError):
                return value
            values[spec.name] = value
        if read_only:
            return SaveError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(read_only)}. Please check the "
                "security settings of this field and verify that it is read/write for your "
                "profile or permission set.",
                tuple(read_only),
            )
        for name, value in values.items():
            spec = sotype.field(name)
            assert spec is not None
            problem = self._check_value(spec, value)
            if problem is not None:
                return problem
        return values

    def _check_value(self, spec: FieldSpec, value: Any) -> SaveError | None:
        if value is None:
            return None
        if spec.restricted and value not in {e.value for e in spec.picklist if e.active}:
            return SaveError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{spec.label}: bad value for restricted picklist field: {value}",
                (spec.name,),
            )
        if spec.length is not None and len(value) > spec.length:
            return SaveError(
                "STRING_TOO_LONG",
                f"{spec.label}: data value too large: {value} (max length={spec.length})",
                (spec.name,),
            )
        if spec.type is FieldType.EMAIL and not _EMAIL.match(value):
            return SaveError(
                "INVALID_EMAIL_ADDRESS",
                f"{spec.label}: invalid email address: {value}",
                (spec.name,),
            )
        if spec.type is FieldType.REFERENCE and spec.reference_to is not None:
            target = normalize_id(value)
            if target is None or not target.startswith(SOBJECTS[spec.reference_to].key_prefix):
                return SaveError(
                    "MALFORMED_ID",
                    f"{spec.label}: id value of incorrect type: {value}",
                    (spec.name,),
                )
            if self.get(spec.reference_to, target) is None:
                return SaveError(
                    "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", (spec.name,)
                )
        return None

    def _next_id(self, sotype: SObjectType) -> str:
        number = self._numbers[sotype.name]
        self._numbers[sotype.name] = number + 1
        return make_id(sotype.key_prefix, number)

    def _add(self, sotype: SObjectType, record: Record) -> None:
        if sotype is not ACCOUNT:
            record["Name"] = _full_name(record["FirstName"], record["LastName"])
        records = self._records[sotype.name]
        self._positions[sotype.name][record["Id"]] = next(self._sequence)
        records[record["Id"]] = record
        self._index_email(sotype.name, record)

    def _note(self, type_name: str, record_id: str, before: Record | None) -> None:
        journal = _JOURNAL.get()
        if journal is not None and journal.store is self:
            journal.entries.append((type_name, record_id, before))

    def _index_email(self, type_name: str, record: Record) -> None:
        email = record.get("Email")
        if email:
            self._emails[type_name].setdefault(email.casefold(), []).append(record["Id"])
            self._emails[type_name][email.casefold()].sort(
                key=self._positions[type_name].__getitem__
            )

    def _unindex_email(self, type_name: str, email: str | None, record_id: str) -> None:
        if email:
            ids = self._emails[type_name].get(email.casefold(), [])
            if record_id in ids:
                ids.remove(record_id)


def _full_name(first: str | None, last: str | None) -> str:
    return " ".join(part for part in (first, last) if part)


def _required_missing(missing: list[str]) -> SaveError:
    return SaveError(
        "REQUIRED_FIELD_MISSING",
        f"Required fields are missing: [{', '.join(missing)}]",
        tuple(missing),
    )


# -- seeding ------------------------------------------------------------------------------------


def _seed(
    world: World, rng: random.Random, next_id: NextId
) -> Iterator[tuple[SObjectType, Record]]:
    """The seeded records with their types: the accounts, then each lead after its contact."""
    leads = [p for p in world.people if p.lead]
    accounts: dict[int, Record] = {}
    for person in leads:
        company = person.company
        if company is not None and company.idx not in accounts:
            accounts[company.idx] = {
                "Id": next_id(ACCOUNT),
                "Name": company.name,
                "CreatedDate": company.created_at,
                "LastModifiedDate": company.created_at,
                "SystemModstamp": company.created_at,
            }
    yield from ((ACCOUNT, account) for account in accounts.values())
    for person in leads:
        account = accounts.get(person.company.idx) if person.company else None
        contact = None
        if person.lead_converted:
            contact = _contact(person, rng, next_id, account)
            yield CONTACT, contact
        yield LEAD, _lead(person, next_id, account, contact)


def _contact(person: Person, rng: random.Random, next_id: NextId, account: Record | None) -> Record:
    span = int((person.updated_at - person.created_at).total_seconds())
    converted_at = person.created_at + timedelta(seconds=rng.randrange(max(span, 1)))
    return {
        "Id": next_id(CONTACT),
        "FirstName": person.first_name,
        "LastName": person.last_name,
        "Email": person.email,
        "Phone": person.phone,
        "AccountId": account["Id"] if account else None,
        "CreatedDate": converted_at,
        "LastModifiedDate": person.updated_at,
        "SystemModstamp": person.updated_at,
    }


def _lead(
    person: Person, next_id: NextId, account: Record | None, contact: Record | None
) -> Record:
    converted_on = contact["CreatedDate"].date() if contact else None
    return {
        "Id": next_id(LEAD),
        "FirstName": person.first_name,
        "LastName": person.last_name,
        "Company": person.company.name if person.company else COMPANY_STAND_IN,
        "Email": person.email,
        "Phone": person.phone,
        "Status": person.lead_status,
        "LeadSource": person.lead_source,
        "IsConverted": person.lead_converted,
        "ConvertedAccountId": account["Id"] if contact and account else None,
        "ConvertedContactId": contact["Id"] if contact else None,
        "ConvertedDate": converted_on,
        "CreatedDate": person.created_at,
        "LastModifiedDate": person.updated_at,
        "SystemModstamp": person.updated_at,
        "Brand__c": person.brand.key,
    }

"""HubSpot's view of the world: contacts, companies and tickets, and the associations between them.

Records hold every property value as HubSpot serialises it: a string. Datetimes are stored as
ISO-8601 instants with milliseconds (``2024-06-12T10:39:39.000Z``); writes may send them as
ISO or as epoch milliseconds, and search compares them as instants either way.

Each object type has its own id range (contacts from 1001, as ``Person.hubspot_id`` promises;
companies and tickets far above), and new records continue their type's range. Nothing here
knows HTTP: failures are raised as the exceptions below, and ``app.py`` words them as HubSpot.
"""

from __future__ import annotations

import bisect
import fnmatch
import functools
import math
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from app.simulators.world import (
    BRANDS,
    HUBSPOT_CONTACT_ID_BASE,
    LIFECYCLE_STAGES,
    Company,
    Person,
    TicketSeed,
    World,
)

COMPANY_ID_BASE = 5_000_000_001
TICKET_ID_BASE = 8_000_000_001
#: Share of the world's (Zendesk) tickets that were also logged as HubSpot tickets.
TICKET_SHARE = 0.4


class Kind(StrEnum):
    STRING = "string"
    EMAIL = "email"  # a string property HubSpot validates as an address
    NUMBER = "number"
    DATETIME = "datetime"
    ENUMERATION = "enumeration"
    BOOL = "bool"  # "true" or "false"
    DATE = "date"  # a day, stored as ``YYYY-MM-DD``


@dataclass(frozen=True, slots=True)
class PropertyDef:
    name: str
    kind: Kind = Kind.STRING
    options: tuple[str, ...] = ()
    read_only: bool = False
    multiple: bool = False  # an enumeration whose value is ``;``-separated options (checkbox)


@dataclass(frozen=True, slots=True)
class ObjectSchema:
    """One CRM object type: its names, its properties and what a read returns by default."""

    name: str  # the plural used in paths: "contacts"
    singular: str  # "contact"
    type_id: str  # "0-1"
    id_base: int
    properties: Mapping[str, PropertyDef]
    defaults: tuple[str, ...]  # returned when a read names no properties
    modified: str  # the last-modified property: lastmodifieddate or hs_lastmodifieddate
    searchable: tuple[str, ...]  # what a free-text ``query`` looks in
    unique: tuple[str, ...] = ()  # besides hs_object_id, properties an idProperty may name
    fixed: Mapping[str, str] = field(default_factory=dict)  # values a create defaults to

    @property
    def label(self) -> str:
        return self.singular.upper()

    @property
    def always(self) -> tuple[str, ...]:
        """Properties every read returns, whatever it asked for."""
        return ("createdate", "hs_object_id", self.modified)


def _props(*defs: PropertyDef) -> dict[str, PropertyDef]:
    return {d.name: d for d in defs}


_COMMON = (
    PropertyDef("createdate", Kind.DATETIME),
    PropertyDef("hs_object_id", Kind.NUMBER, read_only=True),
)

CONTACTS = ObjectSchema(
    name="contacts",
    singular="contact",
    type_id="0-1",
    id_base=HUBSPOT_CONTACT_ID_BASE,
    properties=_props(
        *_COMMON,
        PropertyDef("lastmodifieddate", Kind.DATETIME, read_only=True),
        PropertyDef("firstname"),
        PropertyDef("lastname"),
        PropertyDef("email", Kind.EMAIL),
        PropertyDef("phone"),
        PropertyDef("mobilephone"),
        PropertyDef("company"),
        PropertyDef("jobtitle"),
        PropertyDef("website"),
        PropertyDef("city"),
        PropertyDef("country"),
        PropertyDef("lifecyclestage", Kind.ENUMERATION, (*LIFECYCLE_STAGES, "other")),
        PropertyDef(
            "hs_lead_status",
            Kind.ENUMERATION,
            ("NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT"),
        ),
        # The operator's custom properties.
        PropertyDef("brand", Kind.ENUMERATION, tuple(b.key for b in BRANDS)),
        PropertyDef("player_id"),
    ),
    defaults=("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    modified="lastmodifieddate",
    searchable=("firstname", "lastname", "email", "phone", "mobilephone", "company"),
    unique=("email",),
)

COMPANIES = ObjectSchema(
    name="companies",
    singular="company",
    type_id="0-2",
    id_base=COMPANY_ID_BASE,
    properties=_props(
        *_COMMON,
        PropertyDef("hs_lastmodifieddate", Kind.DATETIME, read_only=True),
        PropertyDef("name"),
        PropertyDef("domain"),
        PropertyDef("website"),
        PropertyDef("phone"),
        PropertyDef("city"),
        PropertyDef("country"),
        PropertyDef("industry"),
        PropertyDef("description"),
        PropertyDef("numberofemployees", Kind.NUMBER),
    ),
    defaults=("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    modified="hs_lastmodifieddate",
    searchable=("name", "domain", "website", "phone"),
)

# HubSpot's default support pipeline ("0") and its four stages.
PIPELINE_STAGES = {"1": "New", "2": "Waiting on contact", "3": "Waiting on us", "4": "Closed"}
TICKET_PRIORITIES = ("LOW", "MEDIUM", "HIGH", "URGENT")

TICKETS = ObjectSchema(
    name="tickets",
    singular="ticket",
    type_id="0-5",
    id_base=TICKET_ID_BASE,
    properties=_props(
        *_COMMON,
        PropertyDef("hs_lastmodifieddate", Kind.DATETIME, read_only=True),
        PropertyDef("subject"),
        PropertyDef("content"),
        PropertyDef("hs_pipeline", Kind.ENUMERATION, ("0",)),
        PropertyDef("hs_pipeline_stage", Kind.ENUMERATION, tuple(PIPELINE_STAGES)),
        PropertyDef("hs_ticket_priority", Kind.ENUMERATION, TICKET_PRIORITIES),
        PropertyDef(
            "hs_ticket_category",
            Kind.ENUMERATION,
            ("PRODUCT_ISSUE", "BILLING_ISSUE", "FEATURE_REQUEST", "GENERAL_INQUIRY"),
        ),
        PropertyDef("closed_date", Kind.DATETIME),
    ),
    defaults=(
        "content",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
        "hs_pipeline",
        "hs_pipeline_stage",
        "hs_ticket_category",
        "hs_ticket_priority",
        "subject",
    ),
    modified="hs_lastmodifieddate",
    searchable=("subject", "content"),
    fixed={"hs_pipeline": "0", "hs_pipeline_stage": "1"},
)

SCHEMAS: dict[str, ObjectSchema] = {s.name: s for s in (CONTACTS, COMPANIES, TICKETS)}
_ALIASES = {
    alias: schema.name
    for schema in SCHEMAS.values()
    for alias in (schema.name, schema.singular, schema.type_id)
}


def resolve_type(name: str) -> ObjectSchema | None:
    """The schema a path's object type names ("contacts", "contact" or "0-1"), if any."""
    canonical = _ALIASES.get(name.lower())
    return SCHEMAS[canonical] if canonical else None


# -- associations ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssociationType:
    type_id: int
    source: str
    target: str
    v3_name: str  # how the v3 ``associations`` expansion names it
    label: str | None = None


ASSOCIATION_TYPES: dict[int, AssociationType] = {
    t.type_id: t
    for t in (
        AssociationType(1, "contacts", "companies", "contact_to_company", "Primary"),
        AssociationType(279, "contacts", "companies", "contact_to_company_unlabeled"),
        AssociationType(2, "companies", "contacts", "company_to_contact", "Primary"),
        AssociationType(280, "companies", "contacts", "company_to_contact_unlabeled"),
        AssociationType(15, "contacts", "tickets", "contact_to_ticket"),
        AssociationType(16, "tickets", "contacts", "ticket_to_contact"),
    )
}
#: An association a create asks for: (target object type, target id, association type id).
Link = tuple[str, int, int]
INVERSE_TYPE = {1: 2, 2: 1, 279: 280, 280: 279, 15: 16, 16: 15}
#: The unlabelled association ``PUT .../associations/default/...`` creates.
DEFAULT_TYPE = {
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    ("contacts", "tickets"): 15,
    ("tickets", "contacts"): 16,
}


# -- records and failures -------------------------------------------------------------------------


@dataclass(slots=True)
class Record:
    id: int
    properties: dict[str, str]
    created_at: str
    updated_at: str
    archived: bool = False
    # Rendered views of the record by property selection; a write clears them.
    views: dict[tuple[str, ...], bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PropertyProblem:
    name: str
    code: str  # PROPERTY_DOESNT_EXIST, INVALID_EMAIL, INVALID_OPTION, ...
    message: str


class StoreError(Exception):
    """Base of what the store refuses."""


class InvalidProperties(StoreError):
    def __init__(self, problems: Sequence[PropertyProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = list(problems)


class DuplicateRecord(StoreError):
    """A unique property (a contact's email) already belongs to ``existing_id``."""

    def __init__(self, existing_id: int) -> None:
        super().__init__(f"already exists: {existing_id}")
        self.existing_id = existing_id


class RecordNotFound(StoreError):
    def __init__(self, schema: ObjectSchema, ids: Sequence[str]) -> None:
        super().__init__(f"no {schema.singular} {', '.join(ids)}")
        self.schema, self.ids = schema, list(ids)


class InvalidAssociation(StoreError):
    """An association whose type does not join these objects, or whose target is missing."""


class InvalidSearch(StoreError):
    """A filter or sort that names an unknown property or carries an unusable value."""


# -- values ---------------------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_EPOCH_MS = re.compile(r"^-?\d{1,15}$")
_TOKEN_SPLIT = re.compile(r"[\s,;:!?()\[\]{}\"'@/<>|]+")


def iso(instant: datetime) -> str:
    """HubSpot's rendering of an instant: UTC, milliseconds, ``Z``."""
    utc = instant if instant.tzinfo is UTC else instant.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def now_iso() -> str:
    return iso(datetime.now(UTC))


@functools.lru_cache(maxsize=65_536)
def millis(value: str) -> int | None:
    """The instant ``value`` names, as epoch milliseconds: epoch-ms digits, ISO-8601, or a date."""
    text = value.strip()
    if _EPOCH_MS.match(text):
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _iso_from_millis(ms: int) -> str:
    return iso(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms))


def _as_text(value: object) -> str | None:
    """A property value as HubSpot stores it; None (or "") clears the property."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return text or None


def _normalise_value(prop: PropertyDef, text: str) -> tuple[str | None, PropertyProblem | None]:
    if prop.kind is Kind.EMAIL:
        if not _EMAIL.match(text):
            return None, PropertyProblem(
                prop.name, "INVALID_EMAIL", f"Email address {text} is invalid"
            )
        return text.lower(), None
    if prop.kind is Kind.NUMBER:
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            return None, PropertyProblem(
                prop.name, "INVALID_INTEGER", f"{text} is not a valid number for {prop.name}"
            )
        return text, None
    if prop.kind is Kind.DATETIME:
        ms = millis(text)
        if ms is None:
            return None, PropertyProblem(
                prop.name,
                "INVALID_DATE",
                f"{text} was not a valid long (epoch milliseconds) or ISO-8601 datetime",
            )
        return _iso_from_millis(ms), None
    if prop.kind is Kind.BOOL:
        lowered = text.lower()
        if lowered not in ("true", "false"):
            return None, _invalid_option(prop, text, ("true", "false"))
        return lowered, None
    if prop.kind is Kind.DATE:
        return _normalise_date(prop, text)
    if prop.kind is Kind.ENUMERATION:
        chosen = [p for p in text.split(";") if p] if prop.multiple else [text]
        bad = next((c for c in chosen if c not in prop.options), None)
        if bad is not None or not chosen:
            return None, _invalid_option(prop, bad or text, prop.options)
    return text, None


def _invalid_option(prop: PropertyDef, text: str, options: Sequence[str]) -> PropertyProblem:
    allowed = ", ".join(options)
    return PropertyProblem(
        prop.name, "INVALID_OPTION", f"{text} was not one of the allowed options: [{allowed}]"
    )


def _normalise_date(prop: PropertyDef, text: str) -> tuple[str | None, PropertyProblem | None]:
    """A date property takes ``YYYY-MM-DD`` or epoch milliseconds at midnight UTC."""
    ms = millis(text)
    if ms is None or ms % 86_400_000:
        return None, PropertyProblem(
            prop.name,
            "INVALID_DATE",
            f"{text} is not a valid date for {prop.name}: a date property takes YYYY-MM-DD or "
            "epoch milliseconds at midnight UTC",
        )
    return _iso_from_millis(ms)[:10], None


def validate_properties(schema: ObjectSchema, raw: Mapping[str, object]) -> dict[str, str | None]:
    """Check and normalise a write's properties; ``None`` means "clear this property"."""
    clean: dict[str, str | None] = {}
    problems: list[PropertyProblem] = []
    for name, value in raw.items():
        prop = schema.properties.get(name)
        if prop is None:
            problems.append(
                PropertyProblem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
            )
            continue
        if prop.read_only:
            problems.append(
                PropertyProblem(
                    name,
                    "READ_ONLY_VALUE",
                    f"{name} is a read only property; its value cannot be set.",
                )
            )
            continue
        text = _as_text(value)
        if text is None:
            clean[name] = None
            continue
        normalised, problem = _normalise_value(prop, text)
        if problem is not None:
            problems.append(problem)
        else:
            clean[name] = normalised
    if problems:
        raise InvalidProperties(problems)
    return clean


# -- search ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Condition:
    """One search filter, as the request names it."""

    property: str
    operator: str
    value: str | None = None
    values: tuple[str, ...] = ()
    high: str | None = None


Predicate = Callable[[Record], bool]


def _typed(kind: Kind) -> Callable[[str], Any]:
    if kind is Kind.NUMBER:
        return float
    if kind in (Kind.DATETIME, Kind.DATE):
        return millis
    return str.lower


def _operand(prop: PropertyDef, raw: str | None, operator: str) -> Any:
    if raw is None:
        raise InvalidSearch(f"operator {operator} on {prop.name} needs a value")
    try:
        typed = _typed(prop.kind)(raw)
    except ValueError:
        typed = None
    if typed is None:
        raise InvalidSearch(f"{raw} is not a valid value for {prop.name} ({prop.kind})")
    return typed


def _contains_token(text: str, pattern: str) -> bool:
    lowered, wanted = text.lower(), pattern.lower().strip()
    tokens = [t.strip(".") for t in _TOKEN_SPLIT.split(lowered) if t]
    if "*" in wanted:
        return any(fnmatch.fnmatchcase(t, wanted) for t in (lowered, *tokens))
    return wanted == lowered or wanted in tokens


def _compile(schema: ObjectSchema, condition: Condition) -> Predicate:
    prop = schema.properties.get(condition.property)
    if prop is None:
        raise InvalidSearch(f'Property "{condition.property}" does not exist')
    name, op = prop.name, condition.operator
    typed = _typed(prop.kind)

    def present(record: Record) -> Any:
        raw = record.properties.get(name)
        return None if raw is None else typed(raw)

    if op == "HAS_PROPERTY":
        return lambda r: name in r.properties
    if op == "NOT_HAS_PROPERTY":
        return lambda r: name not in r.properties
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        if condition.value is None:
            raise InvalidSearch(f"operator {op} on {name} needs a value")
        pattern, negate = condition.value, op == "NOT_CONTAINS_TOKEN"
        return lambda r: (
            negate != (name in r.properties and _contains_token(r.properties[name], pattern))
        )
    if op in ("IN", "NOT_IN"):
        wanted = {_operand(prop, v, op) for v in condition.values}
        negate = op == "NOT_IN"
        return lambda r: negate != (present(r) in wanted)
    if op == "BETWEEN":
        low = _operand(prop, condition.value, op)
        high = _operand(prop, condition.high, op)
        return lambda r: (v := present(r)) is not None and low <= v <= high
    operand = _operand(prop, condition.value, op)
    compare: dict[str, Callable[[Any], bool]] = {
        "EQ": lambda v: v == operand,
        "NEQ": lambda v: v != operand,
        "GT": lambda v: v > operand,
        "GTE": lambda v: v >= operand,
        "LT": lambda v: v < operand,
        "LTE": lambda v: v <= operand,
    }
    if op not in compare:
        raise InvalidSearch(f"unknown operator {op}")
    check = compare[op]
    if op == "NEQ":  # a record without the property is "not equal" too
        return lambda r: (v := present(r)) is None or check(v)
    return lambda r: (v := present(r)) is not None and check(v)


def _query_predicate(schema: ObjectSchema, query: str) -> Predicate:
    words = [w for w in _TOKEN_SPLIT.split(query.lower()) if w]

    def matches(record: Record) -> bool:
        tokens: list[str] = []
        for name in schema.searchable:
            value = record.properties.get(name)
            if value:
                lowered = value.lower()
                tokens.append(lowered)
                tokens.extend(_TOKEN_SPLIT.split(lowered))
        return all(any(t.startswith(w) for t in tokens) for w in words)

    return matches


# -- the store ------------------------------------------------------------------------------------


@dataclass(slots=True)
class ObjectTable:
    schema: ObjectSchema
    records: dict[str, Record] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)  # ids ascending; new ids are always larger
    unique: dict[str, dict[str, str]] = field(default_factory=dict)  # property → value → id

    def __post_init__(self) -> None:
        self.unique = {name: {} for name in self.schema.unique}

    @property
    def next_id(self) -> int:
        return self.order[-1] + 1 if self.order else self.schema.id_base

    def add(self, record: Record) -> None:
        key = str(record.id)
        self.records[key] = record
        self.order.append(record.id)
        self._index(key, record.properties)

    def _index(self, key: str, properties: Mapping[str, str | None]) -> None:
        for name, index in self.unique.items():
            value = properties.get(name)
            if value is not None:
                index[value.lower()] = key


class HubSpotStore:
    """Contacts, companies and tickets seeded from ``world``; ``reset()`` restores the seed."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.tables: dict[str, ObjectTable] = {}
        #: The account's object types as they are now: SCHEMAS plus the properties made since.
        self.schemas: dict[str, ObjectSchema] = dict(SCHEMAS)
        #: The definitions of the properties made through the Properties API, by type and name.
        self.custom: dict[str, dict[str, dict[str, Any]]] = {}
        self._links: dict[tuple[str, str], dict[int, dict[int, list[int]]]] = {}
        self.reset()

    # -- seeding ----------------------------------------------------------------------------------

    def reset(self) -> None:
        """Restore the seeded records and associations, undoing every write."""
        records, links = self._seeded  # built once; every reset copies it
        self.schemas = dict(SCHEMAS)
        self.custom = {name: {} for name in SCHEMAS}
        self.tables = {name: ObjectTable(schema) for name, schema in SCHEMAS.items()}
        self._links = {}
        for name, record in records:
            self.tables[name].add(
                Record(record.id, dict(record.properties), record.created_at, record.updated_at)
            )
        for link in links:
            self.link(*link)

    @functools.cached_property
    def _seeded(self) -> tuple[list[tuple[str, Record]], list[tuple[str, int, str, int, int]]]:
        records: list[tuple[str, Record]] = []
        links: list[tuple[str, int, str, int, int]] = []
        rng = random.Random(self.world.seed + 17)
        for company in self.world.companies:
            records.append(("companies", _company_record(company, rng)))
        for person in self.world.customers:
            contact = _contact_record(person)
            records.append(("contacts", contact))
            if person.company is not None:
                company_id = COMPANY_ID_BASE + person.company.idx
                links.append(("contacts", contact.id, "companies", company_id, 1))
                links.append(("contacts", contact.id, "companies", company_id, 279))
        for ticket in self.world.tickets:
            if rng.random() < TICKET_SHARE:
                record = _ticket_record(ticket)
                records.append(("tickets", record))
                contact_id = HUBSPOT_CONTACT_ID_BASE + ticket.requester.idx
                links.append(("tickets", record.id, "contacts", contact_id, 16))
        return records, links

    def add_property(self, type_name: str, prop: PropertyDef, definition: dict[str, Any]) -> None:
        """Give the account a new property of ``type_name`` (until the next reset)."""
        schema = self.schemas[type_name]
        properties = {**schema.properties, prop.name: prop}
        self.schemas[type_name] = replace(schema, properties=properties)
        self.custom[type_name][prop.name] = definition

    # -- reads ------------------------------------------------------------------------------------

    def get(
        self,
        schema: ObjectSchema,
        key: str,
        id_property: str | None = None,
        archived: bool = False,
    ) -> Record | None:
        """The record ``key`` names (by id, or by the unique ``id_property``), if any."""
        table = self.tables[schema.name]
        if id_property and id_property != "hs_object_id":
            key = table.unique.get(id_property, {}).get(key.lower(), "")
        record = table.records.get(key)
        if record is None or record.archived != archived:
            return None
        return record

    def page(
        self, schema: ObjectSchema, after: int, limit: int, archived: bool = False
    ) -> tuple[list[Record], int | None]:
        """Up to ``limit`` records with ids from ``after`` on, and the cursor of the next page."""
        table = self.tables[schema.name]
        start = bisect.bisect_left(table.order, after)
        found: list[Record] = []
        for record_id in table.order[start:]:
            record = table.records[str(record_id)]
            if record.archived != archived:
                continue
            if len(found) == limit:
                return found, found[-1].id + 1
            found.append(record)
        return found, None

    def search(
        self,
        schema: ObjectSchema,
        groups: Sequence[Sequence[Condition]],
        sorts: Sequence[tuple[str, bool]],
        query: str | None = None,
    ) -> list[Record]:
        """Every live record matching any group (all conditions of it), sorted as asked.

        ``sorts`` are (property, descending) pairs; records without the property sort last.
        """
        compiled = [[_compile(schema, c) for c in group] for group in groups]
        for name, _ in sorts:
            if name not in schema.properties:
                raise InvalidSearch(f'Property "{name}" does not exist')
        text = _query_predicate(schema, query) if query and query.strip() else None
        matches = [
            r
            for r in self.tables[schema.name].records.values()
            if not r.archived
            and (not compiled or any(all(p(r) for p in group) for group in compiled))
            and (text is None or text(r))
        ]
        matches.sort(key=lambda r: r.id)
        for name, descending in reversed(sorts):
            typed = _typed(schema.properties[name].kind)

            def key(
                record: Record,
                name: str = name,
                typed: Callable[[str], Any] = typed,
                descending: bool = descending,
            ) -> Any:
                raw = record.properties.get(name)
                value = None if raw is None else typed(raw)
                if value is None:
                    return (0, 0) if descending else (1, 0)
                return (1, value) if descending else (0, value)

            matches.sort(key=key, reverse=descending)
        return matches

    # -- writes -----------------------------------------------------------------------------------

    def check_create(
        self, schema: ObjectSchema, raw: Mapping[str, object]
    ) -> dict[str, str | None]:
        """The clean properties of a create, or the reason it is refused."""
        clean = validate_properties(schema, raw)
        self._check_unique(schema, clean, None)
        return clean

    def create(self, schema: ObjectSchema, clean: Mapping[str, str | None]) -> Record:
        table = self.tables[schema.name]
        stamp = now_iso()
        properties = {k: v for k, v in {**schema.fixed, **clean}.items() if v is not None}
        properties.setdefault("createdate", stamp)
        record_id = table.next_id
        properties["hs_object_id"] = str(record_id)
        properties[schema.modified] = stamp
        record = Record(record_id, properties, properties["createdate"], stamp)
        table.add(record)
        return record

    def check_update(
        self, schema: ObjectSchema, record: Record, raw: Mapping[str, object]
    ) -> dict[str, str | None]:
        clean = validate_properties(schema, raw)
        self._check_unique(schema, clean, record)
        return clean

    def update(
        self, schema: ObjectSchema, record: Record, clean: Mapping[str, str | None]
    ) -> Record:
        table = self.tables[schema.name]
        key = str(record.id)
        for name, index in table.unique.items():
            if name in clean and (old := record.properties.get(name)) is not None:
                index.pop(old.lower(), None)
        for name, value in clean.items():
            if value is None:
                record.properties.pop(name, None)
            else:
                record.properties[name] = value
        table._index(key, record.properties)
        record.views.clear()
        stamp = now_iso()
        record.properties[schema.modified] = stamp
        record.updated_at = stamp
        if "createdate" in record.properties:
            record.created_at = record.properties["createdate"]
        return record

    def _check_unique(
        self, schema: ObjectSchema, clean: Mapping[str, str | None], record: Record | None
    ) -> None:
        table = self.tables[schema.name]
        for name, index in table.unique.items():
            value = clean.get(name)
            owner = index.get(value.lower()) if value else None
            if owner is not None and (record is None or owner != str(record.id)):
                raise DuplicateRecord(int(owner))

    # -- associations -----------------------------------------------------------------------------

    def link(self, source: str, source_id: int, target: str, target_id: int, type_id: int) -> None:
        """Associate two records with ``type_id`` (and the inverse type the other way)."""
        self._add_link(source, source_id, target, target_id, type_id)
        self._add_link(target, target_id, source, source_id, INVERSE_TYPE[type_id])

    def _add_link(self, source: str, source_id: int, target: str, target_id: int, t: int) -> None:
        types = self._links.setdefault((source, target), {}).setdefault(source_id, {})
        found = types.setdefault(target_id, [])
        if t not in found:
            found.append(t)
            found.sort()

    def links(self, source: str, source_id: int, target: str) -> list[tuple[int, list[int]]]:
        """The records of type ``target`` associated with one record, ids ascending."""
        found = self._links.get((source, target), {}).get(source_id, {})
        return sorted(found.items())

    def check_association(
        self, schema: ObjectSchema, to_id: str, type_ids: Iterable[int]
    ) -> list[Link]:
        """Resolve a create's ``associations`` entry to (target type, target id, type id)."""
        resolved: list[Link] = []
        for type_id in type_ids:
            spec = ASSOCIATION_TYPES.get(type_id)
            if spec is None or spec.source != schema.name:
                raise InvalidAssociation(
                    f"association type id {type_id} doesn't exist between {schema.singular} "
                    "and the object it targets"
                )
            target = self.get(SCHEMAS[spec.target], to_id)
            if target is None:
                raise InvalidAssociation(
                    f"{SCHEMAS[spec.target].label} object with id {to_id} does not exist"
                )
            resolved.append((spec.target, target.id, type_id))
        return resolved


# -- seed records ---------------------------------------------------------------------------------


def _contact_record(person: Person) -> Record:
    contact_id = HUBSPOT_CONTACT_ID_BASE + person.idx
    properties = {
        "hs_object_id": str(contact_id),
        "firstname": person.first_name,
        "lastname": person.last_name,
        "email": person.email,
        "lifecyclestage": person.lifecycle_stage,
        "createdate": iso(person.created_at),
        "lastmodifieddate": iso(person.updated_at),
        "brand": person.brand.key,
    }
    if person.phone:
        properties["phone"] = person.phone
    if person.company is not None:
        properties["company"] = person.company.name
    if person.player_id:
        properties["player_id"] = person.player_id
    return Record(contact_id, properties, properties["createdate"], properties["lastmodifieddate"])


def _company_record(company: Company, rng: random.Random) -> Record:
    company_id = COMPANY_ID_BASE + company.idx
    modified = company.created_at + timedelta(seconds=rng.randrange(1, 400 * 86_400))
    properties = {
        "hs_object_id": str(company_id),
        "name": company.name,
        "domain": company.domain,
        "city": company.city,
        "createdate": iso(company.created_at),
        "hs_lastmodifieddate": iso(modified),
    }
    return Record(company_id, properties, properties["createdate"], iso(modified))


# Zendesk's status vocabulary onto the default pipeline's stages, its priorities onto HubSpot's.
_STAGE_FOR_STATUS = {
    "new": "1",
    "open": "3",
    "pending": "2",
    "hold": "3",
    "solved": "4",
    "closed": "4",
}
_PRIORITY = {"low": "LOW", "normal": "MEDIUM", "high": "HIGH", "urgent": "URGENT"}


def _ticket_record(ticket: TicketSeed) -> Record:
    ticket_id = TICKET_ID_BASE + ticket.idx
    stage = _STAGE_FOR_STATUS[ticket.status]
    properties = {
        "hs_object_id": str(ticket_id),
        "subject": ticket.subject,
        "content": ticket.description,
        "hs_pipeline": "0",
        "hs_pipeline_stage": stage,
        "createdate": iso(ticket.created_at),
        "hs_lastmodifieddate": iso(ticket.updated_at),
    }
    if ticket.priority is not None:
        properties["hs_ticket_priority"] = _PRIORITY[ticket.priority]
    if stage == "4":
        properties["closed_date"] = iso(ticket.updated_at)
    return Record(
        ticket_id, properties, properties["createdate"], properties["hs_lastmodifieddate"]
    )

"""Dataverse columns → Customer, Lead and Ticket fields, and back for writes.

Choices (option sets) are read by their numbers. A ``<column>@label`` read is the column's
``FormattedValue`` annotation (the option's label, a lookup's row name), renamed by the client
so that field maps can name it (:func:`relabel`); its column ``<column>`` is what
``$select`` names, and the annotation is asked for with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from app.connectors.dynamics.settings import (
    LEAD_SOURCES,
    LEAD_STATUSES,
    TICKET_PRIORITIES,
    TICKET_STATUSES,
    DynamicsSource,
)
from app.domain.models import LeadStatus, TicketPriority, TicketStatus
from app.mapping import converters as c
from app.mapping.fieldmap import FieldMap, wire

E = TypeVar("E")
FORMATTED = "@OData.Community.Display.V1.FormattedValue"
LABEL = "@label"


def relabel(record: Mapping[str, Any]) -> dict[str, Any]:
    """A row with its formatted-value annotations under ``<column>@label``."""
    return {k.replace(FORMATTED, LABEL): v for k, v in record.items()}


@dataclass(frozen=True)
class OptionSet(Generic[E]):
    """One choice column's numbers and what they mean; ``send`` is the number written for
    each meaning (the first that maps to it)."""

    what: str
    read: dict[int, E]
    send: dict[E, int] = field(init=False)

    def __post_init__(self) -> None:
        send: dict[E, int] = {}
        for number, meaning in self.read.items():
            send.setdefault(meaning, number)
        object.__setattr__(self, "send", send)

    @classmethod
    def of(cls, what: str, config: Mapping[int, E], defaults: Mapping[int, E]) -> OptionSet[E]:
        merged = {**config, **{k: v for k, v in defaults.items() if k not in config}}
        return cls(what, merged)

    def numbers(self, meanings: tuple[E, ...]) -> list[int]:
        return [n for n, m in self.read.items() if m in meanings]

    def convert(self, value: Any, label: Any = None) -> E | None:
        number = c.integer(value)
        if number is None:
            return None
        if number not in self.read:
            shown = f" ({c.text(label)})" if c.text(label) else ""
            raise c.ConversionError(f"unknown {self.what} {number}{shown}")
        return self.read[number]


@dataclass(frozen=True)
class Vocabulary:
    """Every option set of one source, as its config says."""

    lead_status: OptionSet[LeadStatus]
    ticket_status: OptionSet[TicketStatus]
    ticket_priority: OptionSet[TicketPriority]
    lead_sources: dict[str, int]

    @classmethod
    def of(cls, settings: DynamicsSource) -> Vocabulary:
        return cls(
            OptionSet.of("lead status", settings.lead_statuses, LEAD_STATUSES),
            OptionSet.of("case status", settings.ticket_statuses, TICKET_STATUSES),
            OptionSet.of("case priority", settings.ticket_priorities, TICKET_PRIORITIES),
            {k.casefold(): v for k, v in {**LEAD_SOURCES, **settings.lead_sources}.items()},
        )

    def priority(self, name: str) -> int | None:
        """The number written for one of our priorities (URGENT falls back to HIGH)."""
        sent = self.ticket_priority.send
        wanted = TicketPriority[name]
        if wanted not in sent and wanted is TicketPriority.URGENT:
            wanted = TicketPriority.HIGH
        return sent.get(wanted)


def _label(value: Any, label: Any, table: Mapping[str, int]) -> str | None:
    """A choice shown by its label: the org's own, else Dataverse's default label."""
    if c.text(label):
        return c.text(label)
    number = c.integer(value)
    if number is None:
        return None
    names = {v: k for k, v in table.items()}
    return names.get(number, str(number))


def _first_text(*values: Any) -> str | None:
    return next((t for v in values if (t := c.text(v)) is not None), None)


@dataclass(frozen=True)
class Columns:
    """The configured custom columns of one source."""

    brand: str
    player_id: str | None
    company: str | None
    lifecycle: str | None

    @classmethod
    def of(cls, settings: DynamicsSource) -> Columns:
        return cls(
            settings.brand_column,
            settings.player_id_column,
            settings.company_column,
            settings.lifecycle_column,
        )


def contact_map(cols: Columns) -> FieldMap:
    company = ([cols.company] if cols.company else []) + [f"_parentcustomerid_value{LABEL}"]
    fields = {
        "first_name": wire("firstname", convert=c.text),
        "last_name": wire("lastname", convert=c.text),
        "email": wire("emailaddress1", convert=c.email),
        "phone": wire("telephone1", convert=c.text),
        "company": wire(*company, convert=_first_text),
        "created_at": wire("createdon", convert=c.iso_datetime),
        "updated_at": wire("modifiedon", convert=c.iso_datetime),
        "brand": wire(cols.brand, convert=c.text),
    }
    if cols.lifecycle:
        fields["lifecycle_stage"] = wire(cols.lifecycle, convert=c.text)
    always = ["contactid", "emailaddress1", cols.brand]
    if cols.player_id:
        fields["player_id"] = wire(cols.player_id, convert=c.text)
        always.append(cols.player_id)
    return FieldMap(fields, always=always)


def lead_map(cols: Columns, words: Vocabulary) -> FieldMap:
    sources = words.lead_sources
    return FieldMap(
        {
            "first_name": wire("firstname", convert=c.text),
            "last_name": wire("lastname", convert=c.text),
            "email": wire("emailaddress1", convert=c.email),
            "phone": wire("telephone1", convert=c.text),
            "company": wire("companyname", convert=c.text),
            "status": wire("statuscode", f"statuscode{LABEL}", convert=words.lead_status.convert),
            "lead_source": wire(
                "leadsourcecode",
                f"leadsourcecode{LABEL}",
                convert=lambda v, label: _label(v, label, sources),
            ),
            "created_at": wire("createdon", convert=c.iso_datetime),
            "updated_at": wire("modifiedon", convert=c.iso_datetime),
            "brand": wire(cols.brand, convert=c.text),
        },
        always=["leadid", "emailaddress1", "createdon", cols.brand],
    )


def incident_map(cols: Columns, words: Vocabulary) -> FieldMap:
    return FieldMap(
        {
            "subject": wire("title", convert=c.text),
            "description": wire("description", convert=c.text),
            "status": wire("statuscode", f"statuscode{LABEL}", convert=words.ticket_status.convert),
            "priority": wire(
                "prioritycode", f"prioritycode{LABEL}", convert=words.ticket_priority.convert
            ),
            "created_at": wire("createdon", convert=c.iso_datetime),
            "updated_at": wire("modifiedon", convert=c.iso_datetime),
            "brand": wire(cols.brand, convert=c.text),
            "requester_id": wire("_customerid_value", convert=c.text),
        },
        always=["incidentid", "_customerid_value", "createdon", cols.brand],
    )


#: Domain field → column, for writes (choices and lookups are written apart).
CONTACT_COLUMNS = {
    "first_name": "firstname",
    "last_name": "lastname",
    "email": "emailaddress1",
    "phone": "telephone1",
}
LEAD_COLUMNS = {
    "first_name": "firstname",
    "last_name": "lastname",
    "email": "emailaddress1",
    "phone": "telephone1",
    "company": "companyname",
    "lead_source": "leadsourcecode",
    "status": "statuscode",
}
INCIDENT_COLUMNS = {
    "subject": "title",
    "description": "description",
    "status": "statuscode",
    "priority": "prioritycode",
    "requester_email": "customerid",
}

"""The three Dataverse tables the simulator holds: their columns, types and option sets.

Column names are Dataverse logical names (always lower case; Web API names are case
sensitive). Lookups appear as ``_<name>_value`` properties, as the Web API shows them. Custom
columns carry the ``crmgraph_`` publisher prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    GUID = "Edm.Guid"  # the primary key
    LOOKUP = "lookup"  # a ``_x_value`` property: an Edm.Guid naming another row
    STRING = "Edm.String"
    INT = "Edm.Int32"
    BIGINT = "Edm.Int64"
    CHOICE = "choice"  # option set (Edm.Int32 on the wire)
    DATETIME = "Edm.DateTimeOffset"

    @property
    def edm(self) -> str:
        """The EDM type OData names in its errors."""
        if self is Kind.LOOKUP:
            return "Edm.Guid"
        if self is Kind.CHOICE:
            return "Edm.Int32"
        return self.value


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Kind
    writable: bool = True
    required: bool = False
    max_length: int | None = None
    options: dict[int, str] = field(default_factory=dict)
    target: str | None = None  # a lookup's table (logical name)
    bind: str | None = None  # a lookup's single-valued navigation property, for @odata.bind


@dataclass(frozen=True)
class Table:
    logical: str  # contact
    entity_set: str  # contacts
    key: str  # contactid
    primary_name: str  # the column a lookup's formatted value shows: fullname, title
    columns: tuple[Column, ...]
    #: statuscode value → the statecode it belongs to
    status_state: dict[int, int] = field(default_factory=dict)
    #: statecode value → the statuscode a row gets when only its state is set
    default_status: dict[int, int] = field(default_factory=dict)
    _by_name: dict[str, Column] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {c.name: c for c in self.columns})

    def column(self, name: str) -> Column | None:
        return self._by_name.get(name)

    @property
    def type_name(self) -> str:
        return f"Microsoft.Dynamics.CRM.{self.logical}"

    def binds(self) -> dict[str, Column]:
        """``navigation property`` → its lookup column, for ``x@odata.bind`` in a write."""
        return {c.bind: c for c in self.columns if c.bind}


def _audit() -> tuple[Column, ...]:
    return (
        Column("createdon", Kind.DATETIME, writable=False),
        Column("modifiedon", Kind.DATETIME, writable=False),
        Column("versionnumber", Kind.BIGINT, writable=False),
    )


CONTACT_STATE = {0: "Active", 1: "Inactive"}
CONTACT_STATUS = {1: "Active", 2: "Inactive"}
LEAD_STATE = {0: "Open", 1: "Qualified", 2: "Disqualified"}
LEAD_STATUS = {
    1: "New",
    2: "Contacted",
    3: "Qualified",
    4: "Lost",
    5: "Cannot Contact",
    6: "No Longer Interested",
    7: "Canceled",
}
LEAD_SOURCE = {
    1: "Advertisement",
    2: "Employee Referral",
    3: "External Referral",
    4: "Partner",
    5: "Public Relations",
    6: "Seminar",
    7: "Trade Show",
    8: "Web",
    9: "Word of Mouth",
    10: "Other",
}
INCIDENT_STATE = {0: "Active", 1: "Resolved", 2: "Canceled"}
INCIDENT_STATUS = {
    1: "In Progress",
    2: "On Hold",
    3: "Waiting for Details",
    4: "Researching",
    5: "Problem Solved",
    1000: "Information Provided",
    6: "Canceled",
    2000: "Merged",
}
INCIDENT_PRIORITY = {1: "High", 2: "Normal", 3: "Low"}

CONTACT = Table(
    "contact",
    "contacts",
    "contactid",
    "fullname",
    (
        Column("contactid", Kind.GUID),
        Column("firstname", Kind.STRING, max_length=50),
        Column("lastname", Kind.STRING, required=True, max_length=50),
        Column("fullname", Kind.STRING, writable=False),
        Column("emailaddress1", Kind.STRING, max_length=100),
        Column("telephone1", Kind.STRING, max_length=50),
        # Accounts are not simulated: the company is the custom text column below.
        Column("_parentcustomerid_value", Kind.LOOKUP, writable=False, target="account"),
        Column("crmgraph_company", Kind.STRING, max_length=160),
        Column("crmgraph_brand", Kind.STRING, max_length=100),
        Column("crmgraph_playerid", Kind.STRING, max_length=100),
        Column("statecode", Kind.CHOICE, options=CONTACT_STATE),
        Column("statuscode", Kind.CHOICE, options=CONTACT_STATUS),
        *_audit(),
    ),
    status_state={1: 0, 2: 1},
    default_status={0: 1, 1: 2},
)
LEAD = Table(
    "lead",
    "leads",
    "leadid",
    "fullname",
    (
        Column("leadid", Kind.GUID),
        Column("firstname", Kind.STRING, max_length=50),
        Column("lastname", Kind.STRING, required=True, max_length=50),
        Column("fullname", Kind.STRING, writable=False),
        Column("emailaddress1", Kind.STRING, max_length=100),
        Column("telephone1", Kind.STRING, max_length=50),
        Column("companyname", Kind.STRING, max_length=100),
        Column("leadsourcecode", Kind.CHOICE, options=LEAD_SOURCE),
        Column("crmgraph_brand", Kind.STRING, max_length=100),
        Column("statecode", Kind.CHOICE, options=LEAD_STATE),
        Column("statuscode", Kind.CHOICE, options=LEAD_STATUS),
        *_audit(),
    ),
    status_state={1: 0, 2: 0, 3: 1, 4: 2, 5: 2, 6: 2, 7: 2},
    default_status={0: 1, 1: 3, 2: 4},
)
INCIDENT = Table(
    "incident",
    "incidents",
    "incidentid",
    "title",
    (
        Column("incidentid", Kind.GUID),
        Column("title", Kind.STRING, required=True, max_length=200),
        Column("description", Kind.STRING, max_length=2000),
        Column("ticketnumber", Kind.STRING, writable=False),
        Column("prioritycode", Kind.CHOICE, options=INCIDENT_PRIORITY),
        Column(
            "_customerid_value",
            Kind.LOOKUP,
            writable=False,
            required=True,
            target="contact",
            bind="customerid_contact",
        ),
        Column("crmgraph_brand", Kind.STRING, max_length=100),
        Column("statecode", Kind.CHOICE, options=INCIDENT_STATE),
        Column("statuscode", Kind.CHOICE, options=INCIDENT_STATUS),
        *_audit(),
    ),
    status_state={1: 0, 2: 0, 3: 0, 4: 0, 5: 1, 1000: 1, 6: 2, 2000: 2},
    default_status={0: 1, 1: 5, 2: 6},
)
TABLES: dict[str, Table] = {t.entity_set: t for t in (CONTACT, LEAD, INCIDENT)}
BY_LOGICAL: dict[str, Table] = {t.logical: t for t in TABLES.values()}

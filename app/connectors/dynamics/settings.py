"""The settings of a Microsoft Dynamics 365 source (``kind: dynamics``): a Dataverse
environment (``base_url`` is its organization URL, ``https://<org>.crm.dynamics.com``) read
through the Web API v9.2 with an Entra ID app registration's client credentials.

Option sets are numbers on the wire; the maps below say what each of the org's numbers means
to crmgraph. Those given are merged over Dataverse's defaults, and a status is written as the
first number that maps to it (the config's before the defaults)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, HttpUrl

from app.connectors.settings import SecretRef, SourceBase, Strict
from app.domain.models import LeadStatus, TicketPriority, TicketStatus

LOGIN = "https://login.microsoftonline.com"
_COLUMN = r"^[a-z_][a-z0-9_]{0,99}$"

#: Lead ``statuscode``: 1 New, 2 Contacted (Open); 3 Qualified (qualifying a lead is how
#: Dataverse converts it); 4 Lost, 5 Cannot Contact, 6 No Longer Interested, 7 Canceled.
LEAD_STATUSES: dict[int, LeadStatus] = {
    1: LeadStatus.NEW,
    2: LeadStatus.WORKING,
    3: LeadStatus.CONVERTED,
    4: LeadStatus.UNQUALIFIED,
    5: LeadStatus.UNQUALIFIED,
    6: LeadStatus.UNQUALIFIED,
    7: LeadStatus.UNQUALIFIED,
}
#: Incident ``statuscode``. Dataverse has no "new" reason: a case starts In Progress (1).
TICKET_STATUSES: dict[int, TicketStatus] = {
    1: TicketStatus.NEW,
    4: TicketStatus.OPEN,
    3: TicketStatus.PENDING,
    2: TicketStatus.ON_HOLD,
    5: TicketStatus.SOLVED,
    1000: TicketStatus.CLOSED,
    6: TicketStatus.CLOSED,
    2000: TicketStatus.CLOSED,
}
#: Incident ``prioritycode``: 1 High, 2 Normal, 3 Low (URGENT is written as High).
TICKET_PRIORITIES: dict[int, TicketPriority] = {
    1: TicketPriority.HIGH,
    2: TicketPriority.NORMAL,
    3: TicketPriority.LOW,
}
#: Lead ``leadsourcecode`` labels.
LEAD_SOURCES: dict[str, int] = {
    "Advertisement": 1,
    "Employee Referral": 2,
    "External Referral": 3,
    "Partner": 4,
    "Public Relations": 5,
    "Seminar": 6,
    "Trade Show": 7,
    "Web": 8,
    "Word of Mouth": 9,
    "Other": 10,
}


class DynamicsAuth(Strict):
    #: The Entra ID tenant (directory) id, or one of its domain names.
    tenant_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]{0,99}$")
    client_id: SecretRef
    client_secret: SecretRef
    #: The token endpoint, when not the Microsoft identity platform's own for the tenant.
    token_url: HttpUrl | None = None


class DynamicsSource(SourceBase):
    kind: Literal["dynamics"]
    auth: DynamicsAuth
    brand_column: str = Field("crmgraph_brand", pattern=_COLUMN)
    player_id_column: str | None = Field("crmgraph_playerid", pattern=_COLUMN)
    #: A contact's company as text; None: the name of its parent account only.
    company_column: str | None = Field("crmgraph_company", pattern=_COLUMN)
    #: A contact's lifecycle stage as text; None: the org keeps none.
    lifecycle_column: str | None = Field(None, pattern=_COLUMN)
    #: ``contact``: the gateway's customers are this org's contacts (a case's customer is
    #: one of them); ``email``: customers live in another CRM and are linked by email.
    requester_link: Literal["contact", "email"] = "contact"
    lead_statuses: dict[int, LeadStatus] = Field(default_factory=dict)
    ticket_statuses: dict[int, TicketStatus] = Field(default_factory=dict)
    ticket_priorities: dict[int, TicketPriority] = Field(default_factory=dict)
    #: The org's own lead source labels beyond Dataverse's (label → option value).
    lead_sources: dict[str, int] = Field(default_factory=dict)

    @property
    def token_endpoint(self) -> str:
        if self.auth.token_url is not None:
            return str(self.auth.token_url)
        return f"{LOGIN}/{self.auth.tenant_id}/oauth2/v2.0/token"

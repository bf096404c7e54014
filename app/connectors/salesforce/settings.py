"""The settings of a Salesforce source (``kind: salesforce``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.connectors.settings import SecretRef, SourceBase, Strict
from app.domain.models import LeadStatus


class SalesforceAuth(Strict):
    client_id: SecretRef
    client_secret: SecretRef


class SalesforceSource(SourceBase):
    kind: Literal["salesforce"]
    auth: SalesforceAuth
    api_version: str = Field("v61.0", pattern=r"^v\d{2}\.\d$")
    brand_field: str | None = "Brand__c"
    #: Org Lead Status value → our status: wins over what is read from the org (its
    #: LeadStatus rows and describe, see ``connectors/salesforce/describe.py``).
    lead_statuses: dict[str, LeadStatus] = Field(default_factory=dict)

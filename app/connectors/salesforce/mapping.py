"""Salesforce Lead fields → Lead fields."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from app.domain.models import LeadStatus
from app.mapping import converters as c
from app.mapping.fieldmap import FieldMap, wire


def lead_statuses(extra: Mapping[str, LeadStatus]) -> dict[str, LeadStatus]:
    return {**c.SALESFORCE_LEAD_STATUSES, **{k.lower(): v for k, v in extra.items()}}


def lead_map(brand_field: str | None, statuses: Mapping[str, LeadStatus]) -> FieldMap:
    fields = {
        "first_name": wire("FirstName", convert=c.text),
        "last_name": wire("LastName", convert=c.text),
        "email": wire("Email", convert=c.email),
        "phone": wire("Phone", convert=c.text),
        "company": wire("Company", convert=c.text),
        "status": wire("Status", "IsConverted", convert=partial(c.lead_status, table=statuses)),
        "lead_source": wire("LeadSource", convert=c.text),
        "created_at": wire("CreatedDate", convert=c.salesforce_datetime),
        "updated_at": wire("LastModifiedDate", convert=c.salesforce_datetime),
        "converted_contact_id": wire("ConvertedContactId", convert=c.text),
    }
    always = ["Id", "Email", "CreatedDate"]
    if brand_field:
        fields["brand"] = wire(brand_field, convert=c.text)
        always.append(brand_field)
    return FieldMap(fields, always=always)

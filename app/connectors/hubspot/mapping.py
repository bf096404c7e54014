"""HubSpot contact properties → Customer fields."""

from __future__ import annotations

from app.mapping import converters as c
from app.mapping.fieldmap import FieldMap, wire


def customer_map(brand_property: str, player_id_property: str | None) -> FieldMap:
    fields = {
        "first_name": wire("firstname", convert=c.text),
        "last_name": wire("lastname", convert=c.text),
        "email": wire("email", convert=c.email),
        "phone": wire("phone", convert=c.text),
        "company": wire("company", convert=c.text),
        "lifecycle_stage": wire("lifecyclestage", convert=c.text),
        "created_at": wire("createdate", convert=c.hubspot_datetime),
        "updated_at": wire("lastmodifieddate", convert=c.hubspot_datetime),
        "brand": wire(brand_property, convert=c.text),
    }
    always = ["email", brand_property]
    if player_id_property:
        fields["player_id"] = wire(player_id_property, convert=c.text)
        always.append(player_id_property)
    return FieldMap(fields, always=always)

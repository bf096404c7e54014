"""The org's metadata: which fields its objects have, its Lead Status picklist, and what the
describe resource answers about them.

By default the org is a fresh one (Salesforce's default picklists, plus the operator's custom
``Brand__c`` field). A test plays an org whose fields and picklists differ from ours by sending
an :class:`OrgShape` to the vendor control route ``PUT /__org``: it may take Lead fields away,
change the Lead Status picklist, and give Lead custom fields of its own (``lead_fields_extra``,
each a :class:`CustomField`), which describe, SOQL and writes then know like any other
(``DELETE /__org`` restores the fresh org; so does ``POST /__reset?data=true``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.simulators.salesforce.store import (
    FRESH_ORG_LEAD_STATUSES,
    LEAD,
    SCHEMA,
    FieldSpec,
    FieldType,
    PicklistEntry,
    SObjectType,
)

_SOAP_TYPES = {
    FieldType.ID: "tns:ID",
    FieldType.REFERENCE: "tns:ID",
    FieldType.BOOLEAN: "xsd:boolean",
    FieldType.DATETIME: "xsd:dateTime",
    FieldType.DATE: "xsd:date",
    FieldType.INT: "xsd:int",
    FieldType.DOUBLE: "xsd:double",
    FieldType.CURRENCY: "xsd:double",
}
#: (precision, scale) of the number types, as describe reports a Number(18, 0) / Currency(16, 2).
_NUMBER_SHAPE = {FieldType.DOUBLE: (18, 0), FieldType.CURRENCY: (18, 2)}
_LABELS = {"Lead": "Leads", "Contact": "Contacts", "Account": "Accounts"}


class StatusValue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str = Field(min_length=1, max_length=255)
    label: str | None = None
    active: bool = True
    default: bool = False
    converted: bool = False


class CustomField(BaseModel):
    """A custom Lead field the org has (Setup → Object Manager → Lead → Fields)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*__c$", max_length=43)
    type: Literal["picklist", "string", "double", "int", "boolean", "datetime", "currency"] = (
        "string"
    )
    label: str | None = None
    #: The picklist's values, in order (picklist fields only).
    picklist: list[str] = Field(default_factory=list)
    #: "Restrict picklist to the values defined in the value set".
    restricted: bool = False
    #: A text field's length (string fields only).
    length: int = Field(default=255, ge=1, le=255)

    @model_validator(mode="after")
    def _sound(self) -> CustomField:
        if self.type != "picklist" and (self.picklist or self.restricted):
            raise ValueError(f"{self.name}: only a picklist field has picklist values")
        if len(set(self.picklist)) != len(self.picklist):
            raise ValueError(f"{self.name}: picklist values must be unique")
        return self

    def spec(self) -> FieldSpec:
        kind = FieldType(self.type)
        label = self.label or self.name.removesuffix("__c").replace("_", " ")
        text = kind in (FieldType.STRING, FieldType.PICKLIST)
        return FieldSpec(
            self.name,
            kind,
            label,
            writable=True,
            length=self.length if text else None,
            default=False if kind is FieldType.BOOLEAN else None,
            picklist=tuple(PicklistEntry(v, v) for v in self.picklist),
            restricted=self.restricted,
        )


class OrgShape(BaseModel):
    """How this org differs from a fresh one (the body of ``PUT /__org``)."""

    model_config = ConfigDict(extra="forbid")
    #: Lead fields this org does not have (e.g. ``Brand__c``).
    lead_fields_absent: list[str] = Field(default_factory=list)
    #: The Lead Status picklist, in order; unset: a fresh org's.
    lead_statuses: list[StatusValue] | None = None
    #: "Restrict picklist to the values defined in the value set" on Lead Status.
    restricted_status: bool = False
    #: Custom Lead fields this org has besides a fresh org's (names end in ``__c``).
    lead_fields_extra: list[CustomField] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sound(self) -> OrgShape:
        absent = {name.lower() for name in self.lead_fields_absent}
        seen: set[str] = set()
        for extra in self.lead_fields_extra:
            key = extra.name.lower()
            if key in seen or (LEAD.field(key) is not None and key not in absent):
                raise ValueError(f"Lead already has a field {extra.name!r}")
            seen.add(key)
        for name in self.lead_fields_absent:
            spec = LEAD.field(name)
            if spec is None:
                raise ValueError(f"Lead has no field {name!r} to take away")
            if spec.required or spec.type is FieldType.ID or name.lower() == "status":
                raise ValueError(f"every org has the Lead field {spec.name}")
        if self.lead_statuses is not None:
            if sum(s.default for s in self.lead_statuses) != 1:
                raise ValueError("exactly one lead status must be the default")
            if not any(s.converted for s in self.lead_statuses):
                raise ValueError("at least one lead status must be the converted one")
        return self


class Org:
    """The org's types by name (what SOQL, describe and writes see) and its lead statuses."""

    def __init__(self, shape: OrgShape | None = None) -> None:
        self.shape = shape or OrgShape()
        statuses = FRESH_ORG_LEAD_STATUSES
        if self.shape.lead_statuses is not None:
            statuses = tuple(
                PicklistEntry(s.value, s.label or s.value, s.active, s.default, s.converted)
                for s in self.shape.lead_statuses
            )
        self.lead_statuses = statuses
        absent = {name.lower() for name in self.shape.lead_fields_absent}
        default = next(s.value for s in statuses if s.default)
        fields: list[FieldSpec] = []
        for spec in LEAD.fields:
            if spec.name.lower() in absent:
                continue
            if spec.name == "Status":
                spec = replace(
                    spec,
                    picklist=statuses,
                    restricted=self.shape.restricted_status,
                    default=default,
                )
            fields.append(spec)
        fields += [extra.spec() for extra in self.shape.lead_fields_extra]
        self.schema: dict[str, SObjectType] = {
            **SCHEMA,
            "Lead": SObjectType("Lead", "00Q", tuple(fields)),
        }
        self._lower = {name.lower(): sotype for name, sotype in self.schema.items()}

    def sobject(self, name: str) -> SObjectType | None:
        """The type called ``name`` in any case, or ``None``."""
        return self._lower.get(name.lower())


def describe(sotype: SObjectType, version: str) -> dict[str, Any]:
    """``GET sobjects/{Type}/describe``: the object's properties and every field's."""
    writable = any(f.writable for f in sotype.fields)
    base = f"/services/data/{version}/sobjects/{sotype.name}"
    return {
        "name": sotype.name,
        "label": sotype.name if sotype.name != "LeadStatus" else "Lead Status Value",
        "labelPlural": _LABELS.get(sotype.name, f"{sotype.name} Values"),
        "keyPrefix": sotype.key_prefix,
        "custom": False,
        "customSetting": False,
        "createable": writable,
        "updateable": writable,
        "deletable": writable,
        "undeletable": writable,
        "queryable": True,
        "retrieveable": True,
        "searchable": writable,
        "layoutable": writable,
        "triggerable": writable,
        "replicateable": True,
        "mergeable": sotype.name in ("Lead", "Contact", "Account"),
        "feedEnabled": False,
        "activateable": False,
        "deprecatedAndHidden": False,
        "childRelationships": [],
        "recordTypeInfos": [],
        "fields": [_field(spec) for spec in sotype.fields],
        "urls": {
            "sobject": base,
            "describe": f"{base}/describe",
            "rowTemplate": f"{base}/{{ID}}",
        },
    }


def _field(spec: FieldSpec) -> dict[str, Any]:
    text = spec.is_text
    system = spec.type is FieldType.ID or spec.name in (
        "CreatedDate",
        "LastModifiedDate",
        "SystemModstamp",
    )
    default = next((e.value for e in spec.picklist if e.default), None)
    return {
        "name": spec.name,
        "label": spec.label,
        "type": spec.type.value,
        "soapType": _SOAP_TYPES.get(spec.type, "xsd:string"),
        "length": spec.length or 0,
        "byteLength": (spec.length or 0) * 3 if text else (18 if spec.type is FieldType.ID else 0),
        "digits": 9 if spec.type is FieldType.INT else 0,
        "precision": _NUMBER_SHAPE.get(spec.type, (0, 0))[0],
        "scale": _NUMBER_SHAPE.get(spec.type, (0, 0))[1],
        "custom": spec.name.endswith("__c"),
        "nillable": not (spec.required or system or spec.type is FieldType.BOOLEAN),
        "createable": spec.writable,
        "updateable": spec.writable,
        "defaultedOnCreate": system or spec.default is not None,
        "defaultValue": default if spec.type is FieldType.PICKLIST else spec.default,
        "calculated": spec.name == "Name",
        "autoNumber": False,
        "caseSensitive": False,
        "externalId": False,
        "unique": False,
        "idLookup": spec.type is FieldType.ID or spec.name in ("Email", "ApiName"),
        "nameField": spec.name == "Name",
        "filterable": True,
        "sortable": True,
        "groupable": spec.type is not FieldType.DATETIME,
        "aggregatable": True,
        "dependentPicklist": False,
        "restrictedPicklist": spec.restricted,
        "picklistValues": [
            {
                "active": e.active,
                "defaultValue": e.default,
                "label": e.label,
                "validFor": None,
                "value": e.value,
            }
            for e in spec.picklist
        ],
        "referenceTo": [spec.reference_to] if spec.reference_to else [],
        "relationshipName": spec.relationship,
        "htmlFormatted": False,
        "deprecatedAndHidden": False,
    }

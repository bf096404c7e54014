"""The simulators' metadata resources over real loopback HTTP: Salesforce's describe and
LeadStatus (and an org reshaped by ``PUT /salesforce/__org``), HubSpot's contact properties,
Zendesk's ticket fields and brands (checked against Zendesk's own OpenAPI file)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.simulators.credentials import (
    HUBSPOT_TOKEN,
    SALESFORCE_API_VERSION,
    ZENDESK_API_TOKEN,
    ZENDESK_EMAIL,
)
from app.simulators.server import RunningSimulators
from app.simulators.world import BRANDS
from tests.contract.openapi import ContractRecorder
from tests.upstreams import salesforce_session

API = f"/services/data/{SALESFORCE_API_VERSION}"
#: An org that is not ours: no Brand__c, its own statuses, a restricted Status picklist.
OTHER_ORG: dict[str, Any] = {
    "lead_fields_absent": ["Brand__c"],
    "lead_statuses": [
        {"value": "New Inquiry", "default": True},
        {"value": "In Conversation"},
        {"value": "Marketing Qualified", "label": "MQL"},
        {"value": "Disqualified"},
        {"value": "Converted to Customer", "converted": True},
        {"value": "Retired", "active": False},
    ],
    "restricted_status": True,
}


@pytest.fixture
async def salesforce(
    simulators: RunningSimulators, control: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """A signed-in client of the Salesforce simulator; the org is made fresh again after."""
    async with salesforce_session(simulators.url("/salesforce")) as client:
        yield client
    (await control.delete("/salesforce/__org")).raise_for_status()
    (await control.post("/salesforce/__reset", params={"data": "true"})).raise_for_status()


def by_name(described: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in described["fields"]}


async def test_describe_lead_lists_its_fields_and_a_fresh_orgs_status_picklist(
    salesforce: httpx.AsyncClient,
) -> None:
    answer = await salesforce.get(f"{API}/sobjects/Lead/describe")
    assert answer.status_code == 200, answer.text
    described = answer.json()
    assert described["name"] == "Lead"
    assert described["keyPrefix"] == "00Q"
    assert described["urls"]["describe"] == f"{API}/sobjects/Lead/describe"
    fields = by_name(described)
    assert {"Id", "Email", "Status", "IsConverted", "Brand__c"} <= set(fields)
    status = fields["Status"]
    assert status["type"] == "picklist"
    assert status["nillable"] is False
    assert status["restrictedPicklist"] is False
    assert [p["value"] for p in status["picklistValues"]] == [
        "Open - Not Contacted",
        "Working - Contacted",
        "Closed - Converted",
        "Closed - Not Converted",
    ]
    assert [p["value"] for p in status["picklistValues"] if p["defaultValue"]] == [
        "Open - Not Contacted"
    ]
    assert set(status["picklistValues"][0]) == {
        "active",
        "defaultValue",
        "label",
        "validFor",
        "value",
    }
    assert fields["Brand__c"]["custom"] is True
    assert fields["Id"]["createable"] is False
    assert fields["LastName"]["nillable"] is False
    contact = (await salesforce.get(f"{API}/sobjects/Contact/describe")).json()
    assert by_name(contact)["AccountId"]["referenceTo"] == ["Account"]


async def test_leadstatus_is_queryable_and_says_which_value_is_converted(
    salesforce: httpx.AsyncClient,
) -> None:
    soql = "SELECT ApiName, MasterLabel, IsConverted, IsDefault FROM LeadStatus ORDER BY SortOrder"
    answer = await salesforce.get(f"{API}/query", params={"q": soql})
    assert answer.status_code == 200, answer.text
    rows = answer.json()["records"]
    assert [(r["ApiName"], r["IsDefault"], r["IsConverted"]) for r in rows] == [
        ("Open - Not Contacted", True, False),
        ("Working - Contacted", False, False),
        ("Closed - Converted", False, True),
        ("Closed - Not Converted", False, False),
    ]
    assert rows[0]["attributes"]["type"] == "LeadStatus"
    converted = await salesforce.get(
        f"{API}/query", params={"q": "SELECT ApiName FROM LeadStatus WHERE IsConverted = true"}
    )
    assert [r["ApiName"] for r in converted.json()["records"]] == ["Closed - Converted"]


async def test_a_reshaped_org_describes_and_enforces_its_own_fields_and_picklist(
    salesforce: httpx.AsyncClient, control: httpx.AsyncClient
) -> None:
    shaped = await control.put("/salesforce/__org", json=OTHER_ORG)
    assert shaped.status_code == 200, shaped.text
    fields = by_name((await salesforce.get(f"{API}/sobjects/Lead/describe")).json())
    assert "Brand__c" not in fields
    status = fields["Status"]
    assert status["restrictedPicklist"] is True
    assert status["picklistValues"][2] == {
        "active": True,
        "defaultValue": False,
        "label": "MQL",
        "validFor": None,
        "value": "Marketing Qualified",
    }
    rows = (
        await salesforce.get(
            f"{API}/query", params={"q": "SELECT ApiName, IsConverted FROM LeadStatus"}
        )
    ).json()["records"]
    assert [r["ApiName"] for r in rows if r["IsConverted"]] == ["Converted to Customer"]

    # The missing field: SOQL and writes refuse it in Salesforce's words.
    query = await salesforce.get(f"{API}/query", params={"q": "SELECT Id, Brand__c FROM Lead"})
    assert query.status_code == 400
    assert query.json()[0]["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Brand__c' on entity 'Lead'" in query.json()[0]["message"]

    # The restricted picklist: a value it lacks (or an inactive one) is refused, 400.
    lead = {"LastName": "Lovelace", "Company": "Analytical Engines"}
    for value in ("Qualified", "Retired"):
        refused = await salesforce.post(f"{API}/sobjects/Lead", json={**lead, "Status": value})
        assert refused.status_code == 400, refused.text
        assert refused.json() == [
            {
                "message": f"Status: bad value for restricted picklist field: {value}",
                "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                "fields": ["Status"],
            }
        ]
    # Left out, Status takes the org's default; an org value is taken on update.
    created = await salesforce.post(f"{API}/sobjects/Lead", json=lead)
    assert created.status_code == 201, created.text
    lead_id = created.json()["id"]
    read = (await salesforce.get(f"{API}/sobjects/Lead/{lead_id}")).json()
    assert read["Status"] == "New Inquiry"
    assert "Brand__c" not in read
    update = await salesforce.patch(
        f"{API}/sobjects/Lead/{lead_id}", json={"Status": "Marketing Qualified"}
    )
    assert update.status_code == 204, update.text
    refused = await salesforce.patch(f"{API}/sobjects/Lead/{lead_id}", json={"Status": "Open"})
    assert refused.json()[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"

    # DELETE makes the org fresh again.
    (await control.delete("/salesforce/__org")).raise_for_status()
    fields = by_name((await salesforce.get(f"{API}/sobjects/Lead/describe")).json())
    assert "Brand__c" in fields
    assert fields["Status"]["restrictedPicklist"] is False


async def test_an_unsound_org_shape_is_refused(control: httpx.AsyncClient) -> None:
    for shape in (
        {"lead_fields_absent": ["LastName"]},
        {"lead_fields_absent": ["Nope__c"]},
        {"lead_statuses": [{"value": "A", "converted": True}]},  # no default
        {"lead_statuses": [{"value": "A", "default": True}]},  # none converted
        {"colour": "blue"},
    ):
        answer = await control.put("/salesforce/__org", json=shape)
        assert answer.status_code == 422, shape
    assert (await control.get("/salesforce/__org")).json()["lead_fields_absent"] == []


async def test_hubspot_lists_the_contact_properties_with_their_options(
    simulators: RunningSimulators, control: httpx.AsyncClient
) -> None:
    headers = {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}
    async with httpx.AsyncClient(base_url=simulators.url("/hubspot"), headers=headers) as client:
        answer = await client.get("/crm/v3/properties/contacts")
        unknown = await client.get("/crm/v3/properties/unicorns")
        anonymous = await client.get("/crm/v3/properties/contacts", headers={"Authorization": ""})
    assert answer.status_code == 200, answer.text
    properties = {p["name"]: p for p in answer.json()["results"]}
    brand = properties["brand"]
    assert (brand["type"], brand["fieldType"], brand["hubspotDefined"]) == (
        "enumeration",
        "select",
        False,
    )
    assert [o["value"] for o in brand["options"]] == [b.key for b in BRANDS]
    assert {"label", "value", "displayOrder", "hidden"} <= set(brand["options"][0])
    assert properties["email"]["hasUniqueValue"] is True
    assert properties["firstname"]["hubspotDefined"] is True
    assert "player_id" in properties
    assert unknown.status_code == 400
    assert anonymous.status_code == 401


async def test_zendesk_ticket_fields_and_brands_follow_the_spec(
    simulators: RunningSimulators, control: httpx.AsyncClient
) -> None:
    recorder = ContractRecorder("zendesk", validate_errors=False)
    auth = (f"{ZENDESK_EMAIL}/token", ZENDESK_API_TOKEN)
    async with recorder.client(simulators.url("/zendesk"), auth=auth) as client:
        fields = (await client.get("/api/v2/ticket_fields")).json()["ticket_fields"]
        brands = (await client.get("/api/v2/brands")).json()["brands"]
    recorder.assert_clean()
    by_type = {f["type"]: f for f in fields}
    assert [o["value"] for o in by_type["status"]["system_field_options"]] == [
        "open",
        "pending",
        "hold",
        "solved",
    ]
    assert [o["value"] for o in by_type["priority"]["system_field_options"]] == [
        "low",
        "normal",
        "high",
        "urgent",
    ]
    assert {b["id"]: b["name"] for b in brands} == {b.zendesk_brand_id: b.name for b in BRANDS}
    assert [b["default"] for b in brands].count(True) == 1

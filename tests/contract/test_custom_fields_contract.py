"""Answers that carry an org's custom fields, against the vendors' contracts.

HubSpot: the vendored files do not cover the Properties API, so the property is made with a
plain client (its shape is checked by ``test_custom_fields_hubspot.py`` against HubSpot's
documented ``Property``); the object routes that then carry it are validated against
``contacts-v3.json``, and the Properties API's refusals against its ``Error`` schema.
Zendesk: ``POST``/``GET /api/v2/ticket_fields`` and tickets carrying a set value are validated
against ``support-oas.yaml``. Its ``custom_fields`` items declare ``value`` a non-null string,
stricter than the live API (null while unset): only tickets with the value set are recorded;
and its create-ticket body types those items as custom-object fields, so the write itself goes
unrecorded.
Salesforce: records, query pages and save results with custom fields against the digest's
schemas (``salesforce_schemas.py``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from openapi_schema_validator import OAS30ReadValidator

from app.simulators.credentials import (
    HUBSPOT_TOKEN,
    SALESFORCE_API_VERSION,
    SALESFORCE_CLIENT_ID,
    SALESFORCE_CLIENT_SECRET,
    ZENDESK_API_TOKEN,
    ZENDESK_EMAIL,
)
from app.simulators.server import RunningSimulators
from tests.contract.openapi import SPECS, ContractRecorder
from tests.contract.salesforce_schemas import schema_for

pytestmark = pytest.mark.contract

HUBSPOT_AUTH = {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}
VIP_TIER = {
    "name": "vip_tier",
    "label": "VIP tier",
    "type": "enumeration",
    "fieldType": "select",
    "groupName": "contactinformation",
    "options": [{"label": "Gold", "value": "gold"}, {"label": "Silver", "value": "silver"}],
}
SF_API = f"/services/data/{SALESFORCE_API_VERSION}"
SF_ORG = {
    "lead_fields_extra": [
        {"name": "VIP_Tier__c", "type": "picklist", "picklist": ["Gold"], "restricted": True},
        {"name": "Deposit_Total__c", "type": "double"},
        {"name": "VIP_Since__c", "type": "datetime"},
        {"name": "Is_VIP__c", "type": "boolean"},
    ]
}


Recorded = tuple[ContractRecorder, httpx.AsyncClient]


def hubspot_error_problems(body: Any) -> list[str]:
    spec = json.loads((SPECS / "hubspot" / "contacts-v3.json").read_text())
    schema = {"$ref": "#/components/schemas/Error", "components": spec["components"]}
    return [e.message for e in OAS30ReadValidator(schema).iter_errors(body)]


@pytest.fixture
async def hubspot(
    simulators: RunningSimulators, control: httpx.AsyncClient
) -> AsyncIterator[tuple[ContractRecorder, httpx.AsyncClient]]:
    """A recorded client in an account with the ``vip_tier`` contact property."""
    async with httpx.AsyncClient(
        base_url=simulators.url("/hubspot"), headers=HUBSPOT_AUTH, timeout=10
    ) as plain:
        made = await plain.post("/crm/v3/properties/contacts", json=VIP_TIER)
        assert made.status_code == 201, made.text
    recorder = ContractRecorder("hubspot")
    async with recorder.client(simulators.url(""), headers=HUBSPOT_AUTH, timeout=10) as client:
        yield recorder, client
    (await control.post("/hubspot/__reset?data=true")).raise_for_status()


# HubSpot's files declare OAuth2 security, which openapi-core warns it cannot check (as in
# test_hubspot_contract.py); the warning says nothing about the exchange.
@pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning")
async def test_hubspot_objects_carrying_a_custom_property_match_the_contract(
    hubspot: Recorded,
) -> None:
    recorder, client = hubspot
    contacts = "/hubspot/crm/v3/objects/contacts"
    body = {"properties": {"email": "vip@example.com", "vip_tier": "gold"}, "associations": []}
    created = (await client.post(contacts, json=body)).json()
    await client.patch(f"{contacts}/1001", json={"properties": {"vip_tier": "silver"}})
    await client.get(f"{contacts}/{created['id']}", params={"properties": "vip_tier"})
    read = {"inputs": [{"id": created["id"]}, {"id": "1001"}], "properties": ["vip_tier"]}
    await client.post(f"{contacts}/batch/read", json=read)
    for filter_ in (
        {"propertyName": "vip_tier", "operator": "EQ", "value": "gold"},
        {"propertyName": "vip_tier", "operator": "IN", "values": ["gold", "silver"]},
    ):
        search = {
            "filterGroups": [{"filters": [filter_]}],
            "properties": ["vip_tier"],
            "limit": 10,
        }
        found = await client.post(f"{contacts}/search", json=search)
        assert found.json()["total"] >= 1
    recorder.assert_clean()


async def test_hubspot_property_refusals_match_the_error_schema(hubspot: Recorded) -> None:
    _, client = hubspot
    properties = "/hubspot/crm/v3/properties/contacts"
    async with httpx.AsyncClient(
        base_url=str(client.base_url), headers=HUBSPOT_AUTH, timeout=10
    ) as plain:
        conflict = await plain.post(properties, json=VIP_TIER)
        invalid = await plain.post(properties, json={**VIP_TIER, "name": "x", "type": "number"})
        option = await plain.patch(
            "/hubspot/crm/v3/objects/contacts/1001", json={"properties": {"vip_tier": "bronze"}}
        )
    assert (conflict.status_code, invalid.status_code, option.status_code) == (409, 400, 400)
    for answer in (conflict, invalid, option):
        assert hubspot_error_problems(answer.json()) == []


@pytest.fixture
async def zendesk(
    simulators: RunningSimulators, control: httpx.AsyncClient
) -> AsyncIterator[tuple[ContractRecorder, httpx.AsyncClient]]:
    recorder = ContractRecorder("zendesk", validate_errors=False)
    auth = (f"{ZENDESK_EMAIL}/token", ZENDESK_API_TOKEN)
    async with recorder.client(simulators.url("/zendesk"), auth=auth, timeout=30) as client:
        yield recorder, client
    (await control.post("/zendesk/__reset", params={"data": "true"})).raise_for_status()


async def test_zendesk_ticket_fields_and_tickets_carrying_them_match_the_spec(
    zendesk: Recorded, simulators: RunningSimulators
) -> None:
    recorder, client = zendesk
    tagger = {
        "type": "tagger",
        "title": "VIP tier",
        "custom_field_options": [{"name": "Gold", "value": "vip_gold"}],
    }
    made = await client.post("/api/v2/ticket_fields", json={"ticket_field": tagger})
    assert made.status_code == 201, made.text
    field_id = made.json()["ticket_field"]["id"]
    await client.get("/api/v2/ticket_fields")
    await client.get(f"/api/v2/ticket_fields/{field_id}")
    ticket = {
        "subject": "VIP",
        "comment": {"body": "Hello"},
        "custom_fields": [{"id": field_id, "value": "vip_gold"}],
    }
    # The file's ticket-create body types ``custom_fields`` items as custom-object fields
    # (``key``, ``type``, ``title`` required): the write goes by a plain client, its reads are
    # recorded.
    async with httpx.AsyncClient(base_url=str(client.base_url), auth=client.auth) as plain:
        created = await plain.post("/api/v2/tickets", json={"ticket": ticket})
    assert created.status_code == 201, created.text
    await client.get(f"/api/v2/tickets/{created.json()['ticket']['id']}")
    await client.get("/api/v2/search", params={"query": f"custom_field_{field_id}:vip_gold"})
    recorder.assert_clean()


@pytest.fixture
async def salesforce(
    simulators: RunningSimulators, control: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    (await control.put("/salesforce/__org", json=SF_ORG)).raise_for_status()
    async with httpx.AsyncClient(base_url=simulators.url("/salesforce"), timeout=10) as client:
        credentials = {
            "grant_type": "client_credentials",
            "client_id": SALESFORCE_CLIENT_ID,
            "client_secret": SALESFORCE_CLIENT_SECRET,
        }
        token = (await client.post("/services/oauth2/token", data=credentials)).json()
        client.headers["Authorization"] = f"Bearer {token['access_token']}"
        yield client
    (await control.post("/salesforce/__reset", params={"data": "true"})).raise_for_status()


def salesforce_problems(response: httpx.Response) -> list[str]:
    path = response.request.url.path.removeprefix("/salesforce")
    schema = schema_for(response.request.method, path, response.status_code)
    assert schema is not None, path
    if not response.content:
        return []
    return [e.message for e in Draft202012Validator(schema).iter_errors(response.json())]


async def test_salesforce_answers_with_custom_fields_meet_the_schemas(
    salesforce: httpx.AsyncClient,
) -> None:
    lead = {
        "LastName": "Vip",
        "Company": "Acme",
        "VIP_Tier__c": "Gold",
        "Deposit_Total__c": 10.5,
        "VIP_Since__c": "2024-06-01T10:00:00Z",
    }
    created = await salesforce.post(f"{SF_API}/sobjects/Lead", json=lead)
    lead_id = created.json()["id"]
    soql = "SELECT Id, VIP_Tier__c, Deposit_Total__c, VIP_Since__c, Is_VIP__c FROM Lead"
    collection = {
        "records": [
            {"attributes": {"type": "Lead"}, "LastName": "A", "Company": "B", "VIP_Tier__c": "X"}
        ]
    }
    answers = [
        created,
        await salesforce.get(f"{SF_API}/sobjects/Lead/{lead_id}"),
        await salesforce.get(f"{SF_API}/query", params={"q": f"{soql} WHERE Id = '{lead_id}'"}),
        await salesforce.post(f"{SF_API}/composite/sobjects", json=collection),
        await salesforce.patch(f"{SF_API}/sobjects/Lead/{lead_id}", json={"Is_VIP__c": "maybe"}),
    ]
    assert [a.status_code for a in answers] == [201, 200, 200, 200, 400]
    for answer in answers:
        assert salesforce_problems(answer) == [], answer.text

"""Salesforce custom Lead fields over real HTTP: given to the org with ``PUT /salesforce/__org``
(``lead_fields_extra``), then described, written, queried, refused with Salesforce's error codes,
and gone again with ``DELETE /__org`` or a data reset."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.simulators.credentials import (
    SALESFORCE_API_VERSION,
    SALESFORCE_CLIENT_ID,
    SALESFORCE_CLIENT_SECRET,
)
from app.simulators.server import RunningSimulators

PREFIX = "/salesforce"
API = f"/services/data/{SALESFORCE_API_VERSION}"
CREDENTIALS = {
    "grant_type": "client_credentials",
    "client_id": SALESFORCE_CLIENT_ID,
    "client_secret": SALESFORCE_CLIENT_SECRET,
}
VIP_ORG: dict[str, Any] = {
    "lead_fields_extra": [
        {
            "name": "VIP_Tier__c",
            "type": "picklist",
            "picklist": ["Gold", "Silver"],
            "restricted": True,
        },
        {"name": "Deposit_Total__c", "type": "double"},
        {"name": "Deposits__c", "type": "int"},
        {"name": "Is_VIP__c", "type": "boolean"},
        {"name": "VIP_Since__c", "type": "datetime"},
        {"name": "Lifetime_Value__c", "type": "currency"},
        {"name": "Nickname__c", "type": "string"},
    ]
}


@pytest.fixture
async def sf(
    simulators: RunningSimulators, control: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a token, in an org with VIP_ORG's fields; fresh org and data afterwards."""
    (await control.put(f"{PREFIX}/__org", json=VIP_ORG)).raise_for_status()
    async with httpx.AsyncClient(base_url=simulators.url(PREFIX), timeout=10) as client:
        token = (await client.post("/services/oauth2/token", data=CREDENTIALS)).json()
        client.headers["Authorization"] = f"Bearer {token['access_token']}"
        yield client
    (await control.post(f"{PREFIX}/__reset", params={"data": "true"})).raise_for_status()


async def query(sf: httpx.AsyncClient, soql: str) -> list[dict[str, Any]]:
    response = await sf.get(f"{API}/query", params={"q": soql})
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["records"]
    return records


async def create_lead(sf: httpx.AsyncClient, **fields: Any) -> str:
    body = {"LastName": "Vip", "Company": "Acme", **fields}
    response = await sf.post(f"{API}/sobjects/Lead", json=body)
    assert response.status_code == 201, response.text
    lead_id: str = response.json()["id"]
    return lead_id


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, list)
    assert body[0]["errorCode"] == code
    assert body[0]["message"]
    error: dict[str, Any] = body[0]
    return error


async def test_describe_lists_the_custom_fields_with_their_picklist(sf: httpx.AsyncClient) -> None:
    described = (await sf.get(f"{API}/sobjects/Lead/describe")).json()
    fields = {f["name"]: f for f in described["fields"]}
    tier = fields["VIP_Tier__c"]
    assert tier["type"] == "picklist"
    assert tier["custom"] is True
    assert tier["restrictedPicklist"] is True
    assert [v["value"] for v in tier["picklistValues"]] == ["Gold", "Silver"]
    assert fields["Deposit_Total__c"]["soapType"] == "xsd:double"
    assert fields["Is_VIP__c"]["type"] == "boolean"


async def test_a_created_lead_reads_its_custom_values_back(sf: httpx.AsyncClient) -> None:
    lead_id = await create_lead(
        sf, VIP_Tier__c="Gold", Deposit_Total__c=120.5, VIP_Since__c="2024-06-01T10:00:00Z"
    )
    read = (await sf.get(f"{API}/sobjects/Lead/{lead_id}")).json()
    assert read["VIP_Tier__c"] == "Gold"
    assert read["Deposit_Total__c"] == 120.5
    assert read["VIP_Since__c"] == "2024-06-01T10:00:00.000+0000"
    assert read["Is_VIP__c"] is False


async def test_soql_selects_and_filters_with_equals(sf: httpx.AsyncClient) -> None:
    lead_id = await create_lead(sf, VIP_Tier__c="Gold", Nickname__c="Ace")
    rows = await query(
        sf, "SELECT Id, VIP_Tier__c, Nickname__c FROM Lead WHERE VIP_Tier__c = 'gold'"
    )
    assert [(r["Id"], r["VIP_Tier__c"], r["Nickname__c"]) for r in rows] == [
        (lead_id, "Gold", "Ace")
    ]


async def test_soql_filters_with_in_and_not_equals(sf: httpx.AsyncClient) -> None:
    gold = await create_lead(sf, VIP_Tier__c="Gold")
    silver = await create_lead(sf, VIP_Tier__c="Silver")
    rows = await query(sf, "SELECT Id FROM Lead WHERE VIP_Tier__c IN ('Gold', 'Silver')")
    assert {r["Id"] for r in rows} == {gold, silver}
    rows = await query(
        sf, "SELECT Id FROM Lead WHERE VIP_Tier__c != 'Gold' AND VIP_Tier__c != null"
    )
    assert [r["Id"] for r in rows] == [silver]


async def test_soql_compares_numbers_and_booleans(sf: httpx.AsyncClient) -> None:
    rich = await create_lead(sf, Deposit_Total__c=500, Is_VIP__c=True)
    await create_lead(sf, Deposit_Total__c=5)
    rows = await query(sf, "SELECT Id FROM Lead WHERE Deposit_Total__c > 100")
    assert [r["Id"] for r in rows] == [rich]
    rows = await query(sf, "SELECT Id FROM Lead WHERE Is_VIP__c = true")
    assert [r["Id"] for r in rows] == [rich]


async def test_a_number_literal_in_quotes_is_invalid_field(sf: httpx.AsyncClient) -> None:
    response = await sf.get(
        f"{API}/query", params={"q": "SELECT Id FROM Lead WHERE Deposit_Total__c = '5'"}
    )
    assert_error(response, 400, "INVALID_FIELD")


async def test_patch_writes_a_custom_field(sf: httpx.AsyncClient) -> None:
    lead_id = await create_lead(sf)
    patched = await sf.patch(f"{API}/sobjects/Lead/{lead_id}", json={"Deposits__c": "7"})
    assert patched.status_code == 204, patched.text
    rows = await query(sf, f"SELECT Deposits__c FROM Lead WHERE Id = '{lead_id}'")
    assert rows[0]["Deposits__c"] == 7


async def test_collections_create_writes_custom_fields(sf: httpx.AsyncClient) -> None:
    body = {
        "allOrNone": False,
        "records": [
            {
                "attributes": {"type": "Lead"},
                "LastName": "A",
                "Company": "X",
                "VIP_Tier__c": "Gold",
            },
            {
                "attributes": {"type": "Lead"},
                "LastName": "B",
                "Company": "X",
                "VIP_Tier__c": "Bronze",
            },
        ],
    }
    results = (await sf.post(f"{API}/composite/sobjects", json=body)).json()
    assert results[0]["success"] is True
    assert results[1]["success"] is False
    assert results[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert results[1]["errors"][0]["fields"] == ["VIP_Tier__c"]


async def test_a_restricted_picklist_refuses_another_value(sf: httpx.AsyncClient) -> None:
    lead_id = await create_lead(sf)
    response = await sf.patch(f"{API}/sobjects/Lead/{lead_id}", json={"VIP_Tier__c": "Bronze"})
    error = assert_error(response, 400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
    assert error["fields"] == ["VIP_Tier__c"]


async def test_a_boolean_for_a_number_is_invalid_type_on_field_in_record(
    sf: httpx.AsyncClient,
) -> None:
    lead_id = await create_lead(sf)
    response = await sf.patch(f"{API}/sobjects/Lead/{lead_id}", json={"Deposit_Total__c": True})
    error = assert_error(response, 400, "INVALID_TYPE_ON_FIELD_IN_RECORD")
    assert error["fields"] == ["Deposit_Total__c"]


async def test_a_fraction_for_an_int_is_invalid_type_on_field_in_record(
    sf: httpx.AsyncClient,
) -> None:
    response = await sf.post(
        f"{API}/sobjects/Lead", json={"LastName": "V", "Company": "A", "Deposits__c": 1.5}
    )
    assert_error(response, 400, "INVALID_TYPE_ON_FIELD_IN_RECORD")


async def test_text_that_is_no_number_is_a_json_parser_error(sf: httpx.AsyncClient) -> None:
    response = await sf.post(
        f"{API}/sobjects/Lead", json={"LastName": "V", "Company": "A", "Deposit_Total__c": "lots"}
    )
    assert_error(response, 400, "JSON_PARSER_ERROR")


async def test_text_that_is_no_instant_is_a_json_parser_error(sf: httpx.AsyncClient) -> None:
    response = await sf.post(
        f"{API}/sobjects/Lead", json={"LastName": "V", "Company": "A", "VIP_Since__c": "soon"}
    )
    assert_error(response, 400, "JSON_PARSER_ERROR")


async def test_an_unknown_field_is_still_invalid_field(sf: httpx.AsyncClient) -> None:
    response = await sf.post(
        f"{API}/sobjects/Lead", json={"LastName": "V", "Company": "A", "VIP_Level__c": "1"}
    )
    assert_error(response, 400, "INVALID_FIELD")
    response = await sf.get(f"{API}/query", params={"q": "SELECT VIP_Level__c FROM Lead"})
    assert_error(response, 400, "INVALID_FIELD")


async def test_a_field_name_without_the_custom_suffix_is_refused(
    control: httpx.AsyncClient, sf: httpx.AsyncClient
) -> None:
    shape = {"lead_fields_extra": [{"name": "VIP_Tier", "type": "string"}]}
    response = await control.put(f"{PREFIX}/__org", json=shape)
    assert response.status_code == 422


async def test_a_field_the_org_already_has_is_refused(
    control: httpx.AsyncClient, sf: httpx.AsyncClient
) -> None:
    shape = {"lead_fields_extra": [{"name": "Brand__c", "type": "string"}]}
    response = await control.put(f"{PREFIX}/__org", json=shape)
    assert response.status_code == 422


async def test_deleting_the_org_shape_forgets_the_fields(
    control: httpx.AsyncClient, sf: httpx.AsyncClient
) -> None:
    (await control.delete(f"{PREFIX}/__org")).raise_for_status()
    response = await sf.get(f"{API}/query", params={"q": "SELECT VIP_Tier__c FROM Lead"})
    assert_error(response, 400, "INVALID_FIELD")


async def test_a_data_reset_restores_the_fresh_org(
    control: httpx.AsyncClient, sf: httpx.AsyncClient
) -> None:
    (await control.post(f"{PREFIX}/__reset", params={"data": "true"})).raise_for_status()
    described = (await sf.get(f"{API}/sobjects/Lead/describe")).json()
    assert "VIP_Tier__c" not in {f["name"] for f in described["fields"]}

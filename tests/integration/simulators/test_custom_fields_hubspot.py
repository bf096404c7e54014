"""HubSpot org custom properties over real HTTP: made with ``POST /crm/v3/properties/{type}``,
then listed, written, read back, searched on, refused with HubSpot's errors, and forgotten by a
data reset."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.simulators.credentials import HUBSPOT_TOKEN
from app.simulators.server import RunningSimulators

AUTH = {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}
PROPERTIES = "/crm/v3/properties/contacts"
CONTACTS = "/crm/v3/objects/contacts"
VIP_TIER: dict[str, Any] = {
    "name": "vip_tier",
    "label": "VIP tier",
    "type": "enumeration",
    "fieldType": "select",
    "groupName": "contactinformation",
    "options": [
        {"label": "Gold", "value": "gold", "displayOrder": 0, "hidden": False},
        {"label": "Silver", "value": "silver", "displayOrder": 1, "hidden": False},
    ],
}


@pytest.fixture
async def hubspot(
    simulators: RunningSimulators, control: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated client; the account is reset (data and properties) afterwards."""
    async with httpx.AsyncClient(
        base_url=simulators.url("/hubspot"), headers=AUTH, timeout=10
    ) as client:
        yield client
    (await control.post("/hubspot/__reset?data=true")).raise_for_status()


async def make(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post(PROPERTIES, json={**VIP_TIER, **overrides})
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def prop(name: str, kind: str, field_type: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": name,
        "type": kind,
        "fieldType": field_type,
        "groupName": "contactinformation",
    }


async def new_contact(client: httpx.AsyncClient, **properties: str) -> str:
    body = {"properties": {"email": f"{len(properties)}-vip@example.com", **properties}}
    response = await client.post(CONTACTS, json=body)
    assert response.status_code == 201, response.text
    contact_id: str = response.json()["id"]
    return contact_id


def assert_error(response: httpx.Response, status: int, category: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "error"
    assert body["category"] == category
    assert body["message"]
    assert body["correlationId"]
    return body


async def search_ids(client: httpx.AsyncClient, *filters: dict[str, Any]) -> set[str]:
    body = {"filterGroups": [{"filters": list(filters)}], "properties": ["vip_tier"], "limit": 200}
    response = await client.post(f"{CONTACTS}/search", json=body)
    assert response.status_code == 200, response.text
    return {r["id"] for r in response.json()["results"]}


async def test_creating_a_property_answers_201_with_its_definition(
    hubspot: httpx.AsyncClient,
) -> None:
    made = await make(hubspot)
    assert made["name"] == "vip_tier"
    assert made["type"] == "enumeration"
    assert made["fieldType"] == "select"
    assert made["hubspotDefined"] is False
    assert [o["value"] for o in made["options"]] == ["gold", "silver"]


async def test_a_made_property_is_listed_with_the_others(hubspot: httpx.AsyncClient) -> None:
    await make(hubspot)
    listed = (await hubspot.get(PROPERTIES)).json()["results"]
    by_name = {p["name"]: p for p in listed}
    assert by_name["vip_tier"]["label"] == "VIP tier"
    assert "email" in by_name


async def test_a_made_property_is_read_by_name(hubspot: httpx.AsyncClient) -> None:
    await make(hubspot)
    read = await hubspot.get(f"{PROPERTIES}/vip_tier")
    assert read.status_code == 200, read.text
    assert read.json()["label"] == "VIP tier"
    assert_error(await hubspot.get(f"{PROPERTIES}/vip_level"), 404, "OBJECT_NOT_FOUND")


async def test_making_an_existing_property_again_is_409(hubspot: httpx.AsyncClient) -> None:
    await make(hubspot)
    response = await hubspot.post(PROPERTIES, json=VIP_TIER)
    assert_error(response, 409, "OBJECT_ALREADY_EXISTS")


async def test_a_field_type_the_type_does_not_allow_is_a_validation_error(
    hubspot: httpx.AsyncClient,
) -> None:
    response = await hubspot.post(PROPERTIES, json=prop("tier_text", "string", "select"))
    assert_error(response, 400, "VALIDATION_ERROR")


async def test_a_body_without_its_required_fields_is_a_validation_error(
    hubspot: httpx.AsyncClient,
) -> None:
    response = await hubspot.post(PROPERTIES, json={"name": "vip_tier"})
    assert_error(response, 400, "VALIDATION_ERROR")


async def test_a_contact_created_with_the_property_reads_it_back(
    hubspot: httpx.AsyncClient,
) -> None:
    await make(hubspot)
    contact_id = await new_contact(hubspot, vip_tier="gold")
    read = await hubspot.get(f"{CONTACTS}/{contact_id}", params={"properties": "vip_tier"})
    assert read.json()["properties"]["vip_tier"] == "gold"


async def test_patch_writes_the_property(hubspot: httpx.AsyncClient) -> None:
    await make(hubspot)
    patched = await hubspot.patch(f"{CONTACTS}/1001", json={"properties": {"vip_tier": "silver"}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["properties"]["vip_tier"] == "silver"


async def test_batch_read_returns_the_property_when_named(hubspot: httpx.AsyncClient) -> None:
    await make(hubspot)
    await hubspot.patch(f"{CONTACTS}/1001", json={"properties": {"vip_tier": "gold"}})
    body = {"inputs": [{"id": "1001"}, {"id": "1002"}], "properties": ["vip_tier"]}
    results = (await hubspot.post(f"{CONTACTS}/batch/read", json=body)).json()["results"]
    values = {r["id"]: r["properties"].get("vip_tier") for r in results}
    assert values == {"1001": "gold", "1002": None}


async def test_a_value_outside_the_options_is_invalid_option(hubspot: httpx.AsyncClient) -> None:
    await make(hubspot)
    response = await hubspot.patch(
        f"{CONTACTS}/1001", json={"properties": {"vip_tier": "platinum"}}
    )
    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert body["errors"][0]["code"] == "INVALID_OPTION"
    assert body["errors"][0]["context"] == {"propertyName": ["vip_tier"]}


async def test_search_filters_on_the_property_with_eq(hubspot: httpx.AsyncClient) -> None:
    await make(hubspot)
    gold = await new_contact(hubspot, vip_tier="gold")
    await hubspot.patch(f"{CONTACTS}/1001", json={"properties": {"vip_tier": "silver"}})
    found = await search_ids(
        hubspot, {"propertyName": "vip_tier", "operator": "EQ", "value": "gold"}
    )
    assert found == {gold}


async def test_search_filters_on_the_property_with_in(hubspot: httpx.AsyncClient) -> None:
    await make(hubspot)
    gold = await new_contact(hubspot, vip_tier="gold")
    await hubspot.patch(f"{CONTACTS}/1001", json={"properties": {"vip_tier": "silver"}})
    filter_ = {"propertyName": "vip_tier", "operator": "IN", "values": ["gold", "silver"]}
    assert await search_ids(hubspot, filter_) == {gold, "1001"}


async def test_search_neq_also_matches_contacts_without_the_property(
    hubspot: httpx.AsyncClient,
) -> None:
    await make(hubspot)
    gold = await new_contact(hubspot, vip_tier="gold")
    filters = (
        {"propertyName": "vip_tier", "operator": "NEQ", "value": "gold"},
        {"propertyName": "hs_object_id", "operator": "IN", "values": [gold, "1001"]},
    )
    assert await search_ids(hubspot, *filters) == {"1001"}


async def test_a_number_property_refuses_text(hubspot: httpx.AsyncClient) -> None:
    await hubspot.post(PROPERTIES, json=prop("deposit_total", "number", "number"))
    ok = await hubspot.patch(f"{CONTACTS}/1001", json={"properties": {"deposit_total": "12.5"}})
    assert ok.status_code == 200, ok.text
    bad = await hubspot.patch(f"{CONTACTS}/1001", json={"properties": {"deposit_total": "lots"}})
    assert assert_error(bad, 400, "VALIDATION_ERROR")["errors"][0]["code"] == "INVALID_INTEGER"


async def test_a_bool_property_takes_true_or_false_only(hubspot: httpx.AsyncClient) -> None:
    await hubspot.post(PROPERTIES, json=prop("is_vip", "bool", "booleancheckbox"))
    ok = await hubspot.patch(f"{CONTACTS}/1001", json={"properties": {"is_vip": True}})
    assert ok.json()["properties"]["is_vip"] == "true"
    bad = await hubspot.patch(f"{CONTACTS}/1001", json={"properties": {"is_vip": "maybe"}})
    assert assert_error(bad, 400, "VALIDATION_ERROR")["errors"][0]["code"] == "INVALID_OPTION"


async def test_a_datetime_property_refuses_what_is_not_an_instant(
    hubspot: httpx.AsyncClient,
) -> None:
    await hubspot.post(PROPERTIES, json=prop("vip_since", "datetime", "date"))
    ok = await hubspot.patch(
        f"{CONTACTS}/1001", json={"properties": {"vip_since": "2024-06-01T10:00:00Z"}}
    )
    assert ok.json()["properties"]["vip_since"] == "2024-06-01T10:00:00.000Z"
    bad = await hubspot.patch(f"{CONTACTS}/1001", json={"properties": {"vip_since": "soon"}})
    assert assert_error(bad, 400, "VALIDATION_ERROR")["errors"][0]["code"] == "INVALID_DATE"


async def test_an_unknown_property_is_still_property_doesnt_exist(
    hubspot: httpx.AsyncClient,
) -> None:
    await make(hubspot)
    response = await hubspot.patch(f"{CONTACTS}/1001", json={"properties": {"vip_level": "1"}})
    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert body["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"


async def test_a_data_reset_forgets_the_made_properties(
    hubspot: httpx.AsyncClient, control: httpx.AsyncClient
) -> None:
    await make(hubspot)
    (await control.post("/hubspot/__reset?data=true")).raise_for_status()
    listed = (await hubspot.get(PROPERTIES)).json()["results"]
    assert "vip_tier" not in {p["name"] for p in listed}
    response = await hubspot.patch(f"{CONTACTS}/1001", json={"properties": {"vip_tier": "gold"}})
    assert response.json()["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"

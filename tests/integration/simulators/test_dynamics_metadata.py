"""The Dataverse simulator's table definitions (``EntityDefinitions``) over real loopback HTTP,
and an org reshaped by ``PUT /dynamics/__org``, against tests/contract/specs/dynamics.md §10."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.simulators.credentials import (
    DYNAMICS_API_VERSION,
    DYNAMICS_CLIENT_ID,
    DYNAMICS_CLIENT_SECRET,
    DYNAMICS_TENANT_ID,
)

PREFIX = "/dynamics"
API = f"/api/data/{DYNAMICS_API_VERSION}"
CRM = "Microsoft.Dynamics.CRM"
#: An org that is not a fresh one: no brand on leads, a column of its own, fewer priorities
#: and case status reasons of its own.
OTHER_ORG: dict[str, Any] = {
    "columns_absent": {"lead": ["crmgraph_brand"]},
    "columns_extra": {"contact": [{"name": "new_tier", "type": "string"}]},
    "option_sets": {
        "incident": {
            "prioritycode": [{"value": 1, "label": "High"}, {"value": 2, "label": "Normal"}],
            "statuscode": [
                {"value": 1, "label": "In Progress", "state": 0},
                {"value": 100000000, "label": "Escalated", "state": 0},
                {"value": 5, "label": "Problem Solved", "state": 1},
                {"value": 6, "label": "Canceled", "state": 2},
            ],
        }
    },
}


def attributes_path(table: str) -> str:
    return f"{API}/EntityDefinitions(LogicalName='{table}')/Attributes"


def option_set_path(table: str, column: str, kind: str) -> str:
    return f"{attributes_path(table)}(LogicalName='{column}')/{CRM}.{kind}AttributeMetadata"


@pytest.fixture
async def dyn(simulators, control) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a token; the org and its rows are made fresh again after each test."""
    async with httpx.AsyncClient(base_url=simulators.url(PREFIX), timeout=10) as client:
        org = str(client.base_url).rstrip("/")
        token = await client.post(
            f"/{DYNAMICS_TENANT_ID}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": DYNAMICS_CLIENT_ID,
                "client_secret": DYNAMICS_CLIENT_SECRET,
                "scope": f"{org}/.default",
            },
        )
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client
    (await control.delete(f"{PREFIX}/__org")).raise_for_status()
    (await control.post(f"{PREFIX}/__reset", params={"data": "true"})).raise_for_status()


async def columns(dyn: httpx.AsyncClient, table: str) -> dict[str, str]:
    response = await dyn.get(
        attributes_path(table), params={"$select": "LogicalName,AttributeType"}
    )
    assert response.status_code == 200, response.text
    return {a["LogicalName"]: a["AttributeType"] for a in response.json()["value"]}


async def options(dyn: httpx.AsyncClient, table: str, column: str, kind: str) -> list[Any]:
    response = await dyn.get(
        option_set_path(table, column, kind),
        params={"$select": "LogicalName", "$expand": "OptionSet"},
    )
    assert response.status_code == 200, response.text
    found: list[Any] = response.json()["OptionSet"]["Options"]
    return found


async def test_each_table_lists_its_columns_with_the_custom_ones(dyn) -> None:
    contact = await columns(dyn, "contact")
    assert {"crmgraph_brand", "crmgraph_playerid", "crmgraph_company"} <= set(contact)
    assert contact["emailaddress1"] == "String"
    assert contact["parentcustomerid"] == "Customer"  # the lookup, not _…_value
    assert contact["statuscode"] == "Status"
    assert contact["statecode"] == "State"
    lead = await columns(dyn, "lead")
    assert lead["leadsourcecode"] == "Picklist"
    assert "crmgraph_brand" in lead
    incident = await columns(dyn, "incident")
    assert incident["prioritycode"] == "Picklist"
    assert incident["customerid"] == "Customer"


async def test_the_attributes_answer_has_the_documented_shape(dyn) -> None:
    response = await dyn.get(
        attributes_path("contact"), params={"$select": "LogicalName,AttributeType"}
    )
    body = response.json()
    assert body["@odata.context"].endswith(
        f"{API}/$metadata#EntityDefinitions('contact')/Attributes(LogicalName,AttributeType)"
    )
    first = body["value"][0]
    assert set(first) == {"@odata.type", "LogicalName", "AttributeType", "MetadataId"}
    assert first["@odata.type"].startswith(f"#{CRM}.")


async def test_status_options_carry_their_value_label_and_state(dyn) -> None:
    lead = await options(dyn, "lead", "statuscode", "Status")
    assert [(o["Value"], o["State"]) for o in lead] == [
        (1, 0),
        (2, 0),
        (3, 1),
        (4, 2),
        (5, 2),
        (6, 2),
        (7, 2),
    ]
    assert lead[0]["Label"]["UserLocalizedLabel"]["Label"] == "New"
    assert lead[0]["@odata.type"] == f"#{CRM}.StatusOptionMetadata"
    cases = await options(dyn, "incident", "statuscode", "Status")
    assert {o["Value"] for o in cases} == {1, 2, 3, 4, 5, 6, 1000, 2000}


async def test_picklist_options_carry_their_value_and_label(dyn) -> None:
    priorities = await options(dyn, "incident", "prioritycode", "Picklist")
    labels = {o["Value"]: o["Label"]["UserLocalizedLabel"]["Label"] for o in priorities}
    assert labels == {1: "High", 2: "Normal", 3: "Low"}
    assert "State" not in priorities[0]
    sources = await options(dyn, "lead", "leadsourcecode", "Picklist")
    assert len(sources) == 10


async def test_the_option_set_answer_names_its_cast_in_the_context(dyn) -> None:
    response = await dyn.get(
        option_set_path("lead", "statuscode", "Status"),
        params={"$select": "LogicalName", "$expand": "OptionSet($select=Options)"},
    )
    body = response.json()
    assert body["@odata.context"].endswith(
        f"EntityDefinitions('lead')/Attributes(LogicalName='statuscode')/"
        f"{CRM}.StatusAttributeMetadata(LogicalName,OptionSet)/$entity"
    )
    assert body["LogicalName"] == "statuscode"
    assert body["OptionSet"]["OptionSetType"] == "Status"


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        (attributes_path("account"), 404, "0x80040217"),
        (option_set_path("lead", "nosuch", "Picklist"), 404, "0x80040217"),
        (option_set_path("lead", "statuscode", "Picklist"), 404, "0x8006088a"),
    ],
)
async def test_what_is_not_there_is_404(dyn, path: str, status: int, code: str) -> None:
    response = await dyn.get(path)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


async def test_an_unknown_property_in_select_is_400(dyn) -> None:
    response = await dyn.get(attributes_path("lead"), params={"$select": "Nonsense"})
    assert response.status_code == 400
    assert "Could not find a property named 'Nonsense'" in response.json()["error"]["message"]


async def test_query_options_beyond_select_and_expand_are_refused(dyn) -> None:
    response = await dyn.get(
        attributes_path("lead"), params={"$filter": "IsCustomAttribute eq true"}
    )
    assert response.status_code == 400
    assert "$filter" in response.json()["error"]["message"]


async def test_the_definitions_need_a_token(simulators) -> None:
    async with httpx.AsyncClient(base_url=simulators.url(PREFIX), timeout=10) as client:
        assert (await client.get(attributes_path("lead"))).status_code == 401


async def test_a_reshaped_org_shows_in_its_definitions(dyn, control) -> None:
    (await control.put(f"{PREFIX}/__org", json=OTHER_ORG)).raise_for_status()
    assert "crmgraph_brand" not in await columns(dyn, "lead")
    assert (await columns(dyn, "contact"))["new_tier"] == "String"
    priorities = await options(dyn, "incident", "prioritycode", "Picklist")
    assert [o["Value"] for o in priorities] == [1, 2]
    cases = await options(dyn, "incident", "statuscode", "Status")
    assert {o["Value"]: o["State"] for o in cases} == {1: 0, 100000000: 0, 5: 1, 6: 2}


async def test_a_reshaped_org_shows_in_queries_and_writes(dyn, control) -> None:
    (await control.put(f"{PREFIX}/__org", json=OTHER_ORG)).raise_for_status()
    missing = await dyn.get(f"{API}/leads", params={"$select": "crmgraph_brand", "$top": "1"})
    assert missing.status_code == 400
    assert "Could not find a property named 'crmgraph_brand'" in missing.text
    tier = await dyn.post(f"{API}/contacts", json={"lastname": "Tier", "new_tier": "gold"})
    assert tier.status_code == 204, tier.text
    row = await dyn.get(
        API + tier.headers["OData-EntityId"].split(API)[1], params={"$select": "new_tier"}
    )
    assert row.json()["new_tier"] == "gold"
    contact = (await dyn.get(f"{API}/contacts", params={"$top": "1"})).json()["value"][0]
    low = {"title": "x", "prioritycode": 3}
    low["customerid_contact@odata.bind"] = f"/contacts({contact['contactid']})"
    refused = await dyn.post(f"{API}/incidents", json=low)
    assert refused.status_code == 400
    assert "outside the valid range" in refused.text
    escalated = {**low, "prioritycode": 1, "statuscode": 100000000}
    assert (await dyn.post(f"{API}/incidents", json=escalated)).status_code == 204


async def test_delete_and_a_data_reset_make_the_org_fresh(dyn, control) -> None:
    (await control.put(f"{PREFIX}/__org", json=OTHER_ORG)).raise_for_status()
    assert (await control.get(f"{PREFIX}/__org")).json()["columns_absent"] == {
        "lead": ["crmgraph_brand"]
    }
    (await control.delete(f"{PREFIX}/__org")).raise_for_status()
    assert "crmgraph_brand" in await columns(dyn, "lead")
    (await control.put(f"{PREFIX}/__org", json=OTHER_ORG)).raise_for_status()
    (await control.post(f"{PREFIX}/__reset")).raise_for_status()
    assert "crmgraph_brand" not in await columns(dyn, "lead")  # a reset of faults alone
    (await control.post(f"{PREFIX}/__reset", params={"data": "true"})).raise_for_status()
    assert "crmgraph_brand" in await columns(dyn, "lead")
    assert len(await options(dyn, "incident", "prioritycode", "Picklist")) == 3


@pytest.mark.parametrize(
    "shape",
    [
        {"columns_absent": {"lead": ["lastname"]}},  # required
        {"columns_absent": {"lead": ["nosuch"]}},
        {"columns_absent": {"account": ["name"]}},
        {"columns_extra": {"contact": [{"name": "crmgraph_brand"}]}},
        {"option_sets": {"lead": {"companyname": [{"value": 1, "label": "x"}]}}},
        {"option_sets": {"lead": {"statuscode": [{"value": 1, "label": "New", "state": 0}]}}},
        {"option_sets": {"incident": {"prioritycode": [{"value": 1, "label": "a", "state": 0}]}}},
    ],
)
async def test_an_unsound_shape_is_refused(dyn, control, shape: dict[str, Any]) -> None:
    response = await control.put(f"{PREFIX}/__org", json=shape)
    assert response.status_code == 422, response.text
    assert "crmgraph_brand" in await columns(dyn, "lead")

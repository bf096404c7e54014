"""The HubSpot simulator's traffic, validated against HubSpot's own OpenAPI files.

Two points the shared recorder cannot check by itself, handled here:
- the files declare OAuth2 security, which openapi-core reports with an "Unsupported scheme
  type" warning (an error under ``filterwarnings = error``); it says nothing about the request;
- error answers are declared as ``*/*``, which openapi-core cannot deserialise, so error
  exchanges go through a recorder with ``validate_errors=False`` (requests still validated) and
  their bodies are checked against the files' ``Error`` schema directly.

Requests send what the files require where the live API is laxer (``associations: []`` on a
create, ``properties`` on a batch read) and sort a search by a bare property name, the only
form the files' ``sorts: [string]`` admits.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from app.simulators.credentials import HUBSPOT_TOKEN
from app.simulators.hubspot.store import COMPANY_ID_BASE, TICKET_ID_BASE
from app.simulators.server import RunningSimulators
from tests.contract.openapi import SPECS, ContractRecorder

pytestmark = [
    pytest.mark.contract,
    pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning"),
]

AUTH = {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}
CONTACTS = "/crm/v3/objects/contacts"
COMPANIES = "/crm/v3/objects/companies"
TICKETS = "/crm/v3/objects/tickets"


@functools.cache
def error_schema() -> OAS30Validator:
    spec = json.loads((SPECS / "hubspot" / "contacts-v3.json").read_text())
    registry: Registry[Any] = Registry().with_resource(
        "urn:hubspot", Resource.from_contents(spec, default_specification=DRAFT4)
    )
    return OAS30Validator(
        {"$ref": "urn:hubspot#/components/schemas/Error"},
        registry=registry,
        format_checker=oas30_format_checker,
    )


@pytest.fixture
async def recorded(
    simulators: RunningSimulators, control: httpx.AsyncClient
) -> AsyncIterator[tuple[ContractRecorder, httpx.AsyncClient]]:
    recorder = ContractRecorder("hubspot")
    async with recorder.client(simulators.url(""), headers=AUTH, timeout=10) as client:
        yield recorder, client
    (await control.post("/hubspot/__reset?data=true")).raise_for_status()


def url(path: str) -> str:
    return f"/hubspot{path}"


async def test_reads_and_list_paging_match_the_contract(
    recorded: tuple[ContractRecorder, httpx.AsyncClient],
) -> None:
    recorder, client = recorded
    await client.get(url(f"{CONTACTS}/1001"))
    await client.get(
        url(f"{CONTACTS}/1002"),
        params=[("properties", "email"), ("properties", "brand"), ("associations", "companies")],
    )
    first = await client.get(url(CONTACTS), params={"limit": 3, "associations": "tickets"})
    await client.get(first.json()["paging"]["next"]["link"])
    await client.get(url(f"{COMPANIES}/{COMPANY_ID_BASE}"), params={"associations": "contacts"})
    await client.get(url(COMPANIES), params={"limit": 100, "properties": "name,domain,city"})
    tickets = await client.get(url(TICKETS), params={"limit": 2})
    ticket_id = tickets.json()["results"][0]["id"]
    await client.get(url(f"{TICKETS}/{ticket_id}"), params={"associations": "contacts"})
    email = (await client.get(url(f"{CONTACTS}/1003"))).json()["properties"]["email"]
    await client.get(url(f"{CONTACTS}/{email}"), params={"idProperty": "email"})
    recorder.assert_clean()
    assert recorder.checked == 10


async def test_batch_reads_match_the_contract(
    recorded: tuple[ContractRecorder, httpx.AsyncClient],
) -> None:
    recorder, client = recorded
    full = await client.post(
        url(f"{CONTACTS}/batch/read"),
        json={"inputs": [{"id": str(1001 + i)} for i in range(100)], "properties": ["email"]},
    )
    partial = await client.post(
        url(f"{CONTACTS}/batch/read"),
        json={"inputs": [{"id": "1001"}, {"id": "999"}], "properties": ["firstname"]},
    )
    await client.post(
        url(f"{COMPANIES}/batch/read"),
        params={"archived": "false"},
        json={"inputs": [{"id": str(COMPANY_ID_BASE + i)} for i in range(5)], "properties": []},
    )
    await client.post(
        url(f"{TICKETS}/batch/read"),
        json={"inputs": [{"id": str(TICKET_ID_BASE)}, {"id": "1"}], "properties": ["subject"]},
    )
    email = full.json()["results"][0]["properties"]["email"]
    await client.post(
        url(f"{CONTACTS}/batch/read"),
        json={"idProperty": "email", "inputs": [{"id": email}], "properties": ["phone"]},
    )
    assert (full.status_code, partial.status_code) == (200, 207)
    recorder.assert_clean()


async def test_search_matches_the_contract(
    recorded: tuple[ContractRecorder, httpx.AsyncClient],
) -> None:
    recorder, client = recorded
    groups = [
        {"filters": [{"propertyName": "brand", "operator": "EQ", "value": "luckyspin"}]},
        {
            "filters": [
                {"propertyName": "createdate", "operator": "GTE", "value": "1700000000000"},
                {"propertyName": "player_id", "operator": "HAS_PROPERTY"},
            ]
        },
    ]
    first = await client.post(
        url(f"{CONTACTS}/search"),
        json={
            "filterGroups": groups,
            "sorts": ["createdate"],
            "limit": 200,
            "properties": ["email"],
        },
    )
    await client.post(
        url(f"{CONTACTS}/search"),
        json={
            "filterGroups": groups,
            "limit": 200,
            "after": first.json()["paging"]["next"]["after"],
        },
    )
    await client.post(
        url(f"{TICKETS}/search"),
        json={
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "hs_pipeline_stage",
                            "operator": "IN",
                            "values": ["1", "2"],
                        }
                    ]
                }
            ],
            "limit": 5,
        },
    )
    await client.post(
        url(f"{COMPANIES}/search"), json={"filterGroups": [], "query": "a", "limit": 10}
    )
    recorder.assert_clean()


async def test_writes_match_the_contract(
    recorded: tuple[ContractRecorder, httpx.AsyncClient],
) -> None:
    recorder, client = recorded
    created = await client.post(
        url(CONTACTS),
        json={
            "properties": {
                "email": "contract@example.com",
                "firstname": "Con",
                "brand": "goldcoast",
            },
            "associations": [
                {
                    "to": {"id": str(COMPANY_ID_BASE)},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
                }
            ],
        },
    )
    await client.patch(
        url(f"{CONTACTS}/{created.json()['id']}"), json={"properties": {"lastname": "Tract"}}
    )
    await client.post(
        url(TICKETS), json={"properties": {"subject": "Contract"}, "associations": []}
    )
    await client.post(
        url(f"{COMPANIES}/batch/create"),
        json={
            "inputs": [{"properties": {"name": f"Co {i}"}, "associations": []} for i in range(3)]
        },
    )
    await client.post(
        url(f"{CONTACTS}/batch/update"),
        json={
            "inputs": [
                {"id": "1001", "properties": {"jobtitle": "Lead"}},
                {"id": "999", "properties": {"jobtitle": "Ghost"}},
            ]
        },
    )
    assert created.status_code == 201
    recorder.assert_clean()


async def test_associations_match_the_contract(
    recorded: tuple[ContractRecorder, httpx.AsyncClient],
) -> None:
    recorder, client = recorded
    company = f"/crm/v4/objects/companies/{COMPANY_ID_BASE}/associations/contacts"
    first = await client.get(url(company), params={"limit": 1})
    await client.get(
        url(company), params={"limit": 1, "after": first.json()["paging"]["next"]["after"]}
    )
    await client.get(url("/crm/v4/objects/contacts/1001/associations/tickets"))
    await client.post(
        url("/crm/v4/associations/contacts/companies/batch/read"),
        json={"inputs": [{"id": str(1001 + i)} for i in range(20)]},
    )
    await client.put(
        url(f"/crm/v4/objects/contacts/1001/associations/default/companies/{COMPANY_ID_BASE + 1}")
    )
    recorder.assert_clean()


async def test_error_answers_match_the_error_schema(
    simulators: RunningSimulators, control: httpx.AsyncClient
) -> None:
    recorder = ContractRecorder("hubspot", validate_errors=False)
    async with recorder.client(simulators.url(""), timeout=10) as anonymous:
        answers = [await anonymous.get(url(f"{CONTACTS}/1001"))]
    async with recorder.client(simulators.url(""), headers=AUTH, timeout=10) as client:
        answers += [
            await client.post(
                url(f"{CONTACTS}/batch/read"),
                json={"inputs": [{"id": str(i)} for i in range(101)], "properties": []},
            ),
            await client.post(url(f"{CONTACTS}/search"), json={"filterGroups": [], "limit": 201}),
            await client.post(
                url(CONTACTS), json={"properties": {"shoe_size": "9"}, "associations": []}
            ),
            await client.post(
                url(CONTACTS), json={"properties": {"email": "nope"}, "associations": []}
            ),
            await client.get(url(f"{CONTACTS}/999")),
            await client.get(url("/crm/v4/objects/unicorns/1/associations/contacts")),
        ]
        email = (await client.get(url(f"{CONTACTS}/1001"))).json()["properties"]["email"]
        answers.append(
            await client.post(
                url(CONTACTS), json={"properties": {"email": email}, "associations": []}
            )
        )
    assert [a.status_code for a in answers] == [401, 400, 400, 400, 400, 404, 400, 409]
    for answer in answers:
        problems = [e.message for e in error_schema().iter_errors(answer.json())]
        assert not problems, (answer.request.url, problems)
    recorder.assert_clean()

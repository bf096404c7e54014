"""The HubSpot simulator over real HTTP: CRM objects v3, associations v4, auth and its dialect."""

from __future__ import annotations

import operator
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app.simulators.credentials import HUBSPOT_TOKEN
from app.simulators.hubspot.store import COMPANY_ID_BASE, TICKET_ID_BASE
from app.simulators.server import RunningSimulators
from app.simulators.world import Person, World

AUTH = {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}
CONTACTS = "/crm/v3/objects/contacts"
COMPANIES = "/crm/v3/objects/companies"
TICKETS = "/crm/v3/objects/tickets"
ISO_MS = "%Y-%m-%dT%H:%M:%S.000Z"


@pytest.fixture
async def hubspot(
    simulators: RunningSimulators, control: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated client; whatever a test writes is undone afterwards."""
    async with httpx.AsyncClient(
        base_url=simulators.url("/hubspot"), headers=AUTH, timeout=10
    ) as client:
        yield client
    (await control.post("/hubspot/__reset?data=true")).raise_for_status()


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime(ISO_MS)


def epoch_ms(instant: datetime) -> str:
    return str(int(instant.timestamp() * 1000))


def customers(world: World) -> list[Person]:
    return world.customers


def assert_hubspot_error(response: httpx.Response, status: int, category: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "error"
    assert body["category"] == category
    assert body["message"]
    assert body["correlationId"]
    return body


async def search(client: httpx.AsyncClient, path: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"{path}/search", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def one_filter(prop: str, op: str, **operand: Any) -> list[dict[str, Any]]:
    return [{"filters": [{"propertyName": prop, "operator": op, **operand}]}]


# -- auth -----------------------------------------------------------------------------------------


async def test_request_without_token_is_401_invalid_authentication(
    simulators: RunningSimulators,
) -> None:
    async with httpx.AsyncClient(base_url=simulators.url("/hubspot")) as anonymous:
        response = await anonymous.get(f"{CONTACTS}/1001")
    assert_hubspot_error(response, 401, "INVALID_AUTHENTICATION")


async def test_request_with_wrong_token_is_401_invalid_authentication(
    simulators: RunningSimulators,
) -> None:
    async with httpx.AsyncClient(
        base_url=simulators.url("/hubspot"), headers={"Authorization": "Bearer not-the-token"}
    ) as stranger:
        response = await stranger.post(f"{CONTACTS}/batch/read", json={"inputs": []})
    assert_hubspot_error(response, 401, "INVALID_AUTHENTICATION")


# -- seeded data ----------------------------------------------------------------------------------


async def test_contact_carries_the_world_customer_default_properties(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    person = customers(world)[0]
    response = await hubspot.get(f"{CONTACTS}/{person.hubspot_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == person.hubspot_id
    assert body["properties"] == {
        "createdate": iso(person.created_at),
        "email": person.email,
        "firstname": person.first_name,
        "hs_object_id": person.hubspot_id,
        "lastmodifieddate": iso(person.updated_at),
        "lastname": person.last_name,
    }
    assert body["createdAt"] == iso(person.created_at)
    assert body["updatedAt"] == iso(person.updated_at)
    assert body["archived"] is False


async def test_contact_custom_properties_name_brand_and_player(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    person = next(p for p in customers(world) if p.player_id and p.company and p.phone)
    response = await hubspot.get(
        f"{CONTACTS}/{person.hubspot_id}",
        params={"properties": "brand,player_id,company,phone,lifecyclestage"},
    )
    props = response.json()["properties"]
    assert props["brand"] == person.brand.key
    assert props["player_id"] == person.player_id
    assert props["company"] == person.company.name  # type: ignore[union-attr]
    assert props["phone"] == person.phone
    assert props["lifecyclestage"] == person.lifecycle_stage


async def test_named_properties_come_with_the_always_returned_ones(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    person = customers(world)[3]
    response = await hubspot.get(
        f"{CONTACTS}/{person.hubspot_id}", params=[("properties", "email"), ("properties", "brand")]
    )
    assert set(response.json()["properties"]) == {
        "email",
        "brand",
        "createdate",
        "hs_object_id",
        "lastmodifieddate",
    }


async def test_unset_property_is_left_out_rather_than_null(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    person = next(p for p in customers(world) if p.player_id is None)
    response = await hubspot.get(
        f"{CONTACTS}/{person.hubspot_id}", params={"properties": "player_id"}
    )
    assert "player_id" not in response.json()["properties"]


async def test_every_property_value_is_a_string(hubspot: httpx.AsyncClient) -> None:
    props = "email,phone,brand,player_id,hs_object_id,createdate,lifecyclestage,company"
    for path, names in ((CONTACTS, props), (COMPANIES, ""), (TICKETS, "")):
        response = await hubspot.get(path, params={"limit": 100, "properties": names})
        for record in response.json()["results"]:
            assert all(isinstance(v, str) for v in record["properties"].values()), record


async def test_company_carries_the_world_company(hubspot: httpx.AsyncClient, world: World) -> None:
    company = world.companies[5]
    response = await hubspot.get(
        f"{COMPANIES}/{COMPANY_ID_BASE + company.idx}", params={"properties": "name,domain,city"}
    )
    props = response.json()["properties"]
    assert (props["name"], props["domain"], props["city"]) == (
        company.name,
        company.domain,
        company.city,
    )
    assert props["createdate"] == iso(company.created_at)


async def test_ticket_carries_its_world_ticket_in_the_default_pipeline(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    listed = (await hubspot.get(TICKETS, params={"limit": 1})).json()["results"][0]
    seed = world.tickets[int(listed["id"]) - TICKET_ID_BASE]
    props = listed["properties"]
    assert props["subject"] == seed.subject
    assert props["content"] == seed.description
    assert props["hs_pipeline"] == "0"
    assert props["hs_pipeline_stage"] in {"1", "2", "3", "4"}
    assert props["createdate"] == iso(seed.created_at)


async def test_object_types_have_distinct_id_ranges(hubspot: httpx.AsyncClient) -> None:
    ids = {}
    for path in (CONTACTS, COMPANIES, TICKETS):
        results = (await hubspot.get(path, params={"limit": 100})).json()["results"]
        ids[path] = {int(r["id"]) for r in results}
    assert max(ids[CONTACTS]) < min(ids[COMPANIES])
    assert max(ids[COMPANIES]) < min(ids[TICKETS])


# -- get one --------------------------------------------------------------------------------------


async def test_get_contact_by_email_id_property(hubspot: httpx.AsyncClient, world: World) -> None:
    person = customers(world)[10]
    response = await hubspot.get(
        f"{CONTACTS}/{person.email.upper()}", params={"idProperty": "email"}
    )
    assert response.status_code == 200
    assert response.json()["id"] == person.hubspot_id


async def test_get_with_non_unique_id_property_is_400(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.get(f"{CONTACTS}/Stephen", params={"idProperty": "firstname"})
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


async def test_get_unknown_contact_is_404_object_not_found(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.get(f"{CONTACTS}/999")
    assert_hubspot_error(response, 404, "OBJECT_NOT_FOUND")


async def test_get_live_contact_as_archived_is_404(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.get(f"{CONTACTS}/1001", params={"archived": "true"})
    assert_hubspot_error(response, 404, "OBJECT_NOT_FOUND")


async def test_get_contact_with_associations_names_its_company(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    person = next(p for p in customers(world) if p.company)
    response = await hubspot.get(
        f"{CONTACTS}/{person.hubspot_id}", params={"associations": "companies"}
    )
    results = response.json()["associations"]["companies"]["results"]
    company_id = str(COMPANY_ID_BASE + person.company.idx)  # type: ignore[union-attr]
    assert {"id": company_id, "type": "contact_to_company"} in results
    assert {"id": company_id, "type": "contact_to_company_unlabeled"} in results


async def test_get_ticket_with_associations_names_its_requester(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    ticket = (await hubspot.get(TICKETS, params={"limit": 1})).json()["results"][0]
    seed = world.tickets[int(ticket["id"]) - TICKET_ID_BASE]
    response = await hubspot.get(f"{TICKETS}/{ticket['id']}", params={"associations": "contacts"})
    assert response.json()["associations"]["contacts"]["results"] == [
        {"id": seed.requester.hubspot_id, "type": "ticket_to_contact"}
    ]


async def test_unknown_route_is_404_in_hubspot_shape(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.get("/crm/v3/objects/unicorns/1")
    assert_hubspot_error(response, 404, "OBJECT_NOT_FOUND")


# -- list -----------------------------------------------------------------------------------------


async def test_list_pages_through_every_contact_with_after(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        body = (await hubspot.get(CONTACTS, params=params)).json()
        seen += [r["id"] for r in body["results"]]
        if "paging" not in body:
            break
        params["after"] = body["paging"]["next"]["after"]
    assert seen == [p.hubspot_id for p in customers(world)]


async def test_list_paging_link_fetches_the_next_page(hubspot: httpx.AsyncClient) -> None:
    first = (await hubspot.get(CONTACTS, params={"limit": 5})).json()
    following = (await hubspot.get(first["paging"]["next"]["link"])).json()
    assert following["results"][0]["id"] == str(int(first["results"][-1]["id"]) + 1)
    assert len(following["results"]) == 5


async def test_list_limit_above_100_is_capped_at_100(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.get(COMPANIES, params={"limit": 150})
    assert len(response.json()["results"]) == 100


async def test_list_defaults_to_ten_results(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.get(TICKETS)
    assert len(response.json()["results"]) == 10


async def test_list_with_malformed_after_is_400(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.get(CONTACTS, params={"after": "not-a-cursor"})
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


async def test_list_with_associations_expands_them(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.get(COMPANIES, params={"limit": 20, "associations": "contacts"})
    expanded = [r for r in response.json()["results"] if "associations" in r]
    assert expanded
    for company in expanded:
        types = {a["type"] for a in company["associations"]["contacts"]["results"]}
        assert types <= {"company_to_contact", "company_to_contact_unlabeled"}


# -- batch read -----------------------------------------------------------------------------------


async def test_batch_read_returns_every_named_contact(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    wanted = [p.hubspot_id for p in customers(world)[:100]]
    response = await hubspot.post(
        f"{CONTACTS}/batch/read",
        json={"inputs": [{"id": i} for i in wanted], "properties": ["email", "brand"]},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "COMPLETE"
    assert sorted(r["id"] for r in body["results"]) == sorted(wanted)
    assert "errors" not in body


async def test_batch_read_with_unknown_ids_is_207_with_errors(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.post(
        f"{CONTACTS}/batch/read",
        json={"inputs": [{"id": "1001"}, {"id": "999"}, {"id": "abc"}], "properties": []},
    )
    assert response.status_code == 207
    body = response.json()
    assert [r["id"] for r in body["results"]] == ["1001"]
    assert body["numErrors"] == 1
    error = body["errors"][0]
    assert error["category"] == "OBJECT_NOT_FOUND"
    assert error["context"] == {"ids": ["999", "abc"]}


async def test_batch_read_by_email_id_property(hubspot: httpx.AsyncClient, world: World) -> None:
    people = customers(world)[20:25]
    response = await hubspot.post(
        f"{CONTACTS}/batch/read",
        json={"idProperty": "email", "inputs": [{"id": p.email} for p in people]},
    )
    assert [r["id"] for r in response.json()["results"]] == [p.hubspot_id for p in people]


async def test_batch_read_of_101_inputs_is_400_validation_error(
    hubspot: httpx.AsyncClient,
) -> None:
    inputs = [{"id": str(1001 + i)} for i in range(101)]
    response = await hubspot.post(f"{CONTACTS}/batch/read", json={"inputs": inputs})
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


async def test_batch_read_with_malformed_json_is_400(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.post(
        f"{CONTACTS}/batch/read",
        content=b'{"inputs": [',
        headers={"Content-Type": "application/json"},
    )
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


async def test_batch_read_without_inputs_is_400(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.post(f"{TICKETS}/batch/read", json={"properties": ["subject"]})
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


async def test_batch_read_companies_by_id(hubspot: httpx.AsyncClient, world: World) -> None:
    ids = [str(COMPANY_ID_BASE + c.idx) for c in world.companies[:3]]
    response = await hubspot.post(
        f"{COMPANIES}/batch/read", json={"inputs": [{"id": i} for i in ids], "properties": []}
    )
    assert [r["properties"]["name"] for r in response.json()["results"]] == [
        c.name for c in world.companies[:3]
    ]


# -- search ---------------------------------------------------------------------------------------


async def test_search_eq_finds_a_contact_by_email(hubspot: httpx.AsyncClient, world: World) -> None:
    person = customers(world)[42]
    body = await search(
        hubspot, CONTACTS, filterGroups=one_filter("email", "EQ", value=person.email.upper())
    )
    assert body["total"] == 1
    assert body["results"][0]["id"] == person.hubspot_id


@pytest.mark.parametrize(
    ("op", "operand", "expected"),
    [
        ("NEQ", {"value": "customer"}, lambda p: p.lifecycle_stage != "customer"),
        (
            "IN",
            {"values": ["lead", "subscriber"]},
            lambda p: p.lifecycle_stage in {"lead", "subscriber"},
        ),
        ("NOT_IN", {"values": ["customer"]}, lambda p: p.lifecycle_stage != "customer"),
    ],
)
async def test_search_enumeration_operators(
    hubspot: httpx.AsyncClient,
    world: World,
    op: str,
    operand: dict[str, Any],
    expected: Callable[[Person], bool],
) -> None:
    body = await search(hubspot, CONTACTS, filterGroups=one_filter("lifecyclestage", op, **operand))
    assert body["total"] == sum(1 for p in customers(world) if expected(p))


async def test_search_has_property(hubspot: httpx.AsyncClient, world: World) -> None:
    body = await search(hubspot, CONTACTS, filterGroups=one_filter("phone", "HAS_PROPERTY"))
    assert body["total"] == sum(1 for p in customers(world) if p.phone)


async def test_search_not_has_property(hubspot: httpx.AsyncClient, world: World) -> None:
    body = await search(hubspot, CONTACTS, filterGroups=one_filter("player_id", "NOT_HAS_PROPERTY"))
    assert body["total"] == sum(1 for p in customers(world) if p.player_id is None)


async def test_search_contains_token_with_wildcard(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    body = await search(
        hubspot, CONTACTS, filterGroups=one_filter("email", "CONTAINS_TOKEN", value="*@gmail.com")
    )
    assert body["total"] == sum(1 for p in customers(world) if p.email.endswith("@gmail.com"))
    assert body["total"] > 0


async def test_search_contains_token_matches_a_word(hubspot: httpx.AsyncClient) -> None:
    body = await search(
        hubspot, TICKETS, filterGroups=one_filter("subject", "CONTAINS_TOKEN", value="pending")
    )
    assert body["total"] > 0
    assert all("pending" in r["properties"]["subject"].lower() for r in body["results"])


@pytest.mark.parametrize(
    ("op", "compare"),
    [("GT", operator.gt), ("GTE", operator.ge), ("LT", operator.lt), ("LTE", operator.le)],
)
async def test_search_date_comparison_operators(
    hubspot: httpx.AsyncClient, world: World, op: str, compare: Callable[[Any, Any], bool]
) -> None:
    boundary = customers(world)[7].created_at  # a real value, so GT and GTE differ
    body = await search(
        hubspot, CONTACTS, filterGroups=one_filter("createdate", op, value=epoch_ms(boundary))
    )
    assert body["total"] == sum(1 for p in customers(world) if compare(p.created_at, boundary))


async def test_search_date_values_compare_as_instants_whether_epoch_ms_or_iso(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    boundary = customers(world)[7].created_at
    as_ms = await search(
        hubspot, CONTACTS, filterGroups=one_filter("createdate", "GTE", value=epoch_ms(boundary))
    )
    as_iso = await search(
        hubspot, CONTACTS, filterGroups=one_filter("createdate", "GTE", value=iso(boundary))
    )
    assert as_ms["total"] == as_iso["total"]


async def test_search_between_is_inclusive(hubspot: httpx.AsyncClient, world: World) -> None:
    low, high = sorted(p.created_at for p in customers(world)[:2])
    body = await search(
        hubspot,
        CONTACTS,
        filterGroups=one_filter("createdate", "BETWEEN", value=epoch_ms(low), highValue=iso(high)),
    )
    assert body["total"] == sum(1 for p in customers(world) if low <= p.created_at <= high)


async def test_search_filter_groups_are_ored(hubspot: httpx.AsyncClient, world: World) -> None:
    groups = [
        {"filters": [{"propertyName": "brand", "operator": "EQ", "value": "luckyspin"}]},
        {"filters": [{"propertyName": "brand", "operator": "EQ", "value": "goldcoast"}]},
    ]
    body = await search(hubspot, CONTACTS, filterGroups=groups)
    wanted = {"luckyspin", "goldcoast"}
    assert body["total"] == sum(1 for p in customers(world) if p.brand.key in wanted)


async def test_search_filters_of_a_group_are_anded(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    group = {
        "filters": [
            {"propertyName": "brand", "operator": "EQ", "value": "northstar"},
            {"propertyName": "player_id", "operator": "HAS_PROPERTY"},
        ]
    }
    body = await search(hubspot, CONTACTS, filterGroups=[group])
    assert body["total"] == sum(
        1 for p in customers(world) if p.brand.key == "northstar" and p.player_id
    )


async def test_search_sorts_descending(hubspot: httpx.AsyncClient) -> None:
    body = await search(
        hubspot,
        TICKETS,
        sorts=[{"propertyName": "createdate", "direction": "DESCENDING"}],
        limit=50,
    )
    dates = [r["properties"]["createdate"] for r in body["results"]]
    assert dates == sorted(dates, reverse=True)


async def test_search_pages_with_after_through_every_match(hubspot: httpx.AsyncClient) -> None:
    groups = one_filter("hs_pipeline_stage", "IN", values=["1", "2"])
    seen: list[str] = []
    after: str | None = None
    while True:
        body = await search(
            hubspot, TICKETS, filterGroups=groups, limit=200, **({"after": after} if after else {})
        )
        seen += [r["id"] for r in body["results"]]
        if "paging" not in body:
            break
        after = body["paging"]["next"]["after"]
    assert len(seen) == body["total"] == len(set(seen))


async def test_search_returns_default_properties_and_ten_results(
    hubspot: httpx.AsyncClient,
) -> None:
    body = await search(hubspot, COMPANIES, filterGroups=[])
    assert len(body["results"]) == 10
    assert set(body["results"][0]["properties"]) == {
        "createdate",
        "domain",
        "hs_lastmodifieddate",
        "hs_object_id",
        "name",
    }


async def test_search_free_text_query(hubspot: httpx.AsyncClient, world: World) -> None:
    person = customers(world)[99]
    body = await search(
        hubspot, CONTACTS, query=f"{person.first_name} {person.last_name}", limit=200
    )
    assert person.hubspot_id in [r["id"] for r in body["results"]]


async def test_search_limit_above_200_is_400(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.post(f"{CONTACTS}/search", json={"filterGroups": [], "limit": 201})
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


async def test_search_beyond_10000_results_is_400(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.post(
        f"{CONTACTS}/search", json={"filterGroups": [], "limit": 100, "after": "10000"}
    )
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


async def test_search_on_unknown_property_is_400(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.post(
        f"{CONTACTS}/search",
        json={"filterGroups": one_filter("shoe_size", "EQ", value="9"), "limit": 10},
    )
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


async def test_search_with_unknown_operator_is_400(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.post(
        f"{CONTACTS}/search", json={"filterGroups": one_filter("email", "LIKE", value="x")}
    )
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


# -- create and update ----------------------------------------------------------------------------


async def test_create_contact_answers_201_in_the_contact_id_range(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    response = await hubspot.post(
        CONTACTS,
        json={
            "properties": {
                "email": "New.Person@Example.com",
                "firstname": "New",
                "brand": "goldcoast",
            }
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert int(body["id"]) == 1001 + len(customers(world))
    assert body["properties"]["email"] == "new.person@example.com"
    assert body["properties"]["hs_object_id"] == body["id"]


async def test_created_contact_can_be_read_back(hubspot: httpx.AsyncClient) -> None:
    created = (
        await hubspot.post(CONTACTS, json={"properties": {"email": "a.reader@example.com"}})
    ).json()
    response = await hubspot.get(f"{CONTACTS}/a.reader@example.com", params={"idProperty": "email"})
    assert response.json()["id"] == created["id"]


async def test_create_with_unknown_property_is_400_property_doesnt_exist(
    hubspot: httpx.AsyncClient,
) -> None:
    response = await hubspot.post(CONTACTS, json={"properties": {"shoe_size": "9"}})
    body = assert_hubspot_error(response, 400, "VALIDATION_ERROR")
    assert "PROPERTY_DOESNT_EXIST" in body["message"]
    assert body["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"


async def test_create_with_invalid_email_is_400_invalid_email(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.post(CONTACTS, json={"properties": {"email": "not-an-email"}})
    body = assert_hubspot_error(response, 400, "VALIDATION_ERROR")
    assert "INVALID_EMAIL" in body["message"]


async def test_create_with_existing_email_is_409_conflict(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    person = customers(world)[0]
    response = await hubspot.post(CONTACTS, json={"properties": {"email": person.email}})
    body = assert_hubspot_error(response, 409, "CONFLICT")
    assert body["message"] == f"Contact already exists. Existing ID: {person.hubspot_id}"


async def test_create_with_option_outside_the_enumeration_is_400(
    hubspot: httpx.AsyncClient,
) -> None:
    response = await hubspot.post(CONTACTS, json={"properties": {"brand": "acme"}})
    body = assert_hubspot_error(response, 400, "VALIDATION_ERROR")
    assert "INVALID_OPTION" in body["message"]


async def test_create_with_associations_links_both_ways(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    company_id = str(COMPANY_ID_BASE + world.companies[0].idx)
    created = (
        await hubspot.post(
            CONTACTS,
            json={
                "properties": {"email": "linked@example.com"},
                "associations": [
                    {
                        "to": {"id": company_id},
                        "types": [
                            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}
                        ],
                    }
                ],
            },
        )
    ).json()
    response = await hubspot.get(f"/crm/v4/objects/companies/{company_id}/associations/contacts")
    assert created["id"] in [r["toObjectId"] for r in response.json()["results"]]


async def test_create_with_association_to_missing_record_is_400(
    hubspot: httpx.AsyncClient,
) -> None:
    response = await hubspot.post(
        CONTACTS,
        json={
            "properties": {"email": "orphan@example.com"},
            "associations": [{"to": {"id": "1"}, "types": [{"associationTypeId": 279}]}],
        },
    )
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


async def test_create_ticket_defaults_to_the_first_stage_of_the_default_pipeline(
    hubspot: httpx.AsyncClient,
) -> None:
    response = await hubspot.post(TICKETS, json={"properties": {"subject": "Help"}})
    props = response.json()["properties"]
    assert (props["hs_pipeline"], props["hs_pipeline_stage"]) == ("0", "1")


async def test_date_written_as_epoch_ms_reads_back_as_iso(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.post(
        TICKETS, json={"properties": {"subject": "Dated", "closed_date": "1718188779000"}}
    )
    ticket_id = response.json()["id"]
    read = await hubspot.get(f"{TICKETS}/{ticket_id}", params={"properties": "closed_date"})
    assert read.json()["properties"]["closed_date"] == "2024-06-12T10:39:39.000Z"


async def test_update_changes_the_property_and_the_modification_date(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    person = customers(world)[1]
    response = await hubspot.patch(
        f"{CONTACTS}/{person.hubspot_id}", json={"properties": {"firstname": "Renamed"}}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["properties"]["firstname"] == "Renamed"
    assert body["updatedAt"] != iso(person.updated_at)
    assert body["properties"]["lastmodifieddate"] == body["updatedAt"]


async def test_update_with_empty_string_clears_the_property(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    person = next(p for p in customers(world) if p.phone)
    await hubspot.patch(f"{CONTACTS}/{person.hubspot_id}", json={"properties": {"phone": ""}})
    read = await hubspot.get(f"{CONTACTS}/{person.hubspot_id}", params={"properties": "phone"})
    assert "phone" not in read.json()["properties"]


async def test_update_by_email_id_property(hubspot: httpx.AsyncClient, world: World) -> None:
    person = customers(world)[2]
    response = await hubspot.patch(
        f"{CONTACTS}/{person.email}",
        params={"idProperty": "email"},
        json={"properties": {"jobtitle": "VIP"}},
    )
    assert response.json()["id"] == person.hubspot_id


async def test_update_unknown_contact_is_404(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.patch(f"{CONTACTS}/999", json={"properties": {"firstname": "X"}})
    assert_hubspot_error(response, 404, "OBJECT_NOT_FOUND")


async def test_update_to_another_contacts_email_is_409(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    first, second = customers(world)[:2]
    response = await hubspot.patch(
        f"{CONTACTS}/{second.hubspot_id}", json={"properties": {"email": first.email}}
    )
    assert_hubspot_error(response, 409, "CONFLICT")


async def test_update_of_a_read_only_property_is_400(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.patch(f"{CONTACTS}/1001", json={"properties": {"hs_object_id": "7"}})
    body = assert_hubspot_error(response, 400, "VALIDATION_ERROR")
    assert "READ_ONLY_VALUE" in body["message"]


async def test_batch_create_creates_every_input(hubspot: httpx.AsyncClient) -> None:
    inputs = [
        {"properties": {"name": f"Batch Co {i}", "domain": f"b{i}.example"}} for i in range(3)
    ]
    response = await hubspot.post(f"{COMPANIES}/batch/create", json={"inputs": inputs})
    assert response.status_code == 201
    names = [r["properties"]["name"] for r in response.json()["results"]]
    assert names == ["Batch Co 0", "Batch Co 1", "Batch Co 2"]


async def test_batch_create_of_101_inputs_is_400(hubspot: httpx.AsyncClient) -> None:
    inputs = [{"properties": {"subject": f"t{i}"}} for i in range(101)]
    response = await hubspot.post(f"{TICKETS}/batch/create", json={"inputs": inputs})
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


async def test_batch_create_with_an_existing_email_is_409_and_creates_nothing(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    inputs = [
        {"properties": {"email": "fresh@example.com"}},
        {"properties": {"email": customers(world)[5].email}},
    ]
    response = await hubspot.post(f"{CONTACTS}/batch/create", json={"inputs": inputs})
    assert_hubspot_error(response, 409, "CONFLICT")
    lookup = await hubspot.get(f"{CONTACTS}/fresh@example.com", params={"idProperty": "email"})
    assert lookup.status_code == 404


async def test_batch_update_updates_every_input(hubspot: httpx.AsyncClient) -> None:
    inputs = [{"id": str(1001 + i), "properties": {"jobtitle": f"Role {i}"}} for i in range(3)]
    response = await hubspot.post(f"{CONTACTS}/batch/update", json={"inputs": inputs})
    assert response.status_code == 200
    assert [r["properties"]["jobtitle"] for r in response.json()["results"]] == [
        "Role 0",
        "Role 1",
        "Role 2",
    ]


async def test_batch_update_with_unknown_id_is_207(hubspot: httpx.AsyncClient) -> None:
    inputs = [
        {"id": "1001", "properties": {"jobtitle": "Known"}},
        {"id": "999", "properties": {"jobtitle": "Ghost"}},
    ]
    response = await hubspot.post(f"{CONTACTS}/batch/update", json={"inputs": inputs})
    assert response.status_code == 207
    body = response.json()
    assert [r["id"] for r in body["results"]] == ["1001"]
    assert body["errors"][0]["context"] == {"ids": ["999"]}


async def test_batch_update_with_duplicate_ids_is_400(hubspot: httpx.AsyncClient) -> None:
    inputs = [{"id": "1001", "properties": {}}, {"id": "1001", "properties": {}}]
    response = await hubspot.post(f"{CONTACTS}/batch/update", json={"inputs": inputs})
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


async def test_batch_update_of_101_inputs_is_400(hubspot: httpx.AsyncClient) -> None:
    inputs = [{"id": str(1001 + i), "properties": {}} for i in range(101)]
    response = await hubspot.post(f"{CONTACTS}/batch/update", json={"inputs": inputs})
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


async def test_reset_with_data_restores_the_seed(
    hubspot: httpx.AsyncClient, control: httpx.AsyncClient, world: World
) -> None:
    person = customers(world)[0]
    await hubspot.patch(f"{CONTACTS}/{person.hubspot_id}", json={"properties": {"firstname": "Z"}})
    await control.post("/hubspot/__reset?data=true")
    read = await hubspot.get(f"{CONTACTS}/{person.hubspot_id}")
    assert read.json()["properties"]["firstname"] == person.first_name


# -- associations v4 ------------------------------------------------------------------------------


async def test_v4_contact_to_company_associations(hubspot: httpx.AsyncClient, world: World) -> None:
    person = next(p for p in customers(world) if p.company)
    response = await hubspot.get(
        f"/crm/v4/objects/contacts/{person.hubspot_id}/associations/companies"
    )
    assert response.json()["results"] == [
        {
            "toObjectId": str(COMPANY_ID_BASE + person.company.idx),  # type: ignore[union-attr]
            "associationTypes": [
                {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"},
                {"category": "HUBSPOT_DEFINED", "typeId": 279},
            ],
        }
    ]


async def test_v4_company_to_contacts_pages_with_after(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    company = max(world.companies, key=lambda c: sum(1 for p in customers(world) if p.company == c))
    path = f"/crm/v4/objects/companies/{COMPANY_ID_BASE + company.idx}/associations/contacts"
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        body = (await hubspot.get(path, params=params)).json()
        seen += [r["toObjectId"] for r in body["results"]]
        if "paging" not in body:
            break
        params["after"] = body["paging"]["next"]["after"]
    assert seen == [p.hubspot_id for p in customers(world) if p.company == company]
    assert len(seen) > 2


async def test_v4_ticket_and_contact_associations_go_both_ways(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    ticket = (await hubspot.get(TICKETS, params={"limit": 1})).json()["results"][0]
    requester = world.tickets[int(ticket["id"]) - TICKET_ID_BASE].requester
    to_contact = await hubspot.get(f"/crm/v4/objects/tickets/{ticket['id']}/associations/contacts")
    to_tickets = await hubspot.get(
        f"/crm/v4/objects/contacts/{requester.hubspot_id}/associations/tickets"
    )
    assert [r["toObjectId"] for r in to_contact.json()["results"]] == [requester.hubspot_id]
    assert ticket["id"] in [r["toObjectId"] for r in to_tickets.json()["results"]]


async def test_v4_accepts_singular_and_type_id_object_names(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    person = next(p for p in customers(world) if p.company)
    plural = await hubspot.get(
        f"/crm/v4/objects/contacts/{person.hubspot_id}/associations/companies"
    )
    aliased = await hubspot.get(f"/crm/v4/objects/0-1/{person.hubspot_id}/associations/company")
    assert aliased.json() == plural.json()


async def test_v4_unknown_object_type_is_400(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.get("/crm/v4/objects/unicorns/1001/associations/companies")
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


async def test_v4_batch_read_answers_from_and_to(hubspot: httpx.AsyncClient, world: World) -> None:
    people = [p for p in customers(world) if p.company][:3]
    response = await hubspot.post(
        "/crm/v4/associations/contacts/companies/batch/read",
        json={"inputs": [{"id": p.hubspot_id} for p in people]},
    )
    assert response.status_code == 200
    results = {r["from"]["id"]: r["to"] for r in response.json()["results"]}
    for person in people:
        to = results[person.hubspot_id]
        assert [t["toObjectId"] for t in to] == [str(COMPANY_ID_BASE + person.company.idx)]  # type: ignore[union-attr]


async def test_v4_batch_read_of_ids_without_associations_is_207(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    loner = next(p for p in customers(world) if p.company is None)
    response = await hubspot.post(
        "/crm/v4/associations/contacts/companies/batch/read",
        json={"inputs": [{"id": loner.hubspot_id}, {"id": "999"}]},
    )
    assert response.status_code == 207
    body = response.json()
    assert body["results"] == []
    assert [e["context"]["fromObjectId"] for e in body["errors"]] == [[loner.hubspot_id], ["999"]]


async def test_v4_put_default_associates_contact_and_company(
    hubspot: httpx.AsyncClient, world: World
) -> None:
    loner = next(p for p in customers(world) if p.company is None)
    company_id = str(COMPANY_ID_BASE + world.companies[1].idx)
    response = await hubspot.put(
        f"/crm/v4/objects/contacts/{loner.hubspot_id}/associations/default/companies/{company_id}"
    )
    assert response.status_code == 200
    specs = [r["associationSpec"]["associationTypeId"] for r in response.json()["results"]]
    assert specs == [279, 280]
    read = await hubspot.get(f"/crm/v4/objects/contacts/{loner.hubspot_id}/associations/companies")
    assert [r["toObjectId"] for r in read.json()["results"]] == [company_id]


async def test_v4_put_default_associates_contact_and_ticket(
    hubspot: httpx.AsyncClient,
) -> None:
    ticket = (await hubspot.get(TICKETS, params={"limit": 1})).json()["results"][0]
    response = await hubspot.put(
        f"/crm/v4/objects/tickets/{ticket['id']}/associations/default/contacts/1500"
    )
    assert [r["associationSpec"]["associationTypeId"] for r in response.json()["results"]] == [
        16,
        15,
    ]


async def test_v4_put_default_with_missing_record_is_400(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.put(
        f"/crm/v4/objects/contacts/1001/associations/default/companies/{COMPANY_ID_BASE - 1}"
    )
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


# -- dialect --------------------------------------------------------------------------------------


async def test_every_answer_carries_the_rate_limit_headers(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.get(f"{CONTACTS}/1001")
    headers = response.headers
    assert headers["X-HubSpot-RateLimit-Max"] == "190"
    assert int(headers["X-HubSpot-RateLimit-Remaining"]) < 190
    assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert int(headers["X-HubSpot-RateLimit-Daily-Remaining"]) < int(
        headers["X-HubSpot-RateLimit-Daily"]
    )


async def test_over_the_configured_limit_answers_429_rate_limit(
    hubspot: httpx.AsyncClient, control: httpx.AsyncClient
) -> None:
    limit = {"rate_limit": {"requests": 3, "per_seconds": 10}}
    (await control.put("/hubspot/__config", json=limit)).raise_for_status()
    for _ in range(3):
        assert (await hubspot.get(f"{CONTACTS}/1001")).status_code == 200
    response = await hubspot.get(f"{CONTACTS}/1001")
    assert response.status_code == 429
    body = response.json()
    assert body["status"] == "error"
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["correlationId"]
    assert response.headers["X-HubSpot-RateLimit-Max"] == "3"
    assert response.headers["X-HubSpot-RateLimit-Remaining"] == "0"


async def test_injected_fault_answers_in_hubspot_error_shape(
    hubspot: httpx.AsyncClient, control: httpx.AsyncClient
) -> None:
    (
        await control.put("/hubspot/__config", json={"error_rate": 1, "error_status": 502})
    ).raise_for_status()
    response = await hubspot.post(f"{CONTACTS}/batch/read", json={"inputs": [{"id": "1001"}]})
    assert_hubspot_error(response, 502, "INTERNAL_ERROR")


async def test_requests_are_counted_under_the_documented_templates(
    hubspot: httpx.AsyncClient, control: httpx.AsyncClient
) -> None:
    await hubspot.post(f"{CONTACTS}/batch/read", json={"inputs": [{"id": "1001"}]})
    await hubspot.get(f"{TICKETS}/{TICKET_ID_BASE}")
    await hubspot.get("/crm/v4/objects/contacts/1001/associations/companies")
    requests = (await control.get("/hubspot/__stats")).json()["requests"]
    assert requests == {
        "POST /crm/v3/objects/contacts/batch/read": 1,
        "GET /crm/v3/objects/tickets/{ticketId}": 1,
        "GET /crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}": 1,
    }

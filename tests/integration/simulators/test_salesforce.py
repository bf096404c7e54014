"""The Salesforce simulator over real loopback HTTP, against tests/contract/specs/salesforce.md."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app.simulators.credentials import (
    SALESFORCE_API_VERSION,
    SALESFORCE_CLIENT_ID,
    SALESFORCE_CLIENT_SECRET,
)
from app.simulators.world import Person, World

PREFIX = "/salesforce"
API = f"/services/data/{SALESFORCE_API_VERSION}"
TOKEN_URL = "/services/oauth2/token"
CREDENTIALS = {
    "grant_type": "client_credentials",
    "client_id": SALESFORCE_CLIENT_ID,
    "client_secret": SALESFORCE_CLIENT_SECRET,
}
LEAD_FIELDS = (
    "Id, FirstName, LastName, Name, Company, Email, Phone, Status, LeadSource, IsConverted, "
    "ConvertedAccountId, ConvertedContactId, ConvertedDate, CreatedDate, LastModifiedDate, "
    "SystemModstamp, Brand__c"
)
SF_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
UNKNOWN_LEAD = "00Q5g0000000001EAA"  # well formed, never issued


def case_safe(id15: str) -> str:
    """The 18-character form of a 15-character id, computed here from the published rule."""
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, ch in enumerate(id15[start : start + 5]) if ch.isupper())
        suffix += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return id15 + suffix


def sf_datetime(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def parse_sf_datetime(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, list)
    assert len(body) == 1
    assert body[0]["errorCode"] == code
    assert body[0]["message"]
    return body[0]


async def new_token(client: httpx.AsyncClient) -> str:
    response = await client.post(TOKEN_URL, data=CREDENTIALS)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
async def anonymous(simulators, control) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no token; the seeded data are restored after each test."""
    async with httpx.AsyncClient(base_url=simulators.url(PREFIX), timeout=10) as client:
        yield client
    (await control.post(f"{PREFIX}/__reset", params={"data": "true"})).raise_for_status()


@pytest.fixture
async def sf(simulators, control) -> AsyncIterator[httpx.AsyncClient]:
    """A client holding a fresh access token."""
    async with httpx.AsyncClient(base_url=simulators.url(PREFIX), timeout=10) as client:
        client.headers["Authorization"] = f"Bearer {await new_token(client)}"
        yield client
    (await control.post(f"{PREFIX}/__reset", params={"data": "true"})).raise_for_status()


async def query(sf: httpx.AsyncClient, soql: str, **headers: str) -> dict[str, Any]:
    response = await sf.get(f"{API}/query", params={"q": soql}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def records(sf: httpx.AsyncClient, soql: str) -> list[dict[str, Any]]:
    return (await query(sf, soql))["records"]


async def lead_of(sf: httpx.AsyncClient, person: Person) -> dict[str, Any]:
    (found,) = await records(sf, f"SELECT {LEAD_FIELDS} FROM Lead WHERE Email = '{person.email}'")
    return found


def converted(world: World) -> Person:
    return next(p for p in world.people if p.lead_converted and p.company is not None)


def plain_lead(world: World) -> Person:
    return next(p for p in world.people if p.lead and not p.customer and p.company is not None)


# -- OAuth --------------------------------------------------------------------------------------


async def test_the_token_answer_has_exactly_the_digest_fields(anonymous, simulators) -> None:
    response = await anonymous.post(TOKEN_URL, data=CREDENTIALS)
    assert response.status_code == 200
    body = response.json()
    assert list(body) == [
        "access_token",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
        "signature",
    ]
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == simulators.url(PREFIX)
    assert body["issued_at"].isdigit()


async def test_each_token_request_gets_a_new_opaque_token(anonymous) -> None:
    assert await new_token(anonymous) != await new_token(anonymous)


async def test_a_wrong_client_secret_is_invalid_client(anonymous) -> None:
    response = await anonymous.post(TOKEN_URL, data={**CREDENTIALS, "client_secret": "nope"})
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "invalid client credentials",
    }


async def test_an_unknown_client_id_is_invalid_client_id(anonymous) -> None:
    response = await anonymous.post(TOKEN_URL, data={**CREDENTIALS, "client_id": "nope"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_id"


async def test_another_grant_type_is_unsupported(anonymous) -> None:
    response = await anonymous.post(TOKEN_URL, data={**CREDENTIALS, "grant_type": "password"})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_client_credentials_may_come_in_a_basic_header(anonymous) -> None:
    response = await anonymous.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials"},
        auth=(SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET),
    )
    assert response.status_code == 200, response.text


async def test_a_request_without_a_token_is_invalid_session_id(anonymous) -> None:
    response = await anonymous.get(f"{API}/query", params={"q": "SELECT Id FROM Lead"})
    assert response.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Token"


async def test_a_token_the_org_never_issued_is_invalid_session_id(anonymous) -> None:
    response = await anonymous.get(
        f"{API}/sobjects/Lead/{UNKNOWN_LEAD}", headers={"Authorization": "Bearer made-up"}
    )
    assert_error(response, 401, "INVALID_SESSION_ID")


async def test_expired_tokens_answer_401_and_a_new_token_works(sf, control) -> None:
    soql = {"q": "SELECT COUNT() FROM Lead"}
    assert (await sf.get(f"{API}/query", params=soql)).status_code == 200
    expired = await control.post(f"{PREFIX}/__expire_tokens")
    assert expired.json()["expired"] >= 1
    assert_error(await sf.get(f"{API}/query", params=soql), 401, "INVALID_SESSION_ID")
    sf.headers["Authorization"] = f"Bearer {await new_token(sf)}"
    assert (await sf.get(f"{API}/query", params=soql)).status_code == 200


async def test_expiring_tokens_is_not_counted_as_an_api_call(sf, control) -> None:
    await control.post(f"{PREFIX}/__expire_tokens")
    stats = (await control.get(f"{PREFIX}/__stats")).json()
    assert stats["requests"] == {"POST /services/oauth2/token": 1}


# -- versions and unknown resources ---------------------------------------------------------------


@pytest.mark.parametrize("version", ["v50.0", "v55.0", "v62.0"])
async def test_versions_v50_to_v62_are_served(sf, version) -> None:
    response = await sf.get(f"/services/data/{version}/query", params={"q": "SELECT Id FROM Lead"})
    assert response.status_code == 200
    url = response.json()["records"][0]["attributes"]["url"]
    assert url.startswith(f"/services/data/{version}/sobjects/Lead/")


@pytest.mark.parametrize("version", ["v49.0", "v63.0", "61.0", "v61", "latest"])
async def test_other_versions_are_not_found(sf, version) -> None:
    response = await sf.get(f"/services/data/{version}/sobjects/Lead/{UNKNOWN_LEAD}")
    body = assert_error(response, 404, "NOT_FOUND")
    assert body["message"] == "The requested resource does not exist"


async def test_the_version_list_needs_no_token(anonymous) -> None:
    response = await anonymous.get("/services/data")
    assert response.status_code == 200
    versions = {v["version"]: v for v in response.json()}
    assert versions["61.0"] == {
        "label": "Summer '24",
        "url": "/services/data/v61.0",
        "version": "61.0",
    }
    assert set(versions) == {f"{n}.0" for n in range(50, 63)}


async def test_an_unknown_resource_is_not_found_as_an_error_array(sf) -> None:
    assert_error(await sf.get(f"{API}/sobjects/Opportunity/{UNKNOWN_LEAD}"), 404, "NOT_FOUND")


async def test_an_unsupported_method_is_method_not_allowed(sf) -> None:
    response = await sf.put(f"{API}/sobjects/Lead/{UNKNOWN_LEAD}", json={})
    assert_error(response, 405, "METHOD_NOT_ALLOWED")


def _padded_query(sf: httpx.AsyncClient, head_bytes: int) -> httpx.Request:
    """A SOQL query whose URI (path and query, as the instance sees them) and headers come to
    ``head_bytes`` together: an ``IN`` list padded with letters, none above 4,000 a literal."""
    request = sf.build_request("GET", f"{API}/query", params={"q": "SELECT Id FROM Lead"})
    headers = sum(len(name) + len(value) + 4 for name, value in request.headers.raw)
    short = f"{API}/query?" + str(httpx.QueryParams({"q": "SELECT Id FROM Lead WHERE Email IN ()"}))
    pad = head_bytes - headers - len(short)
    literals = []
    while pad > 0:
        # each literal: %27…%27 and, after the first, %2C+ (", ") before it
        size = min(3000, pad - 6 - (4 if literals else 0))
        literals.append("'" + "a" * size + "'")
        pad -= size + 6 + (4 if len(literals) > 1 else 0)
    soql = f"SELECT Id FROM Lead WHERE Email IN ({', '.join(literals)})"
    request = sf.build_request("GET", f"{API}/query", params={"q": soql})
    uri = len(request.url.raw_path) - len(PREFIX)
    assert uri + sum(len(k) + len(v) + 4 for k, v in request.headers.raw) == head_bytes
    return request


async def test_a_uri_and_headers_within_16384_bytes_are_served(sf) -> None:
    response = await sf.send(_padded_query(sf, 16_384))
    assert response.status_code == 200, response.text
    assert response.json()["records"] == []


async def test_a_uri_and_headers_over_16384_bytes_are_too_large(sf) -> None:
    response = await sf.send(_padded_query(sf, 16_385))
    assert (response.status_code, response.text) == (431, "Request Header Fields Too Large")


async def test_a_uri_over_16384_bytes_is_too_long(sf) -> None:
    response = await sf.get(f"{API}/query", params={"q": "SELECT Id FROM Lead " + "a" * 16_400})
    assert (response.status_code, response.text) == (414, "URI Too Long")


# -- the seeded org -----------------------------------------------------------------------------


async def test_every_world_lead_is_a_lead(sf, world: World) -> None:
    page = await query(sf, "SELECT COUNT() FROM Lead")
    assert page == {"totalSize": len(world.leads), "done": True, "records": []}


async def test_a_lead_carries_the_world_persons_data(sf, world: World) -> None:
    person = plain_lead(world)
    lead = await lead_of(sf, person)
    assert lead["FirstName"] == person.first_name
    assert lead["LastName"] == person.last_name
    assert lead["Name"] == f"{person.first_name} {person.last_name}"
    assert lead["Company"] == person.company.name
    assert lead["Phone"] == person.phone
    assert lead["Status"] == person.lead_status
    assert lead["LeadSource"] == person.lead_source
    assert lead["Brand__c"] == person.brand.key
    assert lead["IsConverted"] is False
    assert lead["CreatedDate"] == sf_datetime(person.created_at)
    assert lead["LastModifiedDate"] == sf_datetime(person.updated_at)


async def test_ids_are_18_characters_with_the_case_safe_suffix(sf) -> None:
    for soql, prefix in [
        ("SELECT Id FROM Lead LIMIT 50", "00Q"),
        ("SELECT Id FROM Contact LIMIT 50", "003"),
        ("SELECT Id FROM Account LIMIT 50", "001"),
    ]:
        for record in await records(sf, soql):
            assert record["Id"].startswith(prefix)
            assert record["Id"] == case_safe(record["Id"][:15])


async def test_a_converted_lead_points_at_its_contact_and_account(sf, world: World) -> None:
    person = converted(world)
    lead = await lead_of(sf, person)
    assert lead["IsConverted"] is True
    assert lead["Status"] == "Closed - Converted"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", lead["ConvertedDate"])
    contact = (await sf.get(f"{API}/sobjects/Contact/{lead['ConvertedContactId']}")).json()
    assert contact["Email"] == person.email
    assert contact["AccountId"] == lead["ConvertedAccountId"]
    account = (await sf.get(f"{API}/sobjects/Account/{contact['AccountId']}")).json()
    assert account["Name"] == person.company.name


async def test_a_lead_without_a_company_gets_a_stand_in(sf, world: World) -> None:
    person = next(p for p in world.people if p.lead and p.company is None)
    assert (await lead_of(sf, person))["Company"] == "[not provided]"


async def test_accounts_are_the_companies_of_leads(sf, world: World) -> None:
    names = {r["Name"] for r in await records(sf, "SELECT Name FROM Account")}
    assert names == {p.company.name for p in world.leads if p.company is not None}


# -- one record ---------------------------------------------------------------------------------


async def test_reading_a_lead_returns_every_field_after_attributes(sf, world: World) -> None:
    lead = await lead_of(sf, plain_lead(world))
    response = await sf.get(f"{API}/sobjects/Lead/{lead['Id']}")
    assert response.status_code == 200
    body = response.json()
    assert next(iter(body)) == "attributes"
    assert body["attributes"] == {"type": "Lead", "url": f"{API}/sobjects/Lead/{lead['Id']}"}
    assert {k: v for k, v in body.items() if k != "attributes"} == {
        k: v for k, v in lead.items() if k != "attributes"
    }


async def test_reading_with_fields_returns_only_those_plus_id(sf, world: World) -> None:
    lead = await lead_of(sf, plain_lead(world))
    response = await sf.get(f"{API}/sobjects/Lead/{lead['Id']}", params={"fields": "email,Phone"})
    assert response.json() == {
        "attributes": {"type": "Lead", "url": f"{API}/sobjects/Lead/{lead['Id']}"},
        "Email": lead["Email"],
        "Phone": lead["Phone"],
        "Id": lead["Id"],
    }


async def test_reading_an_unknown_field_is_invalid_field(sf, world: World) -> None:
    lead = await lead_of(sf, plain_lead(world))
    response = await sf.get(f"{API}/sobjects/Lead/{lead['Id']}", params={"fields": "Email,Foo"})
    body = assert_error(response, 400, "INVALID_FIELD")
    assert body["message"].startswith("No such column 'Foo' on entity 'Lead'.")


async def test_reading_an_unknown_id_is_not_found(sf) -> None:
    body = assert_error(await sf.get(f"{API}/sobjects/Lead/{UNKNOWN_LEAD}"), 404, "NOT_FOUND")
    assert body["message"] == "The requested resource does not exist"


async def test_reading_what_is_not_an_id_is_not_found(sf) -> None:
    body = assert_error(await sf.get(f"{API}/sobjects/Lead/nonsense"), 404, "NOT_FOUND")
    assert body["message"].endswith("nonsense")


async def test_a_contact_id_is_not_found_under_lead(sf, world: World) -> None:
    lead = await lead_of(sf, converted(world))
    response = await sf.get(f"{API}/sobjects/Lead/{lead['ConvertedContactId']}")
    assert_error(response, 404, "NOT_FOUND")


async def test_15_character_and_miscased_18_character_ids_read_the_record(sf, world) -> None:
    lead = await lead_of(sf, plain_lead(world))
    for form in (lead["Id"][:15], lead["Id"].lower(), lead["Id"].upper()):
        response = await sf.get(f"{API}/sobjects/Lead/{form}", params={"fields": "Id"})
        assert response.status_code == 200, form
        assert response.json()["Id"] == lead["Id"]


# -- create and update one ------------------------------------------------------------------------


async def test_creating_a_lead_answers_201_and_the_lead_reads_back(sf) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    response = await sf.post(
        f"{API}/sobjects/Lead",
        json={"FirstName": "Ada", "LastName": "Okafor", "Company": "Kora", "Email": "ada@kora.io"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body == {"id": body["id"], "success": True, "errors": []}
    assert body["id"].startswith("00Q")
    assert body["id"] == case_safe(body["id"][:15])
    lead = (await sf.get(f"{API}/sobjects/Lead/{body['id']}")).json()
    assert lead["Name"] == "Ada Okafor"
    assert lead["Status"] == "Open - Not Contacted"
    assert lead["IsConverted"] is False
    assert parse_sf_datetime(lead["CreatedDate"]) >= before
    assert lead["SystemModstamp"] == lead["LastModifiedDate"] == lead["CreatedDate"]


async def test_creating_a_lead_without_last_name_and_company_is_refused(sf) -> None:
    response = await sf.post(f"{API}/sobjects/Lead", json={"FirstName": "Ada"})
    body = assert_error(response, 400, "REQUIRED_FIELD_MISSING")
    assert body["fields"] == ["LastName", "Company"]
    assert body["message"] == "Required fields are missing: [LastName, Company]"


async def test_creating_with_an_id_is_refused(sf) -> None:
    response = await sf.post(
        f"{API}/sobjects/Lead", json={"Id": UNKNOWN_LEAD, "LastName": "O", "Company": "K"}
    )
    assert_error(response, 400, "INVALID_FIELD_FOR_INSERT_UPDATE")


async def test_creating_with_an_empty_body_is_a_json_parser_error(sf) -> None:
    assert_error(await sf.post(f"{API}/sobjects/Lead", content=b""), 400, "JSON_PARSER_ERROR")


async def test_creating_from_an_array_is_a_json_parser_error(sf) -> None:
    response = await sf.post(f"{API}/sobjects/Lead", json=[{"LastName": "O", "Company": "K"}])
    assert_error(response, 400, "JSON_PARSER_ERROR")


async def test_creating_a_contact_on_an_unknown_account_is_refused(sf) -> None:
    response = await sf.post(
        f"{API}/sobjects/Contact", json={"LastName": "O", "AccountId": "0015g0000000001AAA"}
    )
    body = assert_error(response, 400, "INVALID_CROSS_REFERENCE_KEY")
    assert body["fields"] == ["AccountId"]


async def test_creating_a_contact_with_a_lead_id_for_account_is_malformed(sf, world) -> None:
    lead = await lead_of(sf, plain_lead(world))
    response = await sf.post(
        f"{API}/sobjects/Contact", json={"LastName": "O", "AccountId": lead["Id"]}
    )
    assert_error(response, 400, "MALFORMED_ID")


async def test_creating_an_account_and_a_contact_on_it(sf) -> None:
    account = (await sf.post(f"{API}/sobjects/Account", json={"Name": "Kora Ltd"})).json()["id"]
    response = await sf.post(
        f"{API}/sobjects/Contact", json={"LastName": "Okafor", "AccountId": account}
    )
    assert response.status_code == 201
    contact = await records(sf, f"SELECT Account.Name FROM Contact WHERE AccountId = '{account}'")
    assert contact[0]["Account"]["Name"] == "Kora Ltd"


async def test_updating_a_lead_answers_204_and_bumps_the_modstamps(sf, world) -> None:
    lead = await lead_of(sf, plain_lead(world))
    response = await sf.patch(
        f"{API}/sobjects/Lead/{lead['Id']}", json={"Phone": "+44 20 7946 0000", "LastName": "Vale"}
    )
    assert response.status_code == 204
    assert response.content == b""
    after = (await sf.get(f"{API}/sobjects/Lead/{lead['Id']}")).json()
    assert after["Phone"] == "+44 20 7946 0000"
    assert after["Name"] == f"{lead['FirstName']} Vale"
    assert after["LastModifiedDate"] == after["SystemModstamp"]
    assert parse_sf_datetime(after["SystemModstamp"]) > parse_sf_datetime(lead["SystemModstamp"])
    assert after["CreatedDate"] == lead["CreatedDate"]


async def test_updating_a_read_only_field_is_refused(sf, world) -> None:
    lead = await lead_of(sf, plain_lead(world))
    response = await sf.patch(
        f"{API}/sobjects/Lead/{lead['Id']}", json={"Name": "X", "IsConverted": True}
    )
    body = assert_error(response, 400, "INVALID_FIELD_FOR_INSERT_UPDATE")
    assert body["fields"] == ["Name", "IsConverted"]


async def test_updating_an_unknown_field_is_invalid_field(sf, world) -> None:
    lead = await lead_of(sf, plain_lead(world))
    response = await sf.patch(f"{API}/sobjects/Lead/{lead['Id']}", json={"Foo": "x"})
    assert_error(response, 400, "INVALID_FIELD")


async def test_updating_to_a_bad_email_is_invalid_email_address(sf, world) -> None:
    lead = await lead_of(sf, plain_lead(world))
    response = await sf.patch(f"{API}/sobjects/Lead/{lead['Id']}", json={"Email": "not-an-email"})
    body = assert_error(response, 400, "INVALID_EMAIL_ADDRESS")
    assert body["fields"] == ["Email"]
    assert (await lead_of(sf, plain_lead(world)))["Email"] == lead["Email"]


async def test_clearing_a_required_field_is_refused(sf, world) -> None:
    lead = await lead_of(sf, plain_lead(world))
    response = await sf.patch(f"{API}/sobjects/Lead/{lead['Id']}", json={"Company": ""})
    body = assert_error(response, 400, "REQUIRED_FIELD_MISSING")
    assert body["fields"] == ["Company"]


async def test_a_value_too_long_is_refused(sf, world) -> None:
    lead = await lead_of(sf, plain_lead(world))
    response = await sf.patch(f"{API}/sobjects/Lead/{lead['Id']}", json={"FirstName": "x" * 41})
    assert_error(response, 400, "STRING_TOO_LONG")


async def test_updating_with_malformed_json_is_a_json_parser_error(sf, world) -> None:
    lead = await lead_of(sf, plain_lead(world))
    response = await sf.patch(f"{API}/sobjects/Lead/{lead['Id']}", content=b'{"Phone": ')
    assert_error(response, 400, "JSON_PARSER_ERROR")


async def test_updating_an_unknown_lead_is_not_found(sf) -> None:
    response = await sf.patch(f"{API}/sobjects/Lead/{UNKNOWN_LEAD}", json={"Phone": "1"})
    assert_error(response, 404, "NOT_FOUND")


# -- sObject Collections: read --------------------------------------------------------------------


async def test_a_collection_get_answers_in_the_order_asked_with_nulls(sf) -> None:
    ids = [r["Id"] for r in await records(sf, "SELECT Id FROM Lead LIMIT 3")]
    asked = [ids[2], UNKNOWN_LEAD, ids[0], "garbage", ids[1]]
    response = await sf.get(
        f"{API}/composite/sobjects/Lead", params={"ids": ",".join(asked), "fields": "Email"}
    )
    assert response.status_code == 200
    body = response.json()
    assert [r and r["Id"] for r in body] == [ids[2], None, ids[0], None, ids[1]]
    assert set(body[0]) == {"attributes", "Email", "Id"}


async def test_a_collection_post_reads_2000_leads(sf, world: World) -> None:
    ids = [r["Id"] for r in await records(sf, "SELECT Id FROM Lead")]
    assert len(ids) == 2000
    response = await sf.post(
        f"{API}/composite/sobjects/Lead", json={"ids": ids[::-1], "fields": ["Id", "Email"]}
    )
    assert response.status_code == 200
    assert [r["Id"] for r in response.json()] == ids[::-1]


async def test_a_collection_of_more_than_2000_ids_is_refused(sf) -> None:
    response = await sf.post(
        f"{API}/composite/sobjects/Lead", json={"ids": [UNKNOWN_LEAD] * 2001, "fields": ["Id"]}
    )
    assert_error(response, 400, "EXCEEDED_ID_LIMIT")


async def test_a_collection_read_needs_fields(sf) -> None:
    response = await sf.get(f"{API}/composite/sobjects/Lead", params={"ids": UNKNOWN_LEAD})
    assert_error(response, 400, "MISSING_ARGUMENT")


async def test_a_collection_read_of_an_unknown_field_is_invalid_field(sf) -> None:
    response = await sf.post(
        f"{API}/composite/sobjects/Lead", json={"ids": [UNKNOWN_LEAD], "fields": ["Nope"]}
    )
    assert_error(response, 400, "INVALID_FIELD")


async def test_a_collection_read_with_ids_not_a_list_is_a_json_parser_error(sf) -> None:
    response = await sf.post(
        f"{API}/composite/sobjects/Lead", json={"ids": UNKNOWN_LEAD, "fields": ["Id"]}
    )
    assert_error(response, 400, "JSON_PARSER_ERROR")


# -- sObject Collections: save --------------------------------------------------------------------


def new_lead(**fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Lead"}, "LastName": "Okafor", "Company": "Kora", **fields}


async def test_create_many_answers_one_result_per_record_in_order(sf) -> None:
    response = await sf.post(
        f"{API}/composite/sobjects",
        json={
            "allOrNone": False,
            "records": [
                new_lead(Email="a@kora.io"),
                new_lead(Email="nope"),
                {"attributes": {"type": "Account"}, "Name": "Kora Holdings"},
            ],
        },
    )
    assert response.status_code == 200
    first, second, third = response.json()
    assert first["success"] is True
    assert first["id"].startswith("00Q")
    assert second == {
        "success": False,
        "errors": [
            {
                "statusCode": "INVALID_EMAIL_ADDRESS",
                "message": "Email: invalid email address: nope",
                "fields": ["Email"],
            }
        ],
    }
    assert third["success"] is True
    assert third["id"].startswith("001")
    assert len(await records(sf, "SELECT Id FROM Lead WHERE Email = 'a@kora.io'")) == 1


async def test_create_many_with_all_or_none_writes_nothing_if_one_fails(sf) -> None:
    response = await sf.post(
        f"{API}/composite/sobjects",
        json={"allOrNone": True, "records": [new_lead(Email="b@kora.io"), new_lead(LastName=None)]},
    )
    assert response.status_code == 200
    first, second = response.json()
    assert first["success"] is False
    assert first["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert second["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert await records(sf, "SELECT Id FROM Lead WHERE Email = 'b@kora.io'") == []


async def test_create_many_of_more_than_200_is_refused(sf) -> None:
    response = await sf.post(f"{API}/composite/sobjects", json={"records": [new_lead()] * 201})
    assert_error(response, 400, "EXCEEDED_ID_LIMIT")


async def test_create_many_needs_a_type_on_each_record(sf) -> None:
    response = await sf.post(
        f"{API}/composite/sobjects", json={"records": [{"LastName": "O", "Company": "K"}]}
    )
    assert_error(response, 400, "INVALID_TYPE")


async def test_update_many_reports_each_record(sf) -> None:
    ids = [r["Id"] for r in await records(sf, "SELECT Id FROM Lead LIMIT 2")]
    response = await sf.patch(
        f"{API}/composite/sobjects",
        json={
            "records": [
                {"attributes": {"type": "Lead"}, "Id": ids[0], "LeadSource": "Web"},
                {"attributes": {"type": "Lead"}, "LeadSource": "Web"},
                {"attributes": {"type": "Lead"}, "Id": "bad", "LeadSource": "Web"},
                {"attributes": {"type": "Lead"}, "Id": UNKNOWN_LEAD, "LeadSource": "Web"},
                {"attributes": {"type": "Lead"}, "Id": ids[1], "Email": "bad"},
            ]
        },
    )
    assert response.status_code == 200
    results = response.json()
    assert results[0] == {"id": ids[0], "success": True, "errors": []}
    assert [r["errors"][0]["statusCode"] for r in results[1:]] == [
        "MISSING_ARGUMENT",
        "MALFORMED_ID",
        "INVALID_CROSS_REFERENCE_KEY",
        "INVALID_EMAIL_ADDRESS",
    ]
    lead = (await sf.get(f"{API}/sobjects/Lead/{ids[0]}", params={"fields": "LeadSource"})).json()
    assert lead["LeadSource"] == "Web"


async def test_update_many_with_all_or_none_changes_nothing_if_one_fails(sf) -> None:
    ids = [r["Id"] for r in await records(sf, "SELECT Id FROM Lead WHERE Phone != null LIMIT 2")]
    response = await sf.patch(
        f"{API}/composite/sobjects",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Lead"}, "Id": ids[0], "Phone": None},
                {"attributes": {"type": "Lead"}, "Id": ids[1], "LastName": None},
            ],
        },
    )
    first, second = response.json()
    assert first["id"] == ids[0]
    assert first["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert second["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    lead = (await sf.get(f"{API}/sobjects/Lead/{ids[0]}", params={"fields": "Phone"})).json()
    assert lead["Phone"] is not None


# -- composite --------------------------------------------------------------------------------


def sub(ref: str, method: str, url: str, body: Any = None) -> dict[str, Any]:
    found = {"method": method, "url": f"{API}{url}", "referenceId": ref}
    return found if body is None else {**found, "body": body}


async def composite(sf: httpx.AsyncClient, *subs: dict, all_or_none: bool) -> list[dict]:
    response = await sf.post(
        f"{API}/composite", json={"allOrNone": all_or_none, "compositeRequest": list(subs)}
    )
    assert response.status_code == 200, response.text
    return response.json()["compositeResponse"]


async def test_composite_chains_references_between_subrequests(sf) -> None:
    answers = await composite(
        sf,
        sub("acct", "POST", "/sobjects/Account", {"Name": "Kora Ltd"}),
        sub("person", "POST", "/sobjects/Contact", {"LastName": "O", "AccountId": "@{acct.id}"}),
        sub("found", "GET", "/query?q=SELECT+Id+FROM+Contact+WHERE+AccountId='@{acct.id}'"),
        sub("phone", "PATCH", "/sobjects/Contact/@{found.records[0].Id}", {"Phone": "12"}),
        all_or_none=False,
    )
    assert [a["httpStatusCode"] for a in answers] == [201, 201, 200, 204]
    assert [a["referenceId"] for a in answers] == ["acct", "person", "found", "phone"]
    account_id = answers[0]["body"]["id"]
    assert answers[0]["httpHeaders"] == {"Location": f"{API}/sobjects/Account/{account_id}"}
    assert answers[2]["body"]["records"][0]["Id"] == answers[1]["body"]["id"]
    assert answers[3]["body"] is None
    contact = (await sf.get(f"{API}/sobjects/Contact/{answers[1]['body']['id']}")).json()
    assert (contact["AccountId"], contact["Phone"]) == (account_id, "12")


async def test_composite_with_all_or_none_takes_back_every_write(sf) -> None:
    answers = await composite(
        sf,
        sub("acct", "POST", "/sobjects/Account", {"Name": "Rolled Back Ltd"}),
        sub("bad", "POST", "/sobjects/Contact", {"LastName": "O", "Email": "nope"}),
        sub("never", "POST", "/sobjects/Account", {"Name": "Never Ltd"}),
        all_or_none=True,
    )
    assert [a["httpStatusCode"] for a in answers] == [400, 400, 400]
    assert [a["body"][0]["errorCode"] for a in answers] == [
        "PROCESSING_HALTED",
        "INVALID_EMAIL_ADDRESS",
        "PROCESSING_HALTED",
    ]
    names = "('Rolled Back Ltd', 'Never Ltd')"
    assert (await query(sf, f"SELECT COUNT() FROM Account WHERE Name IN {names}"))["totalSize"] == 0


async def test_composite_all_or_none_restores_an_updated_record(sf, world) -> None:
    lead = await lead_of(sf, plain_lead(world))
    await composite(
        sf,
        sub("fix", "PATCH", f"/sobjects/Lead/{lead['Id']}", {"Email": "new@kora.io"}),
        sub("bad", "PATCH", f"/sobjects/Lead/{lead['Id']}", {"LastName": None}),
        all_or_none=True,
    )
    assert await lead_of(sf, plain_lead(world)) == lead
    assert await records(sf, "SELECT Id FROM Lead WHERE Email = 'new@kora.io'") == []


async def test_composite_without_all_or_none_halts_only_what_refers_to_a_failure(sf) -> None:
    answers = await composite(
        sf,
        sub("bad", "POST", "/sobjects/Account", {}),
        sub("child", "POST", "/sobjects/Contact", {"LastName": "O", "AccountId": "@{bad.id}"}),
        sub("other", "POST", "/sobjects/Account", {"Name": "Independent Ltd"}),
        all_or_none=False,
    )
    assert [a["httpStatusCode"] for a in answers] == [400, 400, 201]
    assert answers[1]["body"][0]["errorCode"] == "PROCESSING_HALTED"


async def test_composite_counts_as_one_api_call(sf, control) -> None:
    await composite(
        sf,
        sub("a", "GET", "/query?q=SELECT+Id+FROM+Lead+LIMIT+1"),
        sub("b", "GET", "/sobjects/Lead/@{a.records[0].Id}"),
        all_or_none=False,
    )
    stats = (await control.get(f"{PREFIX}/__stats")).json()["requests"]
    assert stats == {
        "POST /services/oauth2/token": 1,
        "POST /services/data/{version}/composite": 1,
    }


async def test_composite_of_more_than_25_subrequests_is_refused(sf) -> None:
    subs = [sub(f"q{i}", "GET", "/query?q=SELECT+Id+FROM+Lead+LIMIT+1") for i in range(26)]
    response = await sf.post(f"{API}/composite", json={"compositeRequest": subs})
    assert_error(response, 400, "INVALID_INPUT")


async def test_composite_reference_ids_must_be_unique(sf) -> None:
    subs = [sub("same", "GET", "/query?q=SELECT+Id+FROM+Lead+LIMIT+1")] * 2
    response = await sf.post(f"{API}/composite", json={"compositeRequest": subs})
    assert_error(response, 400, "INVALID_INPUT")


# -- SOQL -----------------------------------------------------------------------------------------


async def test_the_connectors_email_in_query_finds_those_leads(sf, world: World) -> None:
    people = [p for p in world.leads[:5]]
    emails = ", ".join(f"'{p.email.upper()}'" for p in people)
    found = await records(
        sf,
        f"SELECT Id, FirstName, LastName, Company, Email, Phone, Status, LeadSource, IsConverted, "
        f"ConvertedContactId, CreatedDate, LastModifiedDate FROM Lead WHERE Email IN ({emails}) "
        "ORDER BY CreatedDate LIMIT 10",
    )
    assert sorted(r["Email"] for r in found) == sorted(p.email for p in people)
    assert [r["CreatedDate"] for r in found] == sorted(r["CreatedDate"] for r in found)


async def test_systemmodstamp_after_an_unquoted_datetime(sf, world: World) -> None:
    since = datetime(2026, 6, 1, tzinfo=UTC)
    page = await query(sf, "SELECT Id FROM Lead WHERE SystemModstamp > 2026-06-01T00:00:00Z")
    assert page["totalSize"] == sum(1 for p in world.leads if p.updated_at > since)


async def test_a_datetime_literal_with_an_offset_is_that_instant(sf) -> None:
    utc = await query(sf, "SELECT COUNT() FROM Lead WHERE CreatedDate < 2025-01-01T02:00:00Z")
    offset = await query(
        sf, "SELECT COUNT() FROM Lead WHERE CreatedDate < 2025-01-01T04:00:00+02:00"
    )
    assert utc["totalSize"] == offset["totalSize"] > 0


async def test_a_relationship_field_nests_the_account(sf, world: World) -> None:
    person = converted(world)
    (contact,) = await records(
        sf, f"SELECT Id, Account.Name FROM Contact WHERE Email = '{person.email}'"
    )
    assert contact["Account"]["Name"] == person.company.name
    assert contact["Account"]["attributes"]["type"] == "Account"


async def test_order_by_desc_nulls_last_and_limit_offset(sf) -> None:
    everything = await records(sf, "SELECT Phone FROM Lead ORDER BY Phone DESC NULLS LAST")
    phones = [r["Phone"] for r in everything]
    known = [p for p in phones if p is not None]
    assert phones == known + [None] * (len(phones) - len(known))
    assert known == sorted(known, key=str.casefold, reverse=True)
    window = await records(
        sf, "SELECT Phone FROM Lead ORDER BY Phone DESC NULLS LAST LIMIT 5 OFFSET 10"
    )
    assert [r["Phone"] for r in window] == phones[10:15]


async def test_like_matches_ignoring_case(sf, world: World) -> None:
    page = await query(sf, "SELECT COUNT() FROM Lead WHERE Email LIKE '%@GMAIL.com'")
    assert page["totalSize"] == sum(1 for p in world.leads if p.email.endswith("@gmail.com"))


async def test_field_names_ignore_case_and_answers_use_api_names(sf) -> None:
    (record,) = await records(sf, "select id, EMAIL, brand__C from LEAD limit 1")
    assert list(record) == ["attributes", "Id", "Email", "Brand__c"]
    assert record["attributes"]["type"] == "Lead"


async def test_a_query_sees_writes(sf) -> None:
    await sf.post(f"{API}/sobjects/Lead", json={"LastName": "Q", "Company": "K", "Email": "q@k.io"})
    (found,) = await records(sf, "SELECT LastName FROM Lead WHERE Email = 'q@k.io'")
    assert found["LastName"] == "Q"


async def test_a_query_of_2000_rows_fits_one_default_page(sf) -> None:
    page = await query(sf, "SELECT Id FROM Lead")
    assert (page["totalSize"], page["done"], len(page["records"])) == (2000, True, 2000)
    assert "nextRecordsUrl" not in page


async def test_batch_size_pages_through_next_records_url(sf) -> None:
    page = await query(
        sf, "SELECT Id FROM Lead ORDER BY Id", **{"Sforce-Query-Options": "batchSize=600"}
    )
    seen, urls = [r["Id"] for r in page["records"]], []
    while not page["done"]:
        urls.append(page["nextRecordsUrl"])
        response = await sf.get(page["nextRecordsUrl"])
        assert response.status_code == 200
        page = response.json()
        assert page["totalSize"] == 2000
        seen += [r["Id"] for r in page["records"]]
    assert len(urls) == 3
    assert re.fullmatch(rf"{API}/query/01g[0-9A-Za-z]{{15}}-600", urls[0])
    assert seen == sorted(seen)
    assert len(set(seen)) == 2000


async def test_a_batch_size_under_200_is_raised_to_200(sf) -> None:
    page = await query(sf, "SELECT Id FROM Lead", **{"Sforce-Query-Options": "batchSize=10"})
    assert len(page["records"]) == 200
    assert page["nextRecordsUrl"].endswith("-200")


async def test_an_unknown_query_locator_is_invalid(sf) -> None:
    response = await sf.get(f"{API}/query/01g5g0000000000AAA-2000")
    assert_error(response, 400, "INVALID_QUERY_LOCATOR")


async def test_bad_soql_is_malformed_query_pointing_at_the_token(sf) -> None:
    response = await sf.get(f"{API}/query", params={"q": "SELECT FROM Lead"})
    body = assert_error(response, 400, "MALFORMED_QUERY")
    assert (
        body["message"]
        == "\nSELECT FROM Lead\n       ^\nERROR at Row:1:Column:8\nunexpected token: 'FROM'"
    )


async def test_and_with_or_without_parentheses_is_malformed(sf) -> None:
    soql = "SELECT Id FROM Lead WHERE Email = 'a' AND Phone = 'b' OR Company = 'c'"
    assert_error(await sf.get(f"{API}/query", params={"q": soql}), 400, "MALFORMED_QUERY")


async def test_an_unknown_object_is_invalid_type(sf) -> None:
    response = await sf.get(f"{API}/query", params={"q": "SELECT Id FROM Opportunity"})
    body = assert_error(response, 400, "INVALID_TYPE")
    assert "sObject type 'Opportunity' is not supported" in body["message"]


async def test_an_unknown_field_is_invalid_field(sf) -> None:
    response = await sf.get(f"{API}/query", params={"q": "SELECT Id, Foo FROM Lead"})
    body = assert_error(response, 400, "INVALID_FIELD")
    assert "No such column 'Foo' on entity 'Lead'" in body["message"]


async def test_a_query_without_q_is_malformed(sf) -> None:
    assert_error(await sf.get(f"{API}/query"), 400, "MALFORMED_QUERY")


# -- dialect --------------------------------------------------------------------------------------


async def test_every_answer_reports_api_usage(sf) -> None:
    first = await sf.get(f"{API}/query", params={"q": "SELECT Id FROM Lead LIMIT 1"})
    second = await sf.get(f"{API}/sobjects/Lead/{UNKNOWN_LEAD}")
    # The token request was the first call; each answer counts itself.
    assert first.headers["sforce-limit-info"] == "api-usage=2/100000"
    assert second.headers["sforce-limit-info"] == "api-usage=3/100000"


async def test_over_the_limit_is_403_request_limit_exceeded(sf, control) -> None:
    limit = {"rate_limit": {"requests": 2, "per_seconds": 3600}}
    (await control.put(f"{PREFIX}/__config", json=limit)).raise_for_status()
    soql = {"q": "SELECT COUNT() FROM Lead"}
    ok = [await sf.get(f"{API}/query", params=soql) for _ in range(2)]
    refused = await sf.get(f"{API}/query", params=soql)
    assert [r.status_code for r in ok] == [200, 200]
    assert ok[1].headers["sforce-limit-info"] == "api-usage=2/2"
    assert refused.status_code == 403
    assert refused.json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert refused.headers["sforce-limit-info"] == "api-usage=2/2"
    assert "retry-after" not in refused.headers


async def test_an_injected_fault_is_an_error_array(sf, control) -> None:
    (
        await control.put(f"{PREFIX}/__config", json={"error_rate": 1, "error_status": 500})
    ).raise_for_status()
    assert_error(await sf.get(f"{API}/sobjects/Lead/{UNKNOWN_LEAD}"), 500, "UNKNOWN_EXCEPTION")


async def test_requests_are_counted_under_the_documented_templates(sf, control, world) -> None:
    lead = await lead_of(sf, plain_lead(world))
    await sf.get(f"{API}/sobjects/Lead/{lead['Id']}")
    await sf.post(f"{API}/composite/sobjects/Lead", json={"ids": [lead["Id"]], "fields": ["Id"]})
    stats = (await control.get(f"{PREFIX}/__stats")).json()["requests"]
    assert stats == {
        "POST /services/oauth2/token": 1,
        "GET /services/data/{version}/query": 1,
        "GET /services/data/{version}/sobjects/Lead/{id}": 1,
        "POST /services/data/{version}/composite/sobjects/Lead": 1,
    }


async def test_resetting_the_data_undoes_writes(sf, control, world) -> None:
    lead = await lead_of(sf, plain_lead(world))
    await sf.patch(f"{API}/sobjects/Lead/{lead['Id']}", json={"LastName": "Changed"})
    (await control.post(f"{PREFIX}/__reset", params={"data": "true"})).raise_for_status()
    assert (await lead_of(sf, plain_lead(world)))["LastName"] == lead["LastName"]

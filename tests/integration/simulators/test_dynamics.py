"""The Dynamics 365 (Dataverse Web API) simulator over real loopback HTTP, against
tests/contract/specs/dynamics.md."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

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
TOKEN_URL = f"/{DYNAMICS_TENANT_ID}/oauth2/v2.0/token"
FORMATTED = "OData.Community.Display.V1.FormattedValue"
ALL_ANNOTATIONS = {"Prefer": 'odata.include-annotations="*"'}
WITH_FORMATTED = {"Prefer": f'odata.include-annotations="{FORMATTED}"'}
ETAG = re.compile(r'^W/"\d+"$')
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MISSING = "00000000-0000-0000-0000-0000000000ff"


def credentials(scope: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": DYNAMICS_CLIENT_ID,
        "client_secret": DYNAMICS_CLIENT_SECRET,
        "scope": scope,
    }


def org(client: httpx.AsyncClient) -> str:
    """The organization URL (httpx keeps a trailing slash on the base URL)."""
    return str(client.base_url).rstrip("/")


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"]
    assert list(body["error"]) == ["code", "message"]
    assert body["error"]["code"] == code
    message: str = body["error"]["message"]
    assert message
    return message


@pytest.fixture
async def anonymous(simulators, control) -> AsyncIterator[httpx.AsyncClient]:
    """A client without a token; the seeded rows are restored after each test."""
    async with httpx.AsyncClient(base_url=simulators.url(PREFIX), timeout=10) as client:
        yield client
    (await control.post(f"{PREFIX}/__reset", params={"data": "true"})).raise_for_status()


@pytest.fixture
async def dyn(simulators, control) -> AsyncIterator[httpx.AsyncClient]:
    """A client holding a fresh bearer token for the organization."""
    async with httpx.AsyncClient(base_url=simulators.url(PREFIX), timeout=10) as client:
        response = await client.post(TOKEN_URL, data=credentials(f"{org(client)}/.default"))
        client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        client.headers["OData-Version"] = "4.0"
        yield client
    (await control.post(f"{PREFIX}/__reset", params={"data": "true"})).raise_for_status()


async def rows(dyn: httpx.AsyncClient, table: str, **params: str) -> list[dict[str, Any]]:
    response = await dyn.get(f"{API}/{table}", params=params)
    assert response.status_code == 200, response.text
    value: list[dict[str, Any]] = response.json()["value"]
    return value


async def contact_of(dyn: httpx.AsyncClient, email: str) -> dict[str, Any]:
    (found,) = await rows(dyn, "contacts", **{"$filter": f"emailaddress1 eq '{email}'"})
    return found


# -- identity platform ----------------------------------------------------------------------------


async def test_the_token_answer_has_exactly_the_identity_platform_fields(anonymous) -> None:
    response = await anonymous.post(TOKEN_URL, data=credentials(f"{org(anonymous)}/.default"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["token_type", "expires_in", "ext_expires_in", "access_token"]
    assert (body["token_type"], body["expires_in"], body["ext_expires_in"]) == (
        "Bearer",
        3599,
        3599,
    )
    assert body["access_token"].count(".") == 2  # a JWT


async def test_a_wrong_client_secret_is_401_invalid_client(anonymous) -> None:
    form = {**credentials(f"{org(anonymous)}/.default"), "client_secret": "nope"}
    response = await anonymous.post(TOKEN_URL, data=form)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_client"
    assert body["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert body["error_codes"] == [7000215]


async def test_an_unknown_client_id_is_unauthorized_client(anonymous) -> None:
    form = {**credentials(f"{org(anonymous)}/.default"), "client_id": MISSING}
    response = await anonymous.post(TOKEN_URL, data=form)
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"
    assert response.json()["error_description"].startswith("AADSTS700016:")


async def test_a_scope_without_the_default_suffix_is_invalid_scope(anonymous) -> None:
    response = await anonymous.post(TOKEN_URL, data=credentials(org(anonymous)))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


async def test_another_grant_type_is_unsupported(anonymous) -> None:
    form = {**credentials(f"{org(anonymous)}/.default"), "grant_type": "password"}
    response = await anonymous.post(TOKEN_URL, data=form)
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_an_unknown_tenant_is_refused(anonymous) -> None:
    url = TOKEN_URL.replace(DYNAMICS_TENANT_ID, MISSING)
    response = await anonymous.post(url, data=credentials(f"{org(anonymous)}/.default"))
    assert response.status_code == 400
    assert response.json()["error_description"].startswith("AADSTS90002:")


async def test_a_request_without_a_token_is_401_with_a_bearer_challenge(anonymous) -> None:
    response = await anonymous.get(f"{API}/contacts")
    assert response.status_code == 401
    assert response.content == b""
    assert response.headers["www-authenticate"].startswith("Bearer authorization_uri=")


async def test_a_token_nobody_issued_is_401(anonymous) -> None:
    response = await anonymous.get(f"{API}/contacts", headers={"Authorization": "Bearer a.b.c"})
    assert response.status_code == 401


async def test_expired_tokens_answer_401(dyn, control) -> None:
    assert (await dyn.get(f"{API}/contacts", params={"$top": "1"})).status_code == 200
    assert (await control.post(f"{PREFIX}/__expire_tokens")).json()["expired"] >= 1
    assert (await dyn.get(f"{API}/contacts", params={"$top": "1"})).status_code == 401


# -- the seeded rows ------------------------------------------------------------------------------


async def test_a_contact_per_customer_with_the_worlds_name_email_and_brand(dyn, world) -> None:
    params = {"$count": "true", "$top": "0"}
    count = (await dyn.get(f"{API}/contacts", params=params)).json()["@odata.count"]
    assert count == len(world.customers)
    person = world.customers[7]
    contact = await contact_of(dyn, person.email)
    assert (contact["firstname"], contact["lastname"]) == (person.first_name, person.last_name)
    assert contact["fullname"] == person.name
    assert contact["crmgraph_brand"] == person.brand.key
    assert contact["crmgraph_playerid"] == person.player_id
    assert GUID.match(contact["contactid"])


async def test_leads_hold_the_worlds_leads_with_status_option_values(dyn, world) -> None:
    person = next(p for p in world.leads if p.lead_converted)
    filter_ = f"emailaddress1 eq '{person.email}'"
    (lead,) = await rows(dyn, "leads", **{"$filter": filter_})
    assert (lead["statuscode"], lead["statecode"]) == (3, 1)  # Qualified
    assert lead["lastname"] == person.last_name


async def test_incidents_point_at_their_requesters_contact(dyn, world) -> None:
    ticket = world.tickets[0]
    contact = await contact_of(dyn, ticket.requester.email)
    filter_ = f"_customerid_value eq {contact['contactid']}"
    incidents = await rows(dyn, "incidents", **{"$filter": filter_})
    assert ticket.subject in {i["title"] for i in incidents}
    assert all(re.match(r"^CAS-\d{5}-[A-Z0-9]{6}$", i["ticketnumber"]) for i in incidents)


# -- $select, context, etags, by key --------------------------------------------------------------


async def test_select_returns_the_columns_asked_and_the_key(dyn) -> None:
    (row,) = await rows(dyn, "contacts", **{"$select": "firstname,emailaddress1", "$top": "1"})
    assert list(row) == ["@odata.etag", "firstname", "emailaddress1", "contactid"]


async def test_the_context_names_the_entity_set_and_selected_columns(dyn) -> None:
    params = {"$select": "firstname,lastname", "$top": "1"}
    body = (await dyn.get(f"{API}/contacts", params=params)).json()
    expected = f"{org(dyn)}{API}/$metadata#contacts(firstname,lastname)"
    assert body["@odata.context"] == expected


async def test_every_row_carries_a_weak_etag(dyn) -> None:
    assert all(ETAG.match(r["@odata.etag"]) for r in await rows(dyn, "leads", **{"$top": "5"}))


async def test_select_of_an_unknown_column_is_400_with_the_odata_message(dyn) -> None:
    response = await dyn.get(f"{API}/contacts", params={"$select": "Firstname"})
    message = assert_error(response, 400, "0x0")
    assert message == (
        "Could not find a property named 'Firstname' on type 'Microsoft.Dynamics.CRM.contact'."
    )


async def test_get_by_key_returns_the_row_with_its_entity_context(dyn, world) -> None:
    contact = await contact_of(dyn, world.customers[3].email)
    response = await dyn.get(f"{API}/contacts({contact['contactid']})")
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"].endswith("$metadata#contacts/$entity")
    assert body["emailaddress1"] == world.customers[3].email
    assert response.headers["etag"] == body["@odata.etag"]


async def test_get_by_an_unknown_key_is_404(dyn) -> None:
    message = assert_error(await dyn.get(f"{API}/contacts({MISSING})"), 404, "0x80040217")
    assert message == f"Entity 'contact' With Id = {MISSING} Does Not Exist"


async def test_an_unknown_entity_set_is_404_resource_not_found(dyn) -> None:
    message = assert_error(await dyn.get(f"{API}/Contacts"), 404, "0x8006088a")
    assert message == "Resource not found for the segment 'Contacts'."


async def test_skip_is_refused_as_dataverse_does(dyn) -> None:
    assert_error(await dyn.get(f"{API}/contacts", params={"$skip": "10"}), 400, "0x0")


# -- $filter --------------------------------------------------------------------------------------


async def test_filter_eq_on_text_ignores_case(dyn, world) -> None:
    email = world.customers[5].email.upper()
    found = await rows(dyn, "contacts", **{"$filter": f"emailaddress1 eq '{email}'"})
    assert [r["emailaddress1"] for r in found] == [world.customers[5].email]


async def test_filter_ne_excludes_the_value(dyn) -> None:
    found = await rows(dyn, "incidents", **{"$filter": "prioritycode ne 2", "$top": "200"})
    assert found
    assert all(r["prioritycode"] != 2 for r in found)


async def test_filter_gt_ge_lt_le_on_datetimes(dyn) -> None:
    filter_ = "createdon ge 2024-01-01T00:00:00Z and createdon lt 2024-02-01T00:00:00Z"
    found = await rows(dyn, "contacts", **{"$filter": filter_})
    assert found
    assert all("2024-01-01T00:00:00Z" <= r["createdon"] < "2024-02-01T00:00:00Z" for r in found)
    later = await rows(dyn, "contacts", **{"$filter": "createdon gt 2026-10-01T00:00:00Z"})
    earlier = await rows(dyn, "contacts", **{"$filter": "createdon le 2026-10-01T00:00:00Z"})
    assert len(later) + len(earlier) == 1000


async def test_filter_and_or_with_parentheses(dyn) -> None:
    filter_ = "(crmgraph_brand eq 'luckyspin' or crmgraph_brand eq 'northstar') and statecode eq 0"
    found = await rows(dyn, "leads", **{"$filter": filter_})
    assert {r["crmgraph_brand"] for r in found} == {"luckyspin", "northstar"}
    assert all(r["statecode"] == 0 for r in found)


async def test_filter_not_negates(dyn) -> None:
    found = await rows(dyn, "leads", **{"$filter": "not (statecode eq 0)"})
    assert found
    assert all(r["statecode"] != 0 for r in found)


async def test_filter_contains_startswith_endswith(dyn, world) -> None:
    person = world.customers[11]
    domain = person.email.split("@")[1]
    filter_ = (
        f"startswith(lastname,'{person.last_name[:3]}') and endswith(emailaddress1,'{domain}') "
        f"and contains(firstname,'{person.first_name[1:3]}')"
    )
    found = await rows(dyn, "contacts", **{"$filter": filter_})
    assert person.email in {r["emailaddress1"] for r in found}


async def test_filter_eq_null_and_ne_null(dyn) -> None:
    nulls = await rows(dyn, "contacts", **{"$filter": "telephone1 eq null"})
    values = await rows(dyn, "contacts", **{"$filter": "telephone1 ne null"})
    assert nulls
    assert all(r["telephone1"] is None for r in nulls)
    assert len(nulls) + len(values) == 1000


async def test_filter_on_a_guid_literal(dyn, world) -> None:
    contact = await contact_of(dyn, world.customers[2].email)
    found = await rows(dyn, "contacts", **{"$filter": f"contactid eq {contact['contactid']}"})
    assert [r["contactid"] for r in found] == [contact["contactid"]]


async def test_ored_equalities_of_one_column_match_as_each_equality_would(dyn, world) -> None:
    """50 requesters' cases, ``or``ed (one look-up a row in the simulator), against the same
    filters asked one at a time; text ORed the same way ignores case."""
    contacts = [(await contact_of(dyn, p.email))["contactid"] for p in world.customers[:50]]
    ored = " or ".join(f"_customerid_value eq {c}" for c in contacts)
    found = await rows(dyn, "incidents", **{"$filter": f"({ored}) and statecode eq 0"})
    each = [
        r["incidentid"]
        for c in contacts
        for r in await rows(dyn, "incidents", **{"$filter": f"_customerid_value eq {c}"})
        if r["statecode"] == 0
    ]
    assert found
    assert sorted(r["incidentid"] for r in found) == sorted(each)
    emails = [world.customers[3].email.upper(), world.customers[4].email]
    text = " or ".join(f"emailaddress1 eq '{e}'" for e in emails)
    assert len(await rows(dyn, "contacts", **{"$filter": text})) == 2
    mixed = f"emailaddress1 eq '{emails[1]}' or contactid eq {contacts[0]}"
    assert len(await rows(dyn, "contacts", **{"$filter": mixed})) == 2


async def test_filter_comparing_text_with_a_number_is_incompatible(dyn) -> None:
    response = await dyn.get(f"{API}/contacts", params={"$filter": "lastname eq 5"})
    message = assert_error(response, 400, "0x0")
    assert "'Edm.String' and 'Edm.Int32'" in message


async def test_filter_on_an_unknown_column_is_400(dyn) -> None:
    response = await dyn.get(f"{API}/contacts", params={"$filter": "email eq 'x'"})
    assert "Could not find a property named 'email'" in assert_error(response, 400, "0x0")


async def test_filter_syntax_error_is_400(dyn) -> None:
    response = await dyn.get(f"{API}/contacts", params={"$filter": "lastname EQ 'x'"})
    assert assert_error(response, 400, "0x0").startswith("Syntax error at position")


async def test_in_function_matches_any_of_the_values(dyn, world) -> None:
    emails = [world.customers[1].email, world.customers[2].email, "nobody@example.com"]
    values = ",".join(f"'{e}'" for e in emails)
    filter_ = f"Microsoft.Dynamics.CRM.In(PropertyName='emailaddress1',PropertyValues=[{values}])"
    found = await rows(dyn, "contacts", **{"$filter": filter_})
    assert {r["emailaddress1"] for r in found} == set(emails[:2])


async def test_in_function_on_an_option_set(dyn) -> None:
    filter_ = "Microsoft.Dynamics.CRM.In(PropertyName='statuscode',PropertyValues=['2','3'])"
    found = await rows(dyn, "incidents", **{"$filter": filter_})
    assert found
    assert {r["statuscode"] for r in found} == {2, 3}


async def test_filter_may_compare_two_columns_of_the_row(dyn) -> None:
    found = await rows(dyn, "contacts", **{"$filter": "firstname eq lastname"})
    assert all(r["firstname"].casefold() == r["lastname"].casefold() for r in found)


async def test_a_repeated_query_option_is_400(dyn) -> None:
    response = await dyn.get(f"{API}/contacts?$top=1&$top=2")
    assert "specified more than once" in assert_error(response, 400, "0x0")


# -- $orderby, $top, $count, paging ---------------------------------------------------------------


async def test_orderby_several_keys(dyn) -> None:
    params = {"$select": "lastname,firstname", "$orderby": "lastname desc,firstname asc"}
    found = await rows(dyn, "contacts", **params)
    keys = [(r["lastname"].casefold(), r["firstname"].casefold()) for r in found]
    by_last = sorted(keys, key=lambda k: k[0], reverse=True)
    assert [k[0] for k in keys] == [k[0] for k in by_last]
    for a, b in itertools.pairwise(keys):
        if a[0] == b[0]:
            assert a[1] <= b[1]


async def test_top_limits_the_rows_and_gives_no_next_link(dyn) -> None:
    response = await dyn.get(
        f"{API}/leads", params={"$top": "7"}, headers={"Prefer": "odata.maxpagesize=3"}
    )
    body = response.json()
    assert len(body["value"]) == 7
    assert "@odata.nextLink" not in body


async def test_count_true_gives_the_number_of_matching_rows(dyn) -> None:
    params = {"$count": "true", "$filter": "crmgraph_brand eq 'goldcoast'", "$top": "2"}
    body = (await dyn.get(f"{API}/contacts", params=params)).json()
    everything = await rows(dyn, "contacts", **{"$filter": "crmgraph_brand eq 'goldcoast'"})
    assert list(body)[:2] == ["@odata.context", "@odata.count"]
    assert body["@odata.count"] == len(everything)


async def test_maxpagesize_is_applied_and_said_so(dyn) -> None:
    response = await dyn.get(f"{API}/leads", headers={"Prefer": "odata.maxpagesize=25"})
    assert len(response.json()["value"]) == 25
    assert response.headers["preference-applied"] == "odata.maxpagesize=25"


async def test_a_maxpagesize_above_5000_is_ignored(dyn) -> None:
    response = await dyn.get(f"{API}/contacts", headers={"Prefer": "odata.maxpagesize=9000"})
    assert len(response.json()["value"]) == 1000
    assert "preference-applied" not in response.headers


async def test_orderby_an_unknown_column_is_400(dyn) -> None:
    response = await dyn.get(f"{API}/contacts", params={"$orderby": "surname"})
    assert "Could not find a property named 'surname'" in assert_error(response, 400, "0x0")


async def test_the_service_document_lists_the_entity_sets(dyn) -> None:
    body = (await dyn.get(f"{API}/")).json()
    assert body["@odata.context"] == f"{org(dyn)}{API}/$metadata"
    assert {s["name"] for s in body["value"]} == {"contacts", "leads", "incidents"}


async def test_the_next_link_carries_a_paging_cookie_skiptoken(dyn) -> None:
    response = await dyn.get(
        f"{API}/contacts", params={"$select": "fullname"}, headers={"Prefer": "odata.maxpagesize=2"}
    )
    body = response.json()
    link = body["@odata.nextLink"]
    assert link.startswith(f"{org(dyn)}{API}/contacts?$select=fullname&$skiptoken=")
    cookie = unquote(link.split("$skiptoken=", 1)[1])
    assert cookie.startswith('<cookie pagenumber="2" pagingcookie="%3ccookie%20page%3d%221%22')
    last = body["value"][-1]["contactid"].upper()
    assert f"last%3d%22%7b{last}%7d%22" in cookie.replace("%7B", "%7b")


async def test_following_next_links_visits_every_row_once_in_order(dyn) -> None:
    params = {
        "$select": "lastname",
        "$filter": "crmgraph_brand eq 'luckyspin'",
        "$orderby": "lastname",
    }
    everything = await rows(dyn, "leads", **params)
    seen: list[str] = []
    url: str | None = f"{API}/leads"
    first = True
    while url is not None:
        prefer = {"Prefer": "odata.maxpagesize=100"}
        response = await dyn.get(url, params=params if first else None, headers=prefer)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["value"]) <= 100
        seen += [r["leadid"] for r in body["value"]]
        url, first = body.get("@odata.nextLink"), False
    assert seen == [r["leadid"] for r in everything]
    assert len(seen) > 300


# -- annotations ----------------------------------------------------------------------------------


async def test_formatted_values_for_option_sets_lookups_and_datetimes(dyn, world) -> None:
    ticket = world.tickets[0]
    contact = await contact_of(dyn, ticket.requester.email)
    params = {"$filter": f"_customerid_value eq {contact['contactid']}", "$top": "1"}
    response = await dyn.get(f"{API}/incidents", params=params, headers=WITH_FORMATTED)
    (row,) = response.json()["value"]
    assert row[f"_customerid_value@{FORMATTED}"] == ticket.requester.name
    assert row[f"statuscode@{FORMATTED}"] in {
        "In Progress",
        "On Hold",
        "Waiting for Details",
        "Researching",
        "Problem Solved",
        "Information Provided",
    }
    assert row[f"prioritycode@{FORMATTED}"] in {"High", "Normal", "Low"}
    created = datetime.strptime(row["createdon"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    hour = created.hour % 12 or 12
    assert row[f"createdon@{FORMATTED}"].startswith(
        f"{created.month}/{created.day}/{created.year} {hour}:"
    )
    keys = list(row)
    assert keys.index(f"statuscode@{FORMATTED}") == keys.index("statuscode") - 1
    assert response.headers["preference-applied"] == f'odata.include-annotations="{FORMATTED}"'


async def test_the_star_preference_adds_lookup_annotations_too(dyn) -> None:
    response = await dyn.get(f"{API}/incidents", params={"$top": "1"}, headers=ALL_ANNOTATIONS)
    (row,) = response.json()["value"]
    assert row["_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "contact"
    assert f"_customerid_value@{FORMATTED}" in row


async def test_no_annotations_without_the_preference(dyn) -> None:
    (row,) = await rows(dyn, "incidents", **{"$top": "1"})
    assert not [k for k in row if "@" in k and k != "@odata.etag"]


# -- writes ---------------------------------------------------------------------------------------


async def test_create_is_204_with_odata_entityid(dyn) -> None:
    body = {"firstname": "Ada", "lastname": "Lovelace", "emailaddress1": "ada@example.com"}
    response = await dyn.post(f"{API}/contacts", json=body)
    assert response.status_code == 204, response.text
    entity_id = response.headers["odata-entityid"]
    match = re.fullmatch(rf"{re.escape(org(dyn))}{API}/contacts\((.+)\)", entity_id)
    assert match
    assert GUID.match(match.group(1))
    created = (await dyn.get(f"{API}/contacts({match.group(1)})")).json()
    assert created["fullname"] == "Ada Lovelace"
    assert (created["statecode"], created["statuscode"]) == (0, 1)


async def test_create_with_return_representation_is_201_with_the_row(dyn) -> None:
    response = await dyn.post(
        f"{API}/leads",
        params={"$select": "lastname,statuscode"},
        json={"lastname": "Hopper", "companyname": "Navy"},
        headers={"Prefer": "return=representation"},
    )
    assert response.status_code == 201, response.text
    assert response.headers["preference-applied"] == "return=representation"
    body = response.json()
    assert body["@odata.context"].endswith("$metadata#leads(lastname,statuscode)/$entity")
    assert (body["lastname"], body["statuscode"]) == ("Hopper", 1)
    assert ETAG.match(body["@odata.etag"])


async def test_create_without_the_required_lastname_is_refused(dyn) -> None:
    response = await dyn.post(f"{API}/contacts", json={"firstname": "Nobody"})
    assert assert_error(response, 400, "0x80040203") == "Attribute 'lastname' cannot be NULL"


async def test_create_with_an_unknown_column_is_400(dyn) -> None:
    response = await dyn.post(f"{API}/contacts", json={"lastname": "X", "company": "Y"})
    message = assert_error(response, 400, "0x80048d19")
    assert "The property 'company' does not exist on type 'Microsoft.Dynamics.CRM.contact'" in (
        message
    )


async def test_create_with_a_value_outside_the_option_set_is_400(dyn) -> None:
    response = await dyn.post(f"{API}/leads", json={"lastname": "X", "leadsourcecode": 99})
    assert "outside the valid range" in assert_error(response, 400, "0x80044331")


async def test_create_with_a_too_long_value_is_400(dyn) -> None:
    response = await dyn.post(f"{API}/contacts", json={"lastname": "x" * 51})
    assert "maximum allowed length of '50'" in assert_error(response, 400, "0x80044331")


async def test_an_incident_binds_its_customer_contact(dyn, world) -> None:
    contact = await contact_of(dyn, world.customers[0].email)
    body = {
        "title": "Bonus not credited",
        "customerid_contact@odata.bind": f"/contacts({contact['contactid']})",
        "prioritycode": 1,
    }
    response = await dyn.post(
        f"{API}/incidents", json=body, headers={"Prefer": "return=representation"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["_customerid_value"] == contact["contactid"]


async def test_an_incident_without_a_customer_is_refused(dyn) -> None:
    response = await dyn.post(f"{API}/incidents", json={"title": "Orphan"})
    assert_error(response, 400, "0x80040203")


async def test_patch_with_the_current_etag_updates_and_moves_the_etag(dyn, world) -> None:
    contact = await contact_of(dyn, world.customers[4].email)
    url = f"{API}/contacts({contact['contactid']})"
    response = await dyn.patch(
        url, json={"telephone1": "+44 7000 000000"}, headers={"If-Match": contact["@odata.etag"]}
    )
    assert response.status_code == 204, response.text
    after = (await dyn.get(url)).json()
    assert after["telephone1"] == "+44 7000 000000"
    assert after["@odata.etag"] != contact["@odata.etag"]
    assert after["modifiedon"] > contact["modifiedon"]


async def test_patch_with_a_stale_etag_is_412(dyn, world) -> None:
    contact = await contact_of(dyn, world.customers[4].email)
    url = f"{API}/contacts({contact['contactid']})"
    (await dyn.patch(url, json={"firstname": "First"})).raise_for_status()
    response = await dyn.patch(
        url, json={"firstname": "Second"}, headers={"If-Match": contact["@odata.etag"]}
    )
    message = assert_error(response, 412, "0x80060882")
    assert message == (
        "The version of the existing record doesn't match the RowVersion property provided."
    )
    assert (await dyn.get(url)).json()["firstname"] == "First"


async def test_patch_with_if_match_star_updates_any_version(dyn, world) -> None:
    contact = await contact_of(dyn, world.customers[6].email)
    url = f"{API}/contacts({contact['contactid']})"
    response = await dyn.patch(url, json={"firstname": "Star"}, headers={"If-Match": "*"})
    assert response.status_code == 204


async def test_patch_with_if_match_on_a_missing_row_is_404(dyn) -> None:
    response = await dyn.patch(
        f"{API}/contacts({MISSING})", json={"lastname": "X"}, headers={"If-Match": "*"}
    )
    assert_error(response, 404, "0x80040217")


async def test_patch_without_if_match_on_a_new_key_creates_it(dyn) -> None:
    response = await dyn.patch(f"{API}/contacts({MISSING})", json={"lastname": "Upserted"})
    assert response.status_code == 204
    assert (await dyn.get(f"{API}/contacts({MISSING})")).json()["lastname"] == "Upserted"


async def test_patch_with_return_representation_is_200_with_the_row(dyn, world) -> None:
    contact = await contact_of(dyn, world.customers[8].email)
    response = await dyn.patch(
        f"{API}/contacts({contact['contactid']})",
        json={"crmgraph_brand": "goldcoast"},
        headers={"Prefer": "return=representation"},
    )
    assert response.status_code == 200
    assert response.json()["crmgraph_brand"] == "goldcoast"


async def test_writing_a_status_reason_moves_the_state(dyn, world) -> None:
    person = next(p for p in world.leads if p.lead_status == "Open - Not Contacted")
    (lead,) = await rows(dyn, "leads", **{"$filter": f"emailaddress1 eq '{person.email}'"})
    url = f"{API}/leads({lead['leadid']})"
    (await dyn.patch(url, json={"statuscode": 7})).raise_for_status()
    after = (await dyn.get(url, headers=WITH_FORMATTED)).json()
    assert (after["statecode"], after["statuscode"]) == (2, 7)
    assert after[f"statuscode@{FORMATTED}"] == "Canceled"
    assert after[f"statecode@{FORMATTED}"] == "Disqualified"


async def test_writing_an_unknown_column_in_a_patch_is_400(dyn, world) -> None:
    contact = await contact_of(dyn, world.customers[9].email)
    response = await dyn.patch(f"{API}/contacts({contact['contactid']})", json={"Email": "x"})
    assert_error(response, 400, "0x80048d19")


async def test_reset_with_data_restores_the_seeded_rows(dyn, control, world) -> None:
    contact = await contact_of(dyn, world.customers[10].email)
    url = f"{API}/contacts({contact['contactid']})"
    (await dyn.patch(url, json={"lastname": "Changed"})).raise_for_status()
    (await control.post(f"{PREFIX}/__reset", params={"data": "true"})).raise_for_status()
    assert (await dyn.get(url)).json()["lastname"] == world.customers[10].last_name


async def test_delete_removes_the_row(dyn, world) -> None:
    contact = await contact_of(dyn, world.customers[12].email)
    url = f"{API}/contacts({contact['contactid']})"
    assert (await dyn.delete(url)).status_code == 204
    assert_error(await dyn.get(url), 404, "0x80040217")


async def test_delete_with_a_stale_etag_is_412(dyn, world) -> None:
    contact = await contact_of(dyn, world.customers[13].email)
    url = f"{API}/contacts({contact['contactid']})"
    (await dyn.patch(url, json={"firstname": "Moved"})).raise_for_status()
    response = await dyn.delete(url, headers={"If-Match": contact["@odata.etag"]})
    assert_error(response, 412, "0x80060882")


async def test_patch_with_if_none_match_star_on_an_existing_row_is_412(dyn, world) -> None:
    contact = await contact_of(dyn, world.customers[14].email)
    response = await dyn.patch(
        f"{API}/contacts({contact['contactid']})",
        json={"lastname": "Create only"},
        headers={"If-None-Match": "*"},
    )
    assert_error(response, 412, "0x80040237")


async def test_get_with_the_current_etag_in_if_none_match_is_304(dyn, world) -> None:
    contact = await contact_of(dyn, world.customers[15].email)
    url = f"{API}/contacts({contact['contactid']})"
    response = await dyn.get(url, headers={"If-None-Match": contact["@odata.etag"]})
    assert response.status_code == 304
    assert response.content == b""


# -- $batch ---------------------------------------------------------------------------------------


def batch_body(boundary: str, parts: list[str]) -> str:
    chunks = [
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
        f"\r\n{part}\r\n"
        for part in parts
    ]
    return "".join(chunks) + f"--{boundary}--\r\n"


def batch_parts(response: httpx.Response) -> list[tuple[int, dict[str, str], str]]:
    """Each part's status, headers and body, read by hand from the multipart answer."""
    match = re.search(r"boundary=(\S+)", response.headers["content-type"])
    assert match, response.headers["content-type"]
    boundary = match.group(1)
    text = response.text
    assert text.rstrip().endswith(f"--{boundary}--")
    out = []
    for chunk in text.split(f"--{boundary}")[1:-1]:
        head, _, http = chunk.strip("\r\n").partition("\r\n\r\n")
        assert "Content-Type: application/http" in head
        assert "Content-Transfer-Encoding: binary" in head
        status_and_headers, _, body = http.partition("\r\n\r\n")
        lines = status_and_headers.split("\r\n")
        status = int(lines[0].split()[1])
        headers = dict(line.split(": ", 1) for line in lines[1:])
        out.append((status, headers, body.strip()))
    return out


async def test_a_batch_of_three_gets_answers_three_parts_in_order(dyn, world) -> None:
    contact = await contact_of(dyn, world.customers[0].email)
    base = f"{org(dyn)}{API}"
    parts = [
        f"GET {base}/contacts?$select=fullname&$top=2 HTTP/1.1\r\nAccept: application/json\r\n",
        f"GET {API}/leads?$top=1 HTTP/1.1\r\n",
        f"GET contacts({contact['contactid']})?$select=emailaddress1 HTTP/1.1\r\n",
    ]
    response = await dyn.post(
        f"{API}/$batch",
        content=batch_body("batch_AAA123", parts),
        headers={"Content-Type": "multipart/mixed; boundary=batch_AAA123"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("multipart/mixed; boundary=batchresponse_")
    answers = batch_parts(response)
    assert [a[0] for a in answers] == [200, 200, 200]
    assert all(a[1]["content-type"].startswith("application/json") for a in answers)
    first, second, third = (json.loads(a[2]) for a in answers)
    assert len(first["value"]) == 2
    assert "fullname" in first["value"][0]
    assert first["@odata.context"].endswith("#contacts(fullname)")
    assert len(second["value"]) == 1
    assert "leadid" in second["value"][0]
    assert third["emailaddress1"] == world.customers[0].email


async def test_a_failing_part_stops_the_batch_and_carries_its_error(dyn) -> None:
    parts = [
        f"GET {API}/contacts({MISSING}) HTTP/1.1\r\n",
        f"GET {API}/leads?$top=1 HTTP/1.1\r\n",
    ]
    response = await dyn.post(
        f"{API}/$batch",
        content=batch_body("b1", parts),
        headers={"Content-Type": "multipart/mixed; boundary=b1"},
    )
    answers = batch_parts(response)
    assert [a[0] for a in answers] == [404]
    assert '"code":"0x80040217"' in answers[0][2]


async def test_continue_on_error_runs_every_part(dyn) -> None:
    parts = [
        f"GET {API}/contacts({MISSING}) HTTP/1.1\r\n",
        f"GET {API}/leads?$top=1 HTTP/1.1\r\n",
    ]
    response = await dyn.post(
        f"{API}/$batch",
        content=batch_body("b2", parts),
        headers={
            "Content-Type": "multipart/mixed; boundary=b2",
            "Prefer": "odata.continue-on-error",
        },
    )
    assert [a[0] for a in batch_parts(response)] == [404, 200]


async def test_a_changeset_is_undone_when_one_of_its_writes_fails(dyn) -> None:
    inner = batch_body(
        "changeset_1",
        [
            f"POST {API}/contacts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
            '{"lastname":"Changeset"}',
            f"POST {API}/contacts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
            '{"firstname":"No last name"}',
        ],
    )
    body = (
        "--batch_cs\r\nContent-Type: multipart/mixed; boundary=changeset_1\r\n\r\n"
        f"{inner}--batch_cs--\r\n"
    )
    response = await dyn.post(
        f"{API}/$batch",
        content=body,
        headers={"Content-Type": "multipart/mixed; boundary=batch_cs"},
    )
    assert response.status_code == 200, response.text
    assert "changesetresponse_" in response.text
    assert "HTTP/1.1 400 Bad Request" in response.text
    assert await rows(dyn, "contacts", **{"$filter": "lastname eq 'Changeset'"}) == []


async def test_a_batch_without_a_multipart_boundary_is_400(dyn) -> None:
    response = await dyn.post(
        f"{API}/$batch", content="GET contacts HTTP/1.1", headers={"Content-Type": "text/plain"}
    )
    assert_error(response, 400, "0x0")


# -- limits and faults ----------------------------------------------------------------------------


async def test_every_answer_carries_the_ratelimit_headers(dyn) -> None:
    response = await dyn.get(f"{API}/contacts", params={"$top": "1"})
    assert int(response.headers["x-ms-ratelimit-burst-remaining-xrm-requests"]) > 0
    assert "x-ms-ratelimit-time-remaining-xrm-requests" in response.headers


async def test_over_the_rate_limit_is_429_with_retry_after(dyn, control) -> None:
    limit = {"rate_limit": {"requests": 2, "per_seconds": 300}}
    (await control.put(f"{PREFIX}/__config", json=limit)).raise_for_status()
    for _ in range(2):
        assert (await dyn.get(f"{API}/contacts", params={"$top": "1"})).status_code == 200
    response = await dyn.get(f"{API}/contacts", params={"$top": "1"})
    message = assert_error(response, 429, "0x80072322")
    assert message == "Number of requests exceeded the limit of 2 over time window of 300 seconds."
    assert 1 <= int(response.headers["retry-after"]) <= 300


async def test_an_injected_fault_answers_in_the_error_shape(dyn, control) -> None:
    (
        await control.put(f"{PREFIX}/__config", json={"error_rate": 1, "error_status": 503})
    ).raise_for_status()
    response = await dyn.get(f"{API}/contacts", params={"$top": "1"})
    assert_error(response, 503, "0x80040216")


async def test_stats_count_requests_by_route_template(dyn, control) -> None:
    await dyn.get(f"{API}/contacts", params={"$top": "1"})
    await dyn.get(f"{API}/contacts({MISSING})")
    stats = (await control.get(f"{PREFIX}/__stats")).json()
    assert stats["requests"]["GET /api/data/v9.2/contacts"] == 1
    assert stats["requests"]["GET /api/data/v9.2/contacts({id})"] == 1


# -- URL length -----------------------------------------------------------------------------------


def _long_filter(uri_bytes: int) -> str:
    """A ``$filter`` that makes ``GET {API}/contacts?$filter=…`` a URI of ``uri_bytes``."""
    head = f"{API}/contacts?" + str(httpx.QueryParams({"$filter": "fullname eq ''"}))
    return "fullname eq '" + "a" * (uri_bytes - len(head)) + "'"


@pytest.mark.parametrize(("uri_bytes", "status"), [(32_768, 200), (32_769, 414)])
async def test_a_url_over_32_kb_is_refused(dyn, uri_bytes: int, status: int) -> None:
    response = await dyn.get(f"{API}/contacts", params={"$filter": _long_filter(uri_bytes)})
    assert len(response.request.url.raw_path) - len(PREFIX) == uri_bytes
    assert response.status_code == status, response.text[:200]
    if status == 200:
        assert response.json()["value"] == []


async def test_inside_a_batch_a_url_may_take_64_kb(dyn) -> None:
    def url_of(size: int) -> str:
        url = f"{API}/contacts?" + str(httpx.QueryParams({"$filter": _long_filter(size)}))
        assert len(url) == size
        return f"GET {url} HTTP/1.1\r\n"

    response = await dyn.post(
        f"{API}/$batch",
        content=batch_body("b64", [url_of(40_000), url_of(65_536), url_of(65_537)]),
        headers={"Content-Type": "multipart/mixed; boundary=b64"},
    )
    assert response.status_code == 200, response.text[:300]
    assert [a[0] for a in batch_parts(response)] == [200, 200, 414]

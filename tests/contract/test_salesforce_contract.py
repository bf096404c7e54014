"""Salesforce traffic, answers and errors alike, validated against salesforce_schemas.py.

Every answer a test's client receives passes through :class:`SalesforceContract`, which finds
the schema the digest gives that exchange, validates the body with ``jsonschema``, and checks
the headers the digest requires (``Sforce-Limit-Info`` on every answer, JSON bodies, an empty
204). An exchange the digest does not name is itself a finding.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from jsonschema import Draft202012Validator

from app.simulators.credentials import (
    SALESFORCE_API_VERSION,
    SALESFORCE_CLIENT_ID,
    SALESFORCE_CLIENT_SECRET,
)
from app.simulators.world import World
from tests.contract.salesforce_schemas import (
    COLLECTION,
    COMPOSITE,
    CREATE_RESULT,
    ERRORS,
    NO_BODY,
    QUERY_PAGE,
    RECORD,
    SAVE_RESULTS,
    TOKEN,
    schema_for,
)

pytestmark = pytest.mark.contract

PREFIX = "/salesforce"
API = f"/services/data/{SALESFORCE_API_VERSION}"
LIMIT_INFO = re.compile(r"^api-usage=\d+/\d+$")
CREDENTIALS = {
    "grant_type": "client_credentials",
    "client_id": SALESFORCE_CLIENT_ID,
    "client_secret": SALESFORCE_CLIENT_SECRET,
}


class SalesforceContract:
    """An httpx response hook that validates each answer against the digest's schemas."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.seen: Counter[str] = Counter()

    async def check(self, response: httpx.Response) -> None:
        await response.aread()
        request = response.request
        path = request.url.path.removeprefix(PREFIX)
        where = f"{request.method} {path} → {response.status_code}"
        schema = schema_for(request.method, path, response.status_code)
        if schema is None:
            self.problems.append(f"{where}: an exchange the digest does not name")
            return
        self.seen[schema["title"]] += 1
        limit_info = response.headers.get("sforce-limit-info", "")
        if not LIMIT_INFO.match(limit_info):
            self.problems.append(f"{where}: Sforce-Limit-Info is {limit_info!r}")
        if schema is NO_BODY:
            if response.content:
                self.problems.append(f"{where}: a 204 with a body")
            return
        if not response.headers.get("content-type", "").startswith("application/json"):
            self.problems.append(f"{where}: content-type {response.headers.get('content-type')}")
            return
        body = response.json()
        self._validate(where, schema, body)
        if schema is COMPOSITE and not self.problems:
            self._check_subrequests(where, json.loads(request.content), body)

    def _validate(self, where: str, schema: dict[str, Any], body: Any) -> None:
        for error in Draft202012Validator(schema).iter_errors(body):
            self.problems.append(f"{where}: {error.json_path}: {error.message}")

    def _check_subrequests(self, where: str, sent: dict[str, Any], body: dict[str, Any]) -> None:
        # Each subrequest's answer must be what its own resource would have answered.
        for sub, answer in zip(sent["compositeRequest"], body["compositeResponse"], strict=True):
            path = urlsplit(sub["url"]).path
            status = answer["httpStatusCode"]
            inner = f"{where} / {sub['method']} {path} → {status}"
            schema = schema_for(sub["method"], path, status)
            if schema is None:
                self.problems.append(f"{inner}: an exchange the digest does not name")
            elif schema is NO_BODY:
                if answer["body"] is not None:
                    self.problems.append(f"{inner}: a 204 with a body")
            else:
                self.seen[schema["title"]] += 1
                self._validate(inner, schema, answer["body"])

    def assert_clean(self, **expected: int) -> None:
        """No finding, and at least ``expected[name]`` answers validated against each schema."""
        assert self.problems == []
        for name, least in expected.items():
            assert self.seen[name] >= least, (name, dict(self.seen))


@pytest.fixture
def contract() -> SalesforceContract:
    return SalesforceContract()


@pytest.fixture
async def anonymous(simulators, control, contract) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=simulators.url(PREFIX), timeout=10, event_hooks={"response": [contract.check]}
    ) as client:
        yield client
    (await control.post(f"{PREFIX}/__reset", params={"data": "true"})).raise_for_status()


@pytest.fixture
async def sf(anonymous) -> httpx.AsyncClient:
    token = (await anonymous.post("/services/oauth2/token", data=CREDENTIALS)).json()
    anonymous.headers["Authorization"] = f"Bearer {token['access_token']}"
    return anonymous


async def query(sf: httpx.AsyncClient, soql: str, **headers: str) -> dict[str, Any]:
    response = await sf.get(f"{API}/query", params={"q": soql}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def lead_ids(sf: httpx.AsyncClient, n: int) -> list[str]:
    page = await query(sf, f"SELECT Id FROM Lead ORDER BY Id LIMIT {n}")
    return [r["Id"] for r in page["records"]]


async def test_the_token_answer_meets_the_schema(anonymous, contract) -> None:
    response = await anonymous.post("/services/oauth2/token", data=CREDENTIALS)
    token = response.json()
    signed = hmac.new(
        SALESFORCE_CLIENT_SECRET.encode(),
        (token["id"] + token["issued_at"]).encode(),
        hashlib.sha256,
    ).digest()
    assert token["signature"] == base64.b64encode(signed).decode()
    contract.assert_clean(token=1)


async def test_oauth_refusals_meet_the_schema(anonymous, contract) -> None:
    await anonymous.post("/services/oauth2/token", data={**CREDENTIALS, "client_secret": "no"})
    await anonymous.post("/services/oauth2/token", data={**CREDENTIALS, "client_id": "no"})
    await anonymous.post("/services/oauth2/token", data={**CREDENTIALS, "grant_type": "password"})
    contract.assert_clean(oauth_error=3)


async def test_the_version_list_meets_the_schema(anonymous, contract) -> None:
    await anonymous.get("/services/data")
    contract.assert_clean(versions=1)


async def test_records_read_one_at_a_time_meet_the_schema(sf, contract) -> None:
    page = await query(
        sf,
        "SELECT Id, ConvertedContactId, ConvertedAccountId FROM Lead "
        "WHERE IsConverted = true AND ConvertedAccountId != null LIMIT 1",
    )
    lead = page["records"][0]
    await sf.get(f"{API}/sobjects/Lead/{lead['Id']}")
    await sf.get(f"{API}/sobjects/Lead/{lead['Id']}", params={"fields": "Email,ConvertedDate"})
    await sf.get(f"{API}/sobjects/Contact/{lead['ConvertedContactId']}")
    await sf.get(f"{API}/sobjects/Account/{lead['ConvertedAccountId']}")
    contract.assert_clean(record=4, query_page=1)


async def test_query_pages_meet_the_schema(sf, contract) -> None:
    first = await query(
        sf,
        "SELECT Id, Name, Email, SystemModstamp FROM Lead",
        **{"Sforce-Query-Options": "batchSize=800"},
    )
    await sf.get(first["nextRecordsUrl"])
    await query(sf, "SELECT Id, Account.Name FROM Contact ORDER BY Account.Name LIMIT 300")
    await query(
        sf,
        "SELECT ConvertedContact.Account.Name, IsConverted FROM Lead "
        "WHERE IsConverted = true LIMIT 50",
    )
    await query(sf, "SELECT COUNT() FROM Lead WHERE IsConverted = false")
    contract.assert_clean(query_page=5)


async def test_collection_reads_meet_the_schema(sf, contract) -> None:
    ids = await lead_ids(sf, 5)
    unknown = "00Q5g0000000000EAA"
    await sf.get(
        f"{API}/composite/sobjects/Lead",
        params={"ids": ",".join([*ids, unknown]), "fields": "Id,Email,CreatedDate"},
    )
    await sf.post(
        f"{API}/composite/sobjects/Lead", json={"ids": [unknown, *ids], "fields": ["Status"]}
    )
    contract.assert_clean(collection=2)


async def test_single_writes_meet_the_schema(sf, contract) -> None:
    created = await sf.post(f"{API}/sobjects/Lead", json={"LastName": "Okafor", "Company": "Acme"})
    await sf.patch(
        f"{API}/sobjects/Lead/{created.json()['id']}", json={"Status": "Working - Contacted"}
    )
    contract.assert_clean(create_result=1, no_body=1)


async def test_collection_saves_meet_the_schema(sf, contract) -> None:
    ids = await lead_ids(sf, 2)
    lead = {"attributes": {"type": "Lead"}, "LastName": "Mbeki", "Company": "Kora"}
    await sf.post(
        f"{API}/composite/sobjects",
        json={"allOrNone": False, "records": [lead, {**lead, "Email": "not-an-email"}]},
    )
    await sf.post(
        f"{API}/composite/sobjects",
        json={"allOrNone": True, "records": [lead, {**lead, "LastName": None}]},
    )
    update = [
        {"attributes": {"type": "Lead"}, "Id": ids[0], "Phone": "+44 20 7946 0000"},
        {"attributes": {"type": "Lead"}, "Id": "bad", "Phone": "1"},
        {"attributes": {"type": "Lead"}, "Phone": "1"},
    ]
    await sf.patch(f"{API}/composite/sobjects", json={"records": update})
    contract.assert_clean(save_results=3)


async def test_composite_answers_and_their_subanswers_meet_the_schema(sf, contract) -> None:
    ids = await lead_ids(sf, 1)
    subrequests = [
        {
            "method": "POST",
            "url": f"{API}/sobjects/Account",
            "referenceId": "acct",
            "body": {"Name": "Kora Ltd"},
        },
        {
            "method": "POST",
            "url": f"{API}/sobjects/Contact",
            "referenceId": "person",
            "body": {"LastName": "Okafor", "AccountId": "@{acct.id}"},
        },
        {"method": "GET", "url": f"{API}/sobjects/Contact/@{{person.id}}", "referenceId": "read"},
        {
            "method": "PATCH",
            "url": f"{API}/sobjects/Lead/{ids[0]}",
            "referenceId": "touch",
            "body": {"LeadSource": "Web"},
        },
        {
            "method": "GET",
            "url": f"{API}/query?q=SELECT+Id+FROM+Account+LIMIT+2",
            "referenceId": "q",
        },
    ]
    await sf.post(f"{API}/composite", json={"allOrNone": False, "compositeRequest": subrequests})
    subrequests[1]["body"]["Email"] = "not-an-email"
    await sf.post(f"{API}/composite", json={"allOrNone": True, "compositeRequest": subrequests})
    contract.assert_clean(composite=2, create_result=2, record=1, query_page=2, errors=5)


async def test_error_answers_meet_the_schema(sf, control, contract) -> None:
    ids = await lead_ids(sf, 1)
    await sf.get(f"{API}/query", params={"q": "SELECT FROM Lead"})
    await sf.get(f"{API}/query", params={"q": "SELECT Id FROM Opportunity"})
    await sf.get(f"{API}/query/01g5g0000000000AAA-2000")
    await sf.get(f"{API}/sobjects/Lead/00Q5g0000000000EAA")
    await sf.get("/services/data/v20.0/sobjects/Lead/00Q5g0000000000EAA")
    await sf.post(f"{API}/sobjects/Lead", content=b"{not json")
    await sf.post(f"{API}/sobjects/Lead", json={"Company": "Acme"})
    await sf.patch(f"{API}/sobjects/Lead/{ids[0]}", json={"Name": "Read Only"})
    await sf.post(f"{API}/composite/sobjects/Lead", json={"ids": ids * 2001, "fields": ["Id"]})
    await sf.get(f"{API}/sobjects/Lead/{ids[0]}", headers={"Authorization": "Bearer expired"})
    await control.put(f"{PREFIX}/__config", json={"error_rate": 1, "error_status": 503})
    await sf.get(f"{API}/sobjects/Lead/{ids[0]}")
    await control.put(f"{PREFIX}/__config", json={"rate_limit": {"requests": 1, "per_seconds": 60}})
    await sf.get(f"{API}/sobjects/Lead/{ids[0]}")
    await sf.get(f"{API}/sobjects/Lead/{ids[0]}")
    contract.assert_clean(errors=12, record=1)


async def test_the_schemas_refuse_what_salesforce_never_sends() -> None:
    record = {
        "attributes": {"type": "Lead", "url": f"{API}/sobjects/Lead/00Q5g0000000000EAA"},
        "Id": "00Q5g0000000000EAA",
        "CreatedDate": "2013-05-20T20:49:32.000+0000",
    }
    page = {"totalSize": 3, "done": True, "records": [record]}
    refused: list[tuple[dict[str, Any], Any]] = [
        (ERRORS, {"message": "x", "errorCode": "NOT_FOUND"}),  # an object, not an array
        (RECORD, {k: v for k, v in record.items() if k != "attributes"}),
        (RECORD, {**record, "CreatedDate": "2013-05-20T20:49:32Z"}),  # ISO, not Salesforce's
        (RECORD, {**record, "Id": "00Q5g0000000000"}),  # 15 characters
        (QUERY_PAGE, {**page, "done": False}),  # more to come but no nextRecordsUrl
        (QUERY_PAGE, {**page, "nextRecordsUrl": f"{API}/query/01g5g0000000000AAA-2000"}),
        (TOKEN, {"access_token": "x" * 30, "token_type": "Bearer", "expires_in": 7200}),
        (CREATE_RESULT, {"id": "00Q5g0000000000EAA", "success": True}),
        (SAVE_RESULTS, [{"success": False, "errors": []}]),
        (COLLECTION, [record, {"attributes": record["attributes"], "Id": 7}]),
    ]
    for schema, body in refused:
        assert not Draft202012Validator(schema).is_valid(body), body
    assert Draft202012Validator(RECORD).is_valid(record)
    assert Draft202012Validator(QUERY_PAGE).is_valid(page)


async def test_the_seeded_world_is_what_the_schemas_describe(sf, contract, world: World) -> None:
    # The whole Lead table in one page: every seeded value meets the record schema.
    page = await query(
        sf,
        "SELECT Id, FirstName, LastName, Name, Company, Email, Phone, Status, LeadSource, "
        "IsConverted, ConvertedAccountId, ConvertedContactId, ConvertedDate, CreatedDate, "
        "LastModifiedDate, SystemModstamp, Brand__c FROM Lead",
    )
    assert page["totalSize"] == len(world.leads)
    contract.assert_clean(query_page=1)

"""Dataverse Web API traffic, answers and errors alike, validated against the shapes that
tests/contract/specs/dynamics.md gives.

Microsoft publishes no OpenAPI file for the Web API, so the JSON Schemas below are written from
the digest (not from the simulator's code). Every answer a test's client receives passes
through :class:`DynamicsContract`, which picks the schema for the exchange, validates the body,
checks the headers the digest requires and, for ``$batch``, validates each part in turn. An
exchange the digest does not name is itself a finding.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from app.simulators.credentials import (
    DYNAMICS_API_VERSION,
    DYNAMICS_CLIENT_ID,
    DYNAMICS_CLIENT_SECRET,
    DYNAMICS_TENANT_ID,
)
from app.simulators.world import World

pytestmark = pytest.mark.contract

PREFIX = "/dynamics"
API = f"/api/data/{DYNAMICS_API_VERSION}"
TOKEN_URL = f"/{DYNAMICS_TENANT_ID}/oauth2/v2.0/token"
FORMATTED = "OData.Community.Display.V1.FormattedValue"
JSON_TYPE = "application/json; odata.metadata=minimal"
MISSING = "00000000-0000-0000-0000-0000000000ff"

# -- schemas (digest §§1-9) -----------------------------------------------------------------------

GUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
DATETIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
_GUID = {"type": "string", "pattern": GUID}
_LOOKUP = {"type": ["string", "null"], "pattern": GUID}
_TEXT = {"type": ["string", "null"]}
_DATETIME = {"type": "string", "pattern": DATETIME}


def _choice(*values: int) -> dict[str, Any]:
    return {"type": "integer", "enum": list(values)}


_COMMON = {
    "@odata.etag": {"type": "string", "pattern": r'^W/"\d+"$'},
    "createdon": _DATETIME,
    "modifiedon": _DATETIME,
    "versionnumber": {"type": "integer"},
    "crmgraph_brand": _TEXT,
}
COLUMNS: dict[str, dict[str, Any]] = {
    "contacts": {
        **_COMMON,
        "contactid": _GUID,
        "firstname": _TEXT,
        "lastname": _TEXT,
        "fullname": _TEXT,
        "emailaddress1": _TEXT,
        "telephone1": _TEXT,
        "_parentcustomerid_value": _LOOKUP,
        "crmgraph_company": _TEXT,
        "crmgraph_playerid": _TEXT,
        "statecode": _choice(0, 1),
        "statuscode": _choice(1, 2),
    },
    "leads": {
        **_COMMON,
        "leadid": _GUID,
        "firstname": _TEXT,
        "lastname": _TEXT,
        "fullname": _TEXT,
        "emailaddress1": _TEXT,
        "telephone1": _TEXT,
        "companyname": _TEXT,
        "leadsourcecode": {"oneOf": [{"type": "null"}, _choice(*range(1, 11))]},
        "statecode": _choice(0, 1, 2),
        "statuscode": _choice(*range(1, 8)),
    },
    "incidents": {
        **_COMMON,
        "incidentid": _GUID,
        "title": {"type": "string", "minLength": 1},
        "description": _TEXT,
        "ticketnumber": {"type": "string", "pattern": r"^CAS-\d{5}-[A-Z0-9]{6}$"},
        "prioritycode": {"oneOf": [{"type": "null"}, _choice(1, 2, 3)]},
        "_customerid_value": _GUID,
        "statecode": _choice(0, 1, 2),
        "statuscode": _choice(1, 2, 3, 4, 5, 1000, 6, 2000),
    },
}
KEYS = {"contacts": "contactid", "leads": "leadid", "incidents": "incidentid"}
LOOKUP_ANNOTATION = (
    r"^_[a-z0-9_]+_value@Microsoft\.Dynamics\.CRM\."
    r"(lookuplogicalname|associatednavigationproperty)$"
)
#: Annotations the digest allows on a row (§4): formatted values and lookup annotations.
ANNOTATIONS = {
    rf"^[a-z0-9_]+@{re.escape(FORMATTED)}$": {"type": "string"},
    LOOKUP_ANNOTATION: {"type": "string"},
}


def row_schema(entity_set: str, entity: bool) -> dict[str, Any]:
    properties = dict(COLUMNS[entity_set])
    required = ["@odata.etag", KEYS[entity_set]]
    if entity:
        context = rf"/api/data/v9\.2/\$metadata#{entity_set}(\([a-z0-9_,]+\))?/\$entity$"
        properties["@odata.context"] = {"type": "string", "pattern": context}
        required.append("@odata.context")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{entity_set}/entity" if entity else f"{entity_set}/row",
        "type": "object",
        "required": required,
        "properties": properties,
        "patternProperties": ANNOTATIONS,
        "additionalProperties": False,
    }


COOKIE = r"%3Ccookie%20pagenumber=%22\d+%22%20pagingcookie=%22%253ccookie%2520page%253d"


def collection_schema(entity_set: str) -> dict[str, Any]:
    context = rf"/api/data/v9\.2/\$metadata#{entity_set}(\([a-z0-9_,]+\))?$"
    return {
        "title": f"{entity_set}/collection",
        "type": "object",
        "required": ["@odata.context", "value"],
        "properties": {
            "@odata.context": {"type": "string", "pattern": context},
            "@odata.count": {"type": "integer", "minimum": 0, "maximum": 5000},
            "value": {"type": "array", "items": row_schema(entity_set, entity=False)},
            "@odata.nextLink": {
                "type": "string",
                "pattern": rf"/api/data/v9\.2/{entity_set}\?.*\$skiptoken={COOKIE}",
            },
        },
        "additionalProperties": False,
    }


TOKEN = {
    "title": "token",
    "type": "object",
    "required": ["token_type", "expires_in", "ext_expires_in", "access_token"],
    "properties": {
        "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer"},
        "ext_expires_in": {"type": "integer"},
        "access_token": {"type": "string", "pattern": r"^[\w-]+\.[\w-]+\.[\w-]+$"},
    },
    "additionalProperties": False,
}
AAD_ERROR = {
    "title": "aad_error",
    "type": "object",
    "required": ["error", "error_description", "error_codes", "timestamp", "trace_id"],
    "properties": {
        "error": {"type": "string", "pattern": r"^[a-z_]+$"},
        "error_description": {"type": "string", "pattern": r"^AADSTS\d+: "},
        "error_codes": {"type": "array", "items": {"type": "integer"}, "minItems": 1},
        "timestamp": {"type": "string"},
        "trace_id": {"type": "string", "pattern": GUID},
        "correlation_id": {"type": "string", "pattern": GUID},
        "error_uri": {"type": "string"},
    },
    "additionalProperties": False,
}
ERROR = {
    "title": "error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "pattern": r"^0x[0-9a-f]+$"},
                "message": {"type": "string", "minLength": 1},
            },
            "additionalProperties": False,
        }
    },
    "additionalProperties": False,
}
NO_BODY = {"title": "no_body"}
BATCH = {"title": "batch"}
SERVICE = {
    "title": "service",
    "type": "object",
    "required": ["@odata.context", "value"],
    "properties": {"@odata.context": {"type": "string"}, "value": {"type": "array"}},
}

# -- table definitions (digest §10) ---------------------------------------------------------------

_METADATA_TYPE = {"type": "string", "pattern": r"^#Microsoft\.Dynamics\.CRM\.[A-Za-z]+Metadata$"}
_ONE_LABEL = {
    "type": "object",
    "required": ["Label", "LanguageCode"],
    "properties": {"Label": {"type": "string"}, "LanguageCode": {"type": "integer"}},
}
LABEL = {
    "type": "object",
    "required": ["LocalizedLabels", "UserLocalizedLabel"],
    "properties": {
        "LocalizedLabels": {"type": "array", "items": _ONE_LABEL},
        "UserLocalizedLabel": {"anyOf": [_ONE_LABEL, {"type": "null"}]},
    },
}
ATTRIBUTES = {
    "title": "attributes",
    "type": "object",
    "required": ["@odata.context", "value"],
    "properties": {
        "@odata.context": {
            "type": "string",
            "pattern": r"/api/data/v9\.2/\$metadata#EntityDefinitions\('[a-z_]+'\)/Attributes"
            r"(\([A-Za-z,]+\))?$",
        },
        "value": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["@odata.type", "LogicalName", "MetadataId"],
                "properties": {
                    "@odata.type": _METADATA_TYPE,
                    "LogicalName": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*$"},
                    "AttributeType": {"type": "string"},
                    "MetadataId": _GUID,
                },
            },
        },
    },
    "additionalProperties": False,
}
OPTION = {
    "type": "object",
    "required": ["Value", "Label"],
    "properties": {
        "@odata.type": {
            "enum": [f"#Microsoft.Dynamics.CRM.{k}OptionMetadata" for k in ("Status", "State")]
        },
        "Value": {"type": "integer"},
        "State": {"type": "integer"},
        "Label": LABEL,
    },
}
OPTION_SET_ATTRIBUTE = {
    "title": "option set attribute",
    "type": "object",
    "required": ["@odata.context", "LogicalName", "MetadataId", "OptionSet"],
    "properties": {
        "@odata.context": {
            "type": "string",
            "pattern": r"/\$metadata#EntityDefinitions\('[a-z_]+'\)/Attributes\(LogicalName="
            r"'[a-z0-9_]+'\)/Microsoft\.Dynamics\.CRM\.(Status|Picklist)AttributeMetadata"
            r"(\([A-Za-z,]+\))?/\$entity$",
        },
        "@odata.type": _METADATA_TYPE,
        "LogicalName": {"type": "string"},
        "MetadataId": _GUID,
        "OptionSet": {
            "type": "object",
            "required": ["Options"],
            "properties": {
                "OptionSetType": {"enum": ["Picklist", "Status"]},
                "Options": {"type": "array", "items": OPTION, "minItems": 1},
            },
        },
    },
    "additionalProperties": False,
}
_DEFINITION = r"EntityDefinitions\(LogicalName='[a-z_]+'\)/Attributes"


def schema_for(method: str, path: str, status: int) -> dict[str, Any] | None:
    """The schema the digest gives this exchange, or ``None`` when it names none."""
    if re.fullmatch(r"/[^/]+/oauth2/v2\.0/token", path) and method == "POST":
        return TOKEN if status == 200 else AAD_ERROR
    if not path.startswith(f"{API}/"):
        return None
    if status == 401:
        return NO_BODY
    if status >= 400:
        return ERROR
    rest = path.removeprefix(f"{API}/")
    if rest == "$batch":
        return BATCH if (method, status) == ("POST", 200) else None
    if rest == "" and (method, status) == ("GET", 200):
        return SERVICE
    if (method, status) == ("GET", 200) and re.fullmatch(_DEFINITION, rest):
        return ATTRIBUTES
    cast = (
        r"\(LogicalName='[a-z0-9_]+'\)/Microsoft\.Dynamics\.CRM\.(Status|Picklist)AttributeMetadata"
    )
    if (method, status) == ("GET", 200) and re.fullmatch(_DEFINITION + cast, rest):
        return OPTION_SET_ATTRIBUTE
    one = re.fullmatch(r"(contacts|leads|incidents)\(([^)]*)\)", rest)
    if one:
        if status in (204, 304):
            return NO_BODY
        return row_schema(one.group(1), entity=True) if method in ("GET", "PATCH") else None
    if rest in COLUMNS:
        if method == "GET" and status == 200:
            return collection_schema(rest)
        if method == "POST":
            return NO_BODY if status == 204 else row_schema(rest, entity=True)
    return None


# -- the checker ----------------------------------------------------------------------------------


class DynamicsContract:
    """An httpx response hook that validates each answer against the digest's shapes."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.seen: Counter[str] = Counter()
        #: (method, path) of each request a test puts in a $batch, in order
        self.batch_requests: list[tuple[str, str]] = []

    async def check(self, response: httpx.Response) -> None:
        await response.aread()
        request = response.request
        path = request.url.path.removeprefix(PREFIX)
        where = f"{request.method} {path} → {response.status_code}"
        self._exchange(
            where, request.method, path, response.status_code, response.headers, response.content
        )
        if path.startswith(API) and response.status_code != 401:
            for name in (
                "x-ms-ratelimit-burst-remaining-xrm-requests",
                "x-ms-ratelimit-time-remaining-xrm-requests",
            ):
                if name not in response.headers:
                    self.problems.append(f"{where}: no {name} header")
        if response.status_code == 429 and not response.headers.get("retry-after", "").isdigit():
            self.problems.append(f"{where}: a 429 without Retry-After in seconds")

    def _exchange(
        self,
        where: str,
        method: str,
        path: str,
        status: int,
        headers: httpx.Headers | dict[str, str],
        content: bytes,
    ) -> None:
        schema = schema_for(method, path, status)
        if schema is None:
            self.problems.append(f"{where}: an exchange the digest does not name")
            return
        self.seen[schema["title"]] += 1
        lower = {k.lower(): v for k, v in headers.items()}
        if schema is NO_BODY:
            if content:
                self.problems.append(f"{where}: a body where the digest has none")
            if status == 204 and method == "POST" and "odata-entityid" not in lower:
                self.problems.append(f"{where}: a create without OData-EntityId")
            return
        if schema is BATCH:
            self._batch(where, lower.get("content-type", ""), content)
            return
        if path.startswith(API):
            if lower.get("odata-version") != "4.0":
                self.problems.append(f"{where}: OData-Version is {lower.get('odata-version')!r}")
            # Relaxed: throttling and injected faults come from the shared control middleware,
            # which writes plain application/json.
            kind = lower.get("content-type", "")
            if kind != JSON_TYPE and not (status >= 429 and kind.startswith("application/json")):
                self.problems.append(f"{where}: content-type {kind!r}")
        for error in Draft202012Validator(schema).iter_errors(json.loads(content)):
            self.problems.append(f"{where}: {error.json_path}: {error.message}")

    def _batch(self, where: str, content_type: str, content: bytes) -> None:
        match = re.fullmatch(
            r"multipart/mixed; boundary=(batchresponse_[0-9a-f-]{36})", content_type
        )
        if match is None:
            self.problems.append(f"{where}: content-type {content_type!r}")
            return
        text = content.decode()
        if not text.endswith(f"--{match.group(1)}--\r\n"):
            self.problems.append(f"{where}: the batch answer is not closed")
        for part in text.split(f"--{match.group(1)}")[1:-1]:
            head, _, http = part.strip("\r\n").partition("\r\n\r\n")
            if "changesetresponse_" in head:
                continue  # a change set's parts are checked by the tests that send one
            if head.split("\r\n") != [
                "Content-Type: application/http",
                "Content-Transfer-Encoding: binary",
            ]:
                self.problems.append(f"{where}: part headers {head!r}")
            status_block, _, body = http.partition("\r\n\r\n")
            lines = status_block.split("\r\n")
            status = int(lines[0].split()[1])
            part_headers = dict(line.split(": ", 1) for line in lines[1:])
            self.seen["batch part"] += 1
            method, path = self.batch_requests.pop(0) if self.batch_requests else ("GET", "")
            self._exchange(
                f"{where} / {method} {path} → {status}",
                method,
                path,
                status,
                part_headers,
                body.strip().encode(),
            )

    def assert_clean(self, **expected: int) -> None:
        assert self.problems == []
        for name, least in expected.items():
            assert self.seen[name] >= least, (name, dict(self.seen))


@pytest.fixture
def contract() -> DynamicsContract:
    return DynamicsContract()


@pytest.fixture
async def anonymous(simulators, control, contract) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=simulators.url(PREFIX), timeout=10, event_hooks={"response": [contract.check]}
    ) as client:
        yield client
    (await control.post(f"{PREFIX}/__reset", params={"data": "true"})).raise_for_status()


def credentials(client: httpx.AsyncClient) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": DYNAMICS_CLIENT_ID,
        "client_secret": DYNAMICS_CLIENT_SECRET,
        "scope": f"{str(client.base_url).rstrip('/')}/.default",
    }


@pytest.fixture
async def dyn(anonymous) -> httpx.AsyncClient:
    token = (await anonymous.post(TOKEN_URL, data=credentials(anonymous))).json()
    anonymous.headers["Authorization"] = f"Bearer {token['access_token']}"
    return anonymous


# -- tests ----------------------------------------------------------------------------------------


async def test_the_token_answer_meets_the_schema(anonymous, contract) -> None:
    await anonymous.post(TOKEN_URL, data=credentials(anonymous))
    contract.assert_clean(token=1)


async def test_identity_platform_refusals_meet_the_schema(anonymous, contract) -> None:
    form = credentials(anonymous)
    await anonymous.post(TOKEN_URL, data={**form, "client_secret": "no"})
    await anonymous.post(TOKEN_URL, data={**form, "client_id": MISSING})
    await anonymous.post(TOKEN_URL, data={**form, "scope": "https://example.org"})
    await anonymous.post(TOKEN_URL, data={**form, "grant_type": "password"})
    await anonymous.post(TOKEN_URL.replace(DYNAMICS_TENANT_ID, MISSING), data=form)
    contract.assert_clean(aad_error=5)


async def test_a_request_without_a_token_has_no_body(anonymous, contract) -> None:
    await anonymous.get(f"{API}/contacts")
    contract.assert_clean(no_body=1)


async def test_every_table_and_its_formatted_values_meet_the_schema(dyn, contract) -> None:
    for entity_set in COLUMNS:
        await dyn.get(f"{API}/{entity_set}", params={"$top": "50"})
        await dyn.get(
            f"{API}/{entity_set}",
            params={"$top": "50", "$count": "true"},
            headers={"Prefer": 'odata.include-annotations="*"'},
        )
    contract.assert_clean(**{f"{s}/collection": 2 for s in COLUMNS})


async def test_pages_and_their_next_links_meet_the_schema(dyn, contract) -> None:
    prefer = {"Prefer": f'odata.maxpagesize=400,odata.include-annotations="{FORMATTED}"'}
    response = await dyn.get(
        f"{API}/incidents", params={"$select": "title,statuscode"}, headers=prefer
    )
    for _ in range(3):
        response = await dyn.get(response.json()["@odata.nextLink"], headers=prefer)
    contract.assert_clean(**{"incidents/collection": 4})


async def test_single_rows_meet_the_schema(dyn, contract, world: World) -> None:
    email = world.customers[0].email
    page = await dyn.get(f"{API}/contacts", params={"$filter": f"emailaddress1 eq '{email}'"})
    key = page.json()["value"][0]["contactid"]
    await dyn.get(f"{API}/contacts({key})")
    await dyn.get(
        f"{API}/contacts({key})",
        params={"$select": "fullname,statuscode"},
        headers={"Prefer": 'odata.include-annotations="*"'},
    )
    etag = (await dyn.get(f"{API}/contacts({key})")).json()["@odata.etag"]
    await dyn.get(f"{API}/contacts({key})", headers={"If-None-Match": etag})
    contract.assert_clean(**{"contacts/entity": 3, "no_body": 1})


async def test_writes_meet_the_schema(dyn, contract) -> None:
    created = await dyn.post(f"{API}/contacts", json={"lastname": "Contract"})
    url = created.headers["odata-entityid"].split(PREFIX, 1)[1]
    await dyn.post(
        f"{API}/leads", json={"lastname": "Contract"}, headers={"Prefer": "return=representation"}
    )
    await dyn.patch(url, json={"firstname": "Kept"})
    await dyn.patch(url, json={"firstname": "Shown"}, headers={"Prefer": "return=representation"})
    contract.assert_clean(**{"no_body": 2, "leads/entity": 1, "contacts/entity": 1})


async def test_refusals_meet_the_error_schema(dyn, contract) -> None:
    await dyn.get(f"{API}/Contacts")
    await dyn.get(f"{API}/contacts({MISSING})")
    await dyn.get(f"{API}/contacts", params={"$select": "nope"})
    await dyn.get(f"{API}/contacts", params={"$filter": "lastname eq"})
    await dyn.get(f"{API}/contacts", params={"$skip": "5"})
    await dyn.post(f"{API}/contacts", json={"nope": 1})
    await dyn.post(f"{API}/contacts", json={"firstname": "no last name"})
    await dyn.post(f"{API}/leads", json={"lastname": "x", "leadsourcecode": 42})
    await dyn.patch(f"{API}/contacts({MISSING})", json={"lastname": "x"}, headers={"If-Match": "*"})
    contract.assert_clean(error=9)


async def test_a_stale_etag_is_a_412_in_the_error_schema(dyn, contract) -> None:
    response = await dyn.get(f"{API}/leads", params={"$top": "1"})
    row = response.json()["value"][0]
    url = f"{API}/leads({row['leadid']})"
    await dyn.patch(url, json={"firstname": "Moved"})
    stale = await dyn.patch(
        url, json={"firstname": "Stale"}, headers={"If-Match": row["@odata.etag"]}
    )
    assert stale.status_code == 412
    contract.assert_clean(error=1)


async def test_batch_parts_meet_the_schema(dyn, contract) -> None:
    parts = [("GET", f"{API}/contacts"), ("GET", f"{API}/leads"), ("GET", f"{API}/incidents")]
    contract.batch_requests = list(parts)
    body = (
        "".join(
            "--batch_c\r\nContent-Type: application/http\r\n"
            "Content-Transfer-Encoding: binary\r\n\r\n"
            f"{method} {path}?$top=3 HTTP/1.1\r\nAccept: application/json\r\n\r\n"
            for method, path in parts
        )
        + "--batch_c--\r\n"
    )
    await dyn.post(
        f"{API}/$batch", content=body, headers={"Content-Type": "multipart/mixed; boundary=batch_c"}
    )
    contract.assert_clean(
        **{
            "batch": 1,
            "batch part": 3,
            "contacts/collection": 1,
            "leads/collection": 1,
            "incidents/collection": 1,
        }
    )


async def test_the_service_protection_429_meets_the_schema(dyn, contract, control) -> None:
    limit = {"rate_limit": {"requests": 1, "per_seconds": 60}}
    (await control.put(f"{PREFIX}/__config", json=limit)).raise_for_status()
    await dyn.get(f"{API}/contacts", params={"$top": "1"})
    response = await dyn.get(f"{API}/contacts", params={"$top": "1"})
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "0x80072322"
    contract.assert_clean(error=1)


async def test_injected_faults_meet_the_error_schema(dyn, contract, control) -> None:
    for status in (500, 503):
        config = {"error_rate": 1, "error_status": status}
        (await control.put(f"{PREFIX}/__config", json=config)).raise_for_status()
        await dyn.get(f"{API}/contacts", params={"$top": "1"})
    contract.assert_clean(error=2)


async def test_table_definitions_meet_the_schema(dyn, contract) -> None:
    for table in ("contact", "lead", "incident"):
        response = await dyn.get(
            f"{API}/EntityDefinitions(LogicalName='{table}')/Attributes",
            params={"$select": "LogicalName,AttributeType"},
        )
        assert response.status_code == 200
    contract.assert_clean(attributes=3)


async def test_option_sets_meet_the_schema(dyn, contract) -> None:
    sets = [
        ("lead", "statuscode", "Status"),
        ("lead", "leadsourcecode", "Picklist"),
        ("incident", "statuscode", "Status"),
        ("incident", "prioritycode", "Picklist"),
    ]
    for table, column, kind in sets:
        response = await dyn.get(
            f"{API}/EntityDefinitions(LogicalName='{table}')/Attributes(LogicalName='{column}')"
            f"/Microsoft.Dynamics.CRM.{kind}AttributeMetadata",
            params={"$select": "LogicalName", "$expand": "OptionSet"},
        )
        assert response.status_code == 200
    contract.assert_clean(**{"option set attribute": 4})


async def test_metadata_refusals_meet_the_error_schema(dyn, contract) -> None:
    base = f"{API}/EntityDefinitions(LogicalName='lead')/Attributes"
    asks = [
        (f"{API}/EntityDefinitions(LogicalName='nosuch')/Attributes", {}),
        (f"{base}(LogicalName='nosuch')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata", {}),
        (f"{base}(LogicalName='statuscode')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata", {}),
        (base, {"$select": "Nonsense"}),
    ]
    for path, params in asks:
        assert (await dyn.get(path, params=params)).status_code in (400, 404)
    contract.assert_clean(error=4)


async def test_metadata_in_a_batch_meets_the_schema(dyn, contract) -> None:
    parts = [
        ("GET", f"{API}/EntityDefinitions(LogicalName='contact')/Attributes"),
        (
            "GET",
            f"{API}/EntityDefinitions(LogicalName='incident')/Attributes(LogicalName="
            "'prioritycode')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
        ),
    ]
    contract.batch_requests = list(parts)
    queries = ["$select=LogicalName,AttributeType", "$select=LogicalName&$expand=OptionSet"]
    body = (
        "".join(
            "--batch_m\r\nContent-Type: application/http\r\n"
            "Content-Transfer-Encoding: binary\r\n\r\n"
            f"{method} {path}?{query} HTTP/1.1\r\nAccept: application/json\r\n\r\n"
            for (method, path), query in zip(parts, queries, strict=True)
        )
        + "--batch_m--\r\n"
    )
    await dyn.post(
        f"{API}/$batch", content=body, headers={"Content-Type": "multipart/mixed; boundary=batch_m"}
    )
    contract.assert_clean(**{"batch part": 2, "attributes": 1, "option set attribute": 1})

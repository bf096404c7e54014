"""The GraphQL-over-HTTP spec, one test per check of graphql-http's server audit (its ids),
through the real gateway; then the npm audit itself when node is here to run it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

JSON = "application/json"
GQL = "application/graphql-response+json"
TYPENAME = {"query": "{ __typename }"}
TYPE_BY_NAME = "query Type($name: String!) { __type(name: $name) { name } }"
UNKNOWN_FIELD = {"query": "{ 8f31403dfe404bccbb0e835f2629c6a7 }"}
#: A variable the document declares non-null, sent null: refused while coercing variables.
COERCION = {"query": "query CoerceFailure($id: ID!){ __typename }", "variables": {"id": None}}

Check = Callable[[httpx.Response], None]


def status(expected: int) -> Check:
    def check(response: httpx.Response) -> None:
        assert response.status_code == expected, (response.status_code, response.text)

    return check


def status_between(*ranges: tuple[int, int]) -> Check:
    def check(response: httpx.Response) -> None:
        assert any(low <= response.status_code <= high for low, high in ranges), response.text

    return check


def content_type(expected: str) -> Check:
    def check(response: httpx.Response) -> None:
        assert expected in response.headers["content-type"]

    return check


def no_errors(response: httpx.Response) -> None:
    assert "errors" not in response.json(), response.text


def no_data(response: httpx.Response) -> None:
    assert "data" not in response.json(), response.text


def utf8(response: httpx.Response) -> None:
    response.content.decode("utf-8")


@dataclass
class Audit:
    id: str
    checks: list[Check]
    method: str = "POST"
    accept: str | None = None
    content_type: str | None = JSON
    body: Any = None  # a JSON value, or bytes as they are
    params: dict[str, str] = field(default_factory=dict)

    async def send(self, client: httpx.AsyncClient) -> httpx.Response:
        headers = {}
        if self.accept is not None:
            headers["accept"] = self.accept
        if self.method == "GET":
            return await client.get("/graphql", params=self.params, headers=headers)
        if self.content_type is not None:
            headers["content-type"] = self.content_type
        content = self.body if isinstance(self.body, bytes | None) else json.dumps(self.body)
        return await client.post("/graphql", content=content, headers=headers)


INVALID = {"object": {"obj": "ect"}, "number": 0, "boolean": False, "array": ["array"]}
INVALID_WITH_STRING = {"string": "string", "number": 0, "boolean": False, "array": ["array"]}

AUDITS = [
    # media types
    Audit("22EB", [status(200), content_type(GQL)], accept=GQL, body=TYPENAME),
    Audit("4655", [status(200), content_type(JSON)], accept=JSON, body=TYPENAME),
    Audit("47DE", [status(200), content_type(JSON)], accept="*/*", body=TYPENAME),
    Audit("80D8", [status(200), content_type(JSON)], body=TYPENAME),
    Audit("82A3", [status(200), utf8], body=TYPENAME),
    Audit(
        "BF61",
        [status(200)],
        content_type="application/json; charset=utf-8",
        body={"query": '{ __type(name: "Run🏃Swim🏊") { name } }'},
    ),
    Audit("78D5", [status(200)], body=TYPENAME),
    # requests
    Audit("2C94", [status(200)], body=TYPENAME),
    Audit("5A70", [status(200)], method="GET", params=TYPENAME),
    Audit(
        "9C48",
        [status_between((400, 499))],
        method="GET",
        accept=GQL,
        params={"query": "mutation { __typename }"},
    ),
    Audit("9ABE", [status_between((400, 499))], content_type=None, body=TYPENAME),
    Audit("03D4", [status(200)], body=TYPENAME),
    Audit("A5BF", [status(400)]),
    # parameters
    Audit("423L", [status(400)], accept=GQL, body={"notquery": "{ __typename }"}),
    *[
        Audit(f"LKJ{n}", [status(400)], body={"query": value})
        for n, value in enumerate(INVALID.values())
    ],
    Audit("34A2", [status(200)], accept=GQL, body=TYPENAME),
    Audit("13EE", [status(200), no_errors], accept=JSON, body=TYPENAME),
    *[
        Audit(f"6C0{n}", [status(400)], body={"operationName": value, **TYPENAME})
        for n, value in enumerate(INVALID.values())
    ],
    Audit(
        "8161",
        [status(200)],
        accept=GQL,
        body={"operationName": "Query", "query": "query Query { __typename }"},
    ),
    Audit(
        "B8B3",
        [status(200), no_errors],
        accept=JSON,
        body={"operationName": "Query", "query": "query Query { __typename }"},
    ),
    *[
        audit
        for n, name in enumerate(["variables", "operationName", "extensions"])
        for audit in (
            Audit(f"94B{n}", [status(200), no_errors], accept=GQL, body={**TYPENAME, name: None}),
            Audit(f"022{n}", [status(200), no_errors], accept=JSON, body={**TYPENAME, name: None}),
        )
    ],
    *[
        Audit(f"476{n}", [status(400)], body={**TYPENAME, "variables": value})
        for n, value in enumerate(INVALID_WITH_STRING.values())
    ],
    Audit(
        "2EA1",
        [status(200)],
        accept=GQL,
        body={"query": TYPE_BY_NAME, "variables": {"name": "sometype"}},
    ),
    Audit(
        "28B9",
        [status(200), no_errors],
        accept=JSON,
        body={"query": TYPE_BY_NAME, "variables": {"name": "sometype"}},
    ),
    *[
        Audit(
            id_,
            [status(200), no_errors],
            method="GET",
            accept=accept,
            params={"query": TYPE_BY_NAME, "variables": json.dumps({"name": "sometype"})},
        )
        for id_, accept in (("D6D5", GQL), ("6A70", JSON))
    ],
    *[
        Audit(f"58B{n}", [status(400)], body={**TYPENAME, "extensions": value})
        for n, value in enumerate(INVALID_WITH_STRING.values())
    ],
    Audit("428F", [status(200)], accept=GQL, body={**TYPENAME, "extensions": {"some": "value"}}),
    Audit(
        "1B7A",
        [status(200), no_errors],
        accept=JSON,
        body={**TYPENAME, "extensions": {"some": "value"}},
    ),
    Audit(
        "B6DC",
        [status_between((200, 299), (400, 499), (500, 599))],
        accept=JSON,
        body=b'{ "not a JSON',
    ),
    Audit("BCF8", [status(400)], accept=JSON, body=b'{ "not a JSON'),
    Audit("B7N8", [status(400)], accept=GQL, body=b'{ "not a JSON'),
    Audit("8764", [status_between((400, 599))], body={"qeury": "{ __typename }"}),
    Audit("3E3A", [status(400)], body={"qeury": "{ __typename }"}),
    # answers under application/json
    Audit("572B", [status(200)], accept=JSON, body={"query": "{"}),
    Audit("FDE2", [status(200)], accept=JSON, body=UNKNOWN_FIELD),
    Audit("7B9B", [status(200)], accept=JSON, body=COERCION),
    # answers under application/graphql-response+json
    Audit("865D", [status_between((400, 599))], accept=GQL, body={"query": "{"}),
    Audit("556A", [status(400)], accept=GQL, body={"query": "{"}),
    Audit("D586", [no_data], accept=GQL, body={"query": "{"}),
    Audit("51FE", [status_between((400, 599))], accept=GQL, body=UNKNOWN_FIELD),
    Audit("74FF", [status(400)], accept=GQL, body=UNKNOWN_FIELD),
    Audit("5E5B", [no_data], accept=GQL, body=UNKNOWN_FIELD),
    Audit("86EE", [status(400)], accept=GQL, body=COERCION),
]


def test_the_audit_list_is_graphql_http_s_61() -> None:
    assert len({audit.id for audit in AUDITS}) == len(AUDITS) == 61


@pytest.fixture
async def anonymous(gateway_url: str) -> Any:
    # graphql-http's audit sends no credentials: the demo's loopback rule lets it in.
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        yield client


@pytest.mark.parametrize("audit", AUDITS, ids=[audit.id for audit in AUDITS])
async def test_graphql_over_http(audit: Audit, anonymous: httpx.AsyncClient) -> None:
    response = await audit.send(anonymous)
    for check in audit.checks:
        check(response)
    # Beyond the audit: never plain text, and every error says what it is.
    assert response.headers["content-type"].split(";")[0] in (JSON, GQL), response.text
    for error in response.json().get("errors") or []:
        assert error["extensions"]["code"], error


async def post(client: httpx.AsyncClient, body: Any, accept: str = JSON) -> httpx.Response:
    return await client.post("/graphql", json=body, headers={"accept": accept})


@pytest.mark.parametrize(("accept", "expected"), [(JSON, 200), (GQL, 400)])
async def test_a_syntax_error_says_where_it_is(
    anonymous: httpx.AsyncClient, accept: str, expected: int
) -> None:
    response = await post(anonymous, {"query": "{"}, accept)
    assert response.status_code == expected
    (error,) = response.json()["errors"]
    assert error["message"] == "Syntax Error: Expected Name, found <EOF>."
    assert error["locations"] == [{"line": 1, "column": 2}]
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


@pytest.mark.parametrize(("accept", "expected"), [(JSON, 200), (GQL, 400)])
async def test_a_lexer_error_is_a_syntax_error_not_a_crash(
    anonymous: httpx.AsyncClient, accept: str, expected: int
) -> None:
    response = await post(anonymous, {"query": "{ \u0001 }"}, accept)
    assert response.status_code == expected
    (error,) = response.json()["errors"]
    assert error["message"] == "Syntax Error: Unexpected character: U+0001."
    assert error["locations"] == [{"line": 1, "column": 3}]
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


async def test_a_validation_error_has_its_code_and_location(anonymous: httpx.AsyncClient) -> None:
    response = await post(anonymous, {"query": "{ nope }"}, GQL)
    (error,) = response.json()["errors"]
    assert error["locations"] == [{"line": 1, "column": 3}]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


@pytest.mark.parametrize(("accept", "expected"), [(JSON, 200), (GQL, 400)])
async def test_a_variable_that_cannot_be_coerced_is_bad_user_input(
    anonymous: httpx.AsyncClient, accept: str, expected: int
) -> None:
    body = {"query": "query($id: ID!) { customer(id: $id) { id } }", "variables": {"id": None}}
    response = await post(anonymous, body, accept)
    assert response.status_code == expected
    (error,) = response.json()["errors"]
    assert error["locations"] == [{"line": 1, "column": 7}]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/graphql-response+json, application/json;q=0.9", GQL),
        ("application/json, application/graphql-response+json", JSON),
        ("application/json;q=0.5, application/graphql-response+json", GQL),
        ("application/graphql-response+json;q=0, */*", JSON),
        ("text/html", JSON),
    ],
)
async def test_the_answer_is_the_media_type_the_accept_header_prefers(
    anonymous: httpx.AsyncClient, accept: str, expected: str
) -> None:
    response = await post(anonymous, TYPENAME, accept)
    assert response.status_code == 200
    assert response.headers["content-type"] == expected


@pytest.mark.parametrize(
    "parameter", ["query", "operationName", "variables", "extensions"], ids=str
)
async def test_a_parameter_of_the_wrong_json_type_is_400_bad_user_input(
    anonymous: httpx.AsyncClient, parameter: str
) -> None:
    response = await post(anonymous, {**TYPENAME, parameter: 12}, GQL)
    assert response.status_code == 400
    assert response.headers["content-type"] == GQL
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert parameter in error["message"]


# -- graphql-http's own audit --------------------------------------------------------------------

AUDIT_SCRIPT = """
import { serverAudits } from 'graphql-http';
const results = [];
for (const audit of serverAudits({ url: process.argv[2], fetchFn: fetch })) {
  const result = await audit.fn();
  results.push({ id: audit.id, status: result.status, reason: result.reason });
}
console.log(JSON.stringify(results));
"""


NPM_INSTALL = ["npm", "install", "--silent", "--no-audit", "--no-fund"]


@pytest.fixture(scope="session")
def graphql_http_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """graphql-http 1.23.1 installed with npm in a cache dir (or skip, saying why)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not on PATH: graphql-http's own audit cannot run")
    cache = Path(os.environ.get("CRMGRAPH_NPM_CACHE", Path.home() / ".cache" / "crmgraph-npm"))
    where = cache / "graphql-http-1.23.1"
    if not (where / "node_modules" / "graphql-http" / "package.json").exists():
        installed = subprocess.run(
            [*NPM_INSTALL, "--prefix", str(where), "graphql-http@1.23.1"],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if installed.returncode != 0:
            pytest.skip(f"npm could not install graphql-http@1.23.1: {installed.stderr[-300:]}")
    (where / "audit.mjs").write_text(AUDIT_SCRIPT)
    return where


def test_graphql_http_s_server_audit_passes_61_of_61(
    graphql_http_package: Path, gateway_url: str
) -> None:
    run = subprocess.run(
        ["node", str(graphql_http_package / "audit.mjs"), f"{gateway_url}/graphql"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    results = json.loads(run.stdout)
    not_ok = [r for r in results if r["status"] != "ok"]
    assert not_ok == []
    assert len(results) == 61

"""In safelist mode nothing unlisted runs, whatever door it knocks on: a POST of any content
type, a GET's ``query`` or ``extensions``. Each refusal costs no upstream call."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.simulators.server import RunningSimulators
from tests.integration.gateway.conftest import Upstreams, serve_gateway

LISTED = "{ sources { name } }"
#: Unlisted, and it would call HubSpot if it ran.
UNLISTED = '{ customer(id: "hubspot:1001") { id email } }'


def digest(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


@pytest.fixture(scope="module")
def safelisted(
    simulators: RunningSimulators, keys_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    safelist = tmp_path_factory.mktemp("safelist") / "safelist.json"
    safelist.write_text(json.dumps({digest(LISTED): LISTED}))
    with serve_gateway(
        simulators.base_url,
        keys_file,
        persisted_queries={"mode": "safelist", "safelist_file": str(safelist)},
    ) as url:
        yield url


@pytest.fixture
async def admin(safelisted: str, keys: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"X-API-Key": keys["admin"]}
    async with httpx.AsyncClient(base_url=safelisted, headers=headers, timeout=30) as client:
        yield client


@pytest.mark.parametrize(
    "content_type",
    [
        "x-application/json",
        "text/application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/graphql",
        "multipart/form-data; boundary=x",  # uploads are off
        None,
    ],
)
async def test_a_body_that_is_not_json_is_415_and_runs_nothing(
    admin: httpx.AsyncClient, upstreams: Upstreams, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    body = json.dumps({"query": UNLISTED})
    response = await admin.post("/graphql", content=body, headers=headers)
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/json"
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert await upstreams.total() == 0


@pytest.mark.parametrize("coding", ["gzip", "br", "GZIP, deflate"])
async def test_an_encoded_body_is_415_said_as_such_and_runs_nothing(
    admin: httpx.AsyncClient, upstreams: Upstreams, coding: str
) -> None:
    body = gzip.compress(json.dumps({"query": UNLISTED}).encode())
    headers = {"content-type": "application/json", "content-encoding": coding}
    response = await admin.post("/graphql", content=body, headers=headers)
    assert response.status_code == 415
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    # Before: 400 "the body is not valid JSON ('utf-8' codec can't decode byte 0x8b …)".
    expected = (
        f"the body must not be encoded (Content-Encoding: {coding.lower()}); send it as it is"
    )
    assert error["message"] == expected
    assert await upstreams.total() == 0


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
async def test_json_with_any_parameters_or_case_is_checked_against_the_safelist(
    admin: httpx.AsyncClient, upstreams: Upstreams, content_type: str
) -> None:
    headers = {"content-type": content_type}
    listed = await admin.post("/graphql", content=json.dumps({"query": LISTED}), headers=headers)
    unlisted = await admin.post(
        "/graphql", content=json.dumps({"query": UNLISTED}), headers=headers
    )
    assert listed.json()["data"]["sources"]
    assert unlisted.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert await upstreams.total() == 0


@pytest.mark.parametrize(
    "params",
    [
        {"query": UNLISTED},
        {"extensions": json.dumps({"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}})},
        {
            "query": UNLISTED,
            "extensions": json.dumps({"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}),
        },
    ],
    ids=["query", "extensions", "both"],
)
async def test_a_get_runs_only_listed_operations(
    admin: httpx.AsyncClient, upstreams: Upstreams, params: dict[str, str]
) -> None:
    response = await admin.get("/graphql", params=params)
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert await upstreams.total() == 0


async def test_a_get_of_a_listed_operation_runs_by_hash(admin: httpx.AsyncClient) -> None:
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest(LISTED)}}
    response = await admin.get("/graphql", params={"extensions": json.dumps(extensions)})
    assert response.json()["data"]["sources"]


@pytest.mark.parametrize(
    "extensions", ["persisted", 12, ["persistedQuery"]], ids=["string", "number", "array"]
)
async def test_extensions_that_are_not_an_object_are_400_on_every_path(
    admin: httpx.AsyncClient, upstreams: Upstreams, extensions: Any
) -> None:
    posted = await admin.post("/graphql", json={"query": UNLISTED, "extensions": extensions})
    got = await admin.get(
        "/graphql", params={"query": UNLISTED, "extensions": json.dumps(extensions)}
    )
    for response in (posted, got):
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert await upstreams.total() == 0


async def test_a_token_flood_is_refused_on_a_get_too(
    gateway_url: str, keys: dict[str, str], upstreams: Upstreams
) -> None:
    flood = '{ customer(id: "hubspot:1001") { ' + "id " * 5000 + "} }"
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        response = await client.get(
            "/graphql", params={"query": flood}, headers={"X-API-Key": keys["admin"]}
        )
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["limit"] == "tokens"
    assert await upstreams.total() == 0

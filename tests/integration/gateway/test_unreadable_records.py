"""A record a CRM sends in a shape it does not document is reported, never a crash.

The CRMs here are an httpx.MockTransport at the very edge, because the simulators never send
malformed data; the gateway itself is the real app on a real port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from app.demo import demo_settings
from app.main import create_app
from app.simulators.server import serve_asgi
from tests.integration.gateway.conftest import GraphQL, errors_at

CONTACT = {
    "id": "42",
    "properties": {
        "firstname": "Ada",
        "lastname": "Lovelace",
        "email": "ada@example.com",
        "createdate": "last tuesday",
        "brand": "luckyspin",
    },
    "createdAt": "2024-01-01T00:00:00Z",
    "updatedAt": "2024-01-01T00:00:00Z",
    "archived": False,
}
TICKETS = [
    {
        "id": 1,
        "subject": "fine",
        "status": "open",
        "requester_id": 7,
        "created_at": "2026-01-02T00:00:00Z",
    },
    {
        "id": 2,
        "subject": "odd",
        "status": "escalated",
        "requester_id": 7,
        "created_at": "2026-01-01T00:00:00Z",
    },
]


def crm(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path.endswith("/contacts/batch/read") or path.endswith("/contacts/search"):
        return httpx.Response(200, json={"status": "COMPLETE", "results": [CONTACT], "total": 1})
    if path.endswith("/users/show_many"):
        return httpx.Response(
            200, json={"users": [{"id": 7, "external_id": "42", "email": "ada@example.com"}]}
        )
    if path.endswith("/search/export"):
        return httpx.Response(200, json={"results": TICKETS, "meta": {"has_more": False}})
    if path.endswith("/oauth2/token"):
        return httpx.Response(200, json={"access_token": "x"})
    if "/query" in path:
        return httpx.Response(200, json={"totalSize": 0, "done": True, "records": []})
    return httpx.Response(404, json={"error": "unexpected " + path})


@pytest.fixture(scope="module")
def mocked_gateway() -> Iterator[str]:
    settings = demo_settings("http://127.0.0.1:9")
    with serve_asgi(create_app(settings, transport=httpx.MockTransport(crm))) as url:
        yield url


@pytest.fixture
async def mocked(mocked_gateway: str) -> AsyncIterator[GraphQL]:
    async with httpx.AsyncClient(base_url=mocked_gateway, timeout=30) as client:
        yield GraphQL(client)


async def test_an_unreadable_value_is_an_error_at_that_field_only(mocked: GraphQL) -> None:
    body = await mocked('{ customer(id: "hubspot:42") { name createdAt } }')
    assert body["data"] == {"customer": {"name": "Ada Lovelace", "createdAt": None}}
    [error] = errors_at(body, "customer", "createdAt")
    assert error["extensions"] == {"code": "UPSTREAM_INVALID_DATA", "source": "hubspot"}
    assert "last tuesday" in error["message"]


async def test_a_list_leaves_out_a_record_with_an_unreadable_status_and_says_so(
    mocked: GraphQL,
) -> None:
    body = await mocked('{ customer(id: "hubspot:42") { tickets { id status } } }')
    assert body["data"] == {"customer": {"tickets": [{"id": "zendesk:1", "status": "OPEN"}]}}
    [error] = errors_at(body, "customer", "tickets")
    assert error["extensions"]["code"] == "UPSTREAM_INVALID_DATA"
    assert "zendesk:2" in error["message"]
    assert "escalated" in error["message"]

"""graphql-core's "Did you mean …?" hints name the schema's fields, arguments and enum values:
a role that may not introspect (the default ``service``) gets the error without them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

MISTAKES = [
    pytest.param('{ customr(id: "hubspot:1") { id } }', {}, id="field"),
    pytest.param('{ customer(idd: "hubspot:1") { id } }', {}, id="argument"),
    pytest.param("{ tickets(filter: {status: [OPN]}) { totalCount } }", {}, id="enum-literal"),
    pytest.param("query($f: TicketFiltr) { tickets(filter: $f) { totalCount } }", {}, id="type"),
    pytest.param(
        "query($s: [TicketStatus!]) { tickets(filter: {status: $s}) { totalCount } }",
        {"s": ["OPN"]},
        id="enum-variable",
    ),
]


async def messages(gql_as: Any, role: str, query: str, variables: dict[str, Any]) -> list[str]:
    body = await gql_as(role)(query, **variables)
    assert body["errors"], body
    return [e["message"] for e in body["errors"]]


@pytest.mark.parametrize(("query", "variables"), MISTAKES)
async def test_a_role_without_introspection_gets_no_suggestions(
    gql_as: Any, query: str, variables: dict[str, Any]
) -> None:
    for message in await messages(gql_as, "service", query, variables):
        assert "Did you mean" not in message
        assert message  # the error itself stays


@pytest.mark.parametrize(("query", "variables"), MISTAKES)
async def test_a_role_with_introspection_keeps_the_suggestions(
    gql_as: Any, query: str, variables: dict[str, Any]
) -> None:
    found = await messages(gql_as, "analyst", query, variables)
    assert any("Did you mean" in m for m in found), found


async def test_over_the_websocket_a_role_without_introspection_gets_no_suggestions(
    gateway_url: str, keys: dict[str, str]
) -> None:
    url = gateway_url.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"apiKey": keys["service"]}})
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        query = "subscription { ticketChangd { id } }"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        async with asyncio.timeout(10):
            message = json.loads(await ws.recv())
    assert message["type"] == "error"
    [error] = message["payload"]
    assert "ticketChangd" in error["message"]
    assert "Did you mean" not in error["message"]

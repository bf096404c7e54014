"""JSON nested deeper than any GraphQL request needs (``app.json_input``): a 400 that says so,
or a websocket closed as for any message that is not JSON; never a 500.

Found by a trial against ``crmgraph serve``: a body whose variables nested 50,000 lists was
a 500 with a ``RecursionError`` traceback in the log (Python's ``json`` recurses per level).
"""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from app.json_input import MAX_DEPTH

QUERY = "{ __typename }"
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"


def nested(levels: int) -> str:
    """A JSON value of ``levels`` nested lists (the innermost is the last level)."""
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("levels", [MAX_DEPTH, MAX_DEPTH + 1, 50_000])
async def test_a_body_nested_too_deeply_is_a_400_that_says_so(
    gateway_url: str, keys: dict[str, str], levels: int
) -> None:
    # The variables object itself is the body's second level.
    body = f'{{"query": "{QUERY}", "variables": {{"w": {nested(levels - 2)}}}}}'
    headers = {"X-API-Key": keys["admin"], "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30, headers=headers) as client:
        response = await client.post("/graphql", content=body)
    if levels <= MAX_DEPTH:
        assert response.status_code == 200, response.text
        assert response.json() == {"data": {"__typename": "Query"}}
        return
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "message": f"the body is not valid JSON ({TOO_DEEP})",
            "extensions": {"code": "BAD_USER_INPUT"},
        }
    ]


async def test_variables_nested_too_deeply_in_a_get_are_a_400_that_says_so(
    gateway_url: str, keys: dict[str, str]
) -> None:
    params = {"query": QUERY, "variables": f'{{"w": {nested(5_000)}}}'}
    headers = {"X-API-Key": keys["admin"]}
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30, headers=headers) as client:
        response = await client.get("/graphql", params=params)
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == f"variables is not valid JSON ({TOO_DEEP})"


async def test_a_websocket_message_nested_too_deeply_closes_only_its_connection(
    gateway_url: str, keys: dict[str, str]
) -> None:
    url = gateway_url.replace("http://", "ws://") + "/graphql"
    protocols = [Subprotocol("graphql-transport-ws")]
    headers = {"X-API-Key": keys["admin"]}
    async with connect(url, subprotocols=protocols, additional_headers=headers) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send('{"type": "ping", "payload": ' + nested(50_000) + "}")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4400  # graphql-transport-ws: the message was not JSON
    # The gateway goes on: another connection is served.
    async with connect(url, subprotocols=protocols, additional_headers=headers) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"

"""DNS rebinding: a page of any site may resolve its own name to 127.0.0.1, and the browser then
calls the gateway from this machine — naming that site in ``Host``. Anonymous loopback access
(the demo's keyless analyst) answers only a Host that names the loopback interface, over HTTP
and for the websocket upgrade; credentialed callers are not concerned."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.integration.live.conftest import PROTOCOL, LiveClient, Served

QUERY = {"query": "{ sources { name } }"}


def port_of(served: Served) -> int:
    port = urlsplit(served.url).port
    assert port is not None
    return port


async def post(served: Served, host: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as http:
        return await http.post("/graphql", json=QUERY, headers={"Host": host, **headers})


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:{port}", "127.0.0.1:{port}", "[::1]:{port}", "LOCALHOST"]
)
async def test_anonymous_callers_naming_the_loopback_host_are_answered(
    live: Served, host: str
) -> None:
    response = await post(live, host.format(port=port_of(live)))
    assert response.status_code == 200, response.text
    assert not response.json().get("errors")


@pytest.mark.parametrize(
    "host",
    [
        "rebound.example",
        "rebound.example:{port}",
        "localhost.rebound.example:{port}",
        "127.0.0.1.nip.io:{port}",
        "localhost:{port}@rebound.example",
        "[::1]x:{port}",
        "",
    ],
)
async def test_anonymous_callers_naming_another_host_are_refused_with_401(
    live: Served, host: str
) -> None:
    response = await post(live, host.format(port=port_of(live)))
    assert response.status_code == 401
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "Host header" in error["message"]


async def test_credentialed_callers_may_name_any_host(live: Served, keys: dict[str, str]) -> None:
    response = await post(live, "rebound.example", **{"X-API-Key": keys["analyst"]})
    assert response.status_code == 200, response.text
    assert not response.json().get("errors")


async def init(served: Served, host: str, payload: dict[str, Any]) -> dict[str, Any]:
    """connection_init over a websocket whose upgrade request names ``host``."""
    port = port_of(served)
    async with connect(
        f"ws://{host}:{port}/graphql", host="127.0.0.1", port=port, subprotocols=PROTOCOL
    ) as ws:
        client = LiveClient(ws)
        await client.send({"type": "connection_init", "payload": payload})
        return await client.receive()


async def test_an_anonymous_websocket_naming_another_host_is_closed_with_4403(
    live: Served,
) -> None:
    with pytest.raises(ConnectionClosed) as closed:
        await init(live, "rebound.example", {})
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


async def test_an_anonymous_websocket_naming_localhost_is_acknowledged(live: Served) -> None:
    assert (await init(live, "localhost", {}))["type"] == "connection_ack"


async def test_a_websocket_with_a_key_may_name_any_host(live: Served, keys: dict[str, str]) -> None:
    ack = await init(live, "rebound.example", {"apiKey": keys["analyst"]})
    assert ack["type"] == "connection_ack"

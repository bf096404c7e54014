"""An upstream request's params go out on the wire exactly as httpx itself would write them:
``UpstreamClient`` encodes them into the URL at once (a batch's query runs to kilobytes, and
httpx checks a query given apart character by character), so this compares the request line a
loopback server receives from both, for awkward values."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from app.connectors.http import UpstreamClient

PARAMS: list[dict[str, Any]] = [
    {"query": "type:ticket requester:ann+tag@example.com status:open", "page[size]": "1000"},
    {"ids": ",".join(str(n) for n in range(1001, 1101))},
    {"q": "SELECT Id FROM Lead WHERE Email IN ('a@b.co','c\\'d@e.org') AND Name = 'Zoë ø'"},
    {"multi": ["a b", "c&d", "e=f"], "n": 3, "flag": True, "empty": ""},
    {"percent": "100% sure %41 /?#[]@!$'()*+,;"},
]


@pytest.fixture
async def echo() -> AsyncIterator[str]:
    """A loopback HTTP server answering each request with its request line's target."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            target = line.split(b" ")[1]
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            body = orjson.dumps({"target": target.decode()})
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n"
            writer.write(head.encode() + b"content-type: application/json\r\n\r\n" + body)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("params", PARAMS)
# A CRM's own base URL has no path (https://example.zendesk.com, as the config gives it: the
# source's ``url`` drops its final slash); the simulators' have one. With no path, a route with
# params was sent to "http://127.0.0.1:<port>api/v2/things": an internal error for every such
# call to a real Zendesk or Salesforce.
@pytest.mark.parametrize("path", ["", "/", "/base", "/base/"])
async def test_params_are_written_as_httpx_writes_them(
    echo: str, params: dict[str, Any], path: str
) -> None:
    upstream = UpstreamClient("echo", echo + path)
    try:
        ours = await upstream.send("GET", "/api/v2/things", route="GET /things", params=params)
        async with httpx.AsyncClient(base_url=echo + path) as plain:
            theirs = await plain.get("/api/v2/things", params=params)
    finally:
        await upstream.aclose()

    assert ours.json()["target"] == theirs.json()["target"]
    assert ours.json()["target"].startswith(f"{path.rstrip('/')}/api/v2/things?")


async def test_a_url_with_its_own_query_is_left_to_httpx(echo: str) -> None:
    upstream = UpstreamClient("echo", echo)
    try:
        ours = await upstream.send("GET", "/next?page=2", route="GET /next", params={"a": "1"})
        async with httpx.AsyncClient(base_url=echo) as plain:
            theirs = await plain.get("/next?page=2", params={"a": "1"})
    finally:
        await upstream.aclose()

    assert ours.json()["target"] == theirs.json()["target"]

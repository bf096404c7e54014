"""The GraphiQL page and its assets, as the gateway serves them: nothing from the network, each
asset the vendored file's exact bytes, nothing else under ``/graphql/static``."""

from __future__ import annotations

import asyncio
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from app.graphiql.assets import STATIC
from app.simulators.server import RunningSimulators
from tests.integration.gateway.conftest import serve_gateway

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
PAGE_ASSETS = {
    "graphiql.min.css",
    "graphiql-plugin-explorer.css",
    "page.css",
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "graphiql-plugin-explorer.umd.js",
    "explain.js",
    "start.js",
}


class Assets(HTMLParser):
    """The URLs of a page's ``<script src>`` and ``<link href>``."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        url = found.get("src") if tag == "script" else found.get("href") if tag == "link" else None
        if url is not None:
            self.urls.append(url)


async def the_page(client: httpx.AsyncClient) -> httpx.Response:
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200, page.text
    return page


async def raw_get(base_url: str, target: str) -> tuple[int, bytes]:
    """GET ``target`` exactly as written: no client between us and the server normalises it."""
    address = urlsplit(base_url)
    assert address.hostname is not None
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    request = f"GET {target} HTTP/1.1\r\nHost: {address.netloc}\r\nConnection: close\r\n\r\n"
    writer.write(request.encode("ascii"))
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    status = int(answer.split(b" ", 2)[1])
    return status, answer


async def test_the_page_loads_nothing_from_outside_the_gateway(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        page = await the_page(client)

    hosts = {urlsplit(url).hostname for url in re.findall(r"https?://[^\s\"'<>)]+", page.text)}
    assert hosts <= LOOPBACK
    parsed = Assets()
    parsed.feed(page.text)
    assert {urlsplit(url).path for url in parsed.urls} == {
        f"/graphql/static/{name}" for name in PAGE_ASSETS
    }
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "style-src 'self';" in policy
    assert "unpkg" not in page.text


async def test_every_asset_of_the_page_is_the_vendored_file(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        parsed = Assets()
        parsed.feed((await the_page(client)).text)
        answers = {url: await client.get(url) for url in parsed.urls}

    assert len(answers) == len(PAGE_ASSETS)
    for url, answer in answers.items():
        file = STATIC / Path(urlsplit(url).path).name
        assert answer.status_code == 200, url
        assert answer.headers["content-type"] == CONTENT_TYPES[file.suffix], url
        assert answer.content == file.read_bytes(), url
        assert "immutable" in answer.headers["cache-control"]


@pytest.mark.parametrize(
    "name", ["nothing.js", "LICENSE.react", "SOURCES.md", "graphiql.min.js.map", "explain.JS"]
)
async def test_a_file_not_served_to_the_page_is_404(gateway_url: str, name: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        answer = await client.get(f"/graphql/static/{name}")
    assert answer.status_code == 404


@pytest.mark.parametrize(
    "target",
    [
        "/graphql/static/../../config.py",
        "/graphql/static/../../app/config.py",
        "/graphql/static/..%2F..%2Fconfig.py",
        "/graphql/static/%2e%2e%2f%2e%2e%2fconfig.py",
        "/graphql/static/%2e%2e/%2e%2e/main.py",
        "/graphql/static/..%5c..%5cconfig.py",
        "/graphql/static/%252e%252e%252fconfig.py",
    ],
)
async def test_a_path_out_of_the_static_folder_is_refused(gateway_url: str, target: str) -> None:
    status, answer = await raw_get(gateway_url, target)
    assert status in (400, 404), answer[:200]
    assert b"import" not in answer


async def test_a_query_string_on_an_asset_runs_no_graphql(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        asset = await client.get(
            "/graphql/static/explain.js", params={"query": "{ sources { name } }"}
        )
        query = await client.get(
            "/graphql", params={"query": "{ sources { name } }"}, headers={"X-API-Key": "cgk_x_y"}
        )
    assert asset.content == (STATIC / "explain.js").read_bytes()
    assert query.status_code == 401  # the guard still stands before every query


async def test_with_graphiql_off_neither_page_nor_assets_are_served(
    simulators: RunningSimulators, keys_file: Path
) -> None:
    with serve_gateway(simulators.base_url, keys_file, server={"graphiql": False}) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            page = await client.get("/graphql", headers={"Accept": "text/html"})
            asset = await client.get("/graphql/static/graphiql.min.js")
    assert page.status_code == 404
    assert asset.status_code == 404

"""GraphiQL in a real Chromium that may reach nothing but loopback: the page loads from the
gateway alone, runs a query, and its Explain panel shows what the response's
``extensions.explain`` said (upstream calls, loader batches, cache reads), the stale marks of
an answer served while a source is down, and the refusal a role without explain gets.

Needs Debian's Chromium at /usr/bin/chromium (``apt-get install chromium``); Playwright only
drives it, it downloads no browser."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Error,
    Page,
    Request,
    Route,
    WebSocketRoute,
    async_playwright,
    expect,
)

from app.simulators.server import RunningSimulators
from tests.integration.gateway.conftest import Upstreams, serve_gateway

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path("/tmp/graphiql-explain.png")
HOT_TTL = 1.0
QUERY = "{ customers(first: 3) { edges { node { id name playerStats { level } } } } }"
CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""
#: The panel's rows of one section (not the detail line under a row), as cell texts.
ROWS = "rows => rows.map(row => [...row.cells].map(cell => cell.textContent))"


def on_loopback(url: str) -> bool:
    return urlsplit(url).hostname == "127.0.0.1"


def shown(value: object) -> str:
    """``value`` as the panel writes it (JavaScript's ``String``; ``—`` for none)."""
    if value is None:
        return "—"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class GraphiQL:
    """The page, driven the way a person would: editors, the run button, the sidebar."""

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.url = url
        self.runs = 0

    async def open(self) -> None:
        await self.page.goto(f"{self.url}/graphql")
        await self.page.wait_for_selector(".graphiql-query-editor .CodeMirror")

    async def set_query(self, query: str) -> None:
        await self._set(".graphiql-query-editor .CodeMirror", query)

    async def set_headers(self, headers: dict[str, str]) -> None:
        await self.page.get_by_role("button", name="Headers", exact=True).click()
        editor = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
        await self._set(editor, json.dumps(headers))

    async def run(self) -> tuple[Request, dict[str, Any]]:
        """Run the query; the request the page made and the gateway's answer."""
        self.runs += 1

        def the_query(response: Any) -> bool:
            request = response.request
            return request.method == "POST" and "IntrospectionQuery" not in (
                request.post_data or ""
            )

        async with self.page.expect_response(the_query) as answer:
            await self.page.click(".graphiql-execute-button")
        response = await answer.value
        body: dict[str, Any] = await response.json()
        return response.request, body

    async def result(self) -> dict[str, Any]:
        """What the result pane shows, once it shows an answer."""
        pane = ".result-window .CodeMirror"
        await self.page.wait_for_function(
            f"() => document.querySelector({pane!r}).CodeMirror.getValue().length > 0"
        )
        text = await self.page.eval_on_selector(pane, "element => element.CodeMirror.getValue()")
        shown: dict[str, Any] = json.loads(text)
        return shown

    async def open_explain(self) -> None:
        await self.page.click("button[aria-label='Show Explain']")
        await self.page.wait_for_selector(".crmgraph-explain")

    async def rows(self, section: str) -> list[list[str]]:
        selector = f"[data-explain={section}] tbody tr:not(.crmgraph-explain-detail)"
        found: list[list[str]] = await self.page.locator(selector).evaluate_all(ROWS)
        return found

    async def details(self, section: str) -> list[str]:
        """The line under each row of a section (a call's route, a stale answer's source)."""
        selector = f"[data-explain={section}] tr.crmgraph-explain-detail"
        return await self.page.locator(selector).all_inner_texts()

    async def text(self, selector: str) -> str:
        return await self.page.locator(selector).inner_text()

    async def _set(self, editor: str, value: str) -> None:
        await self.page.eval_on_selector(
            editor, "(element, v) => element.CodeMirror.setValue(v)", value
        )


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(
            "no Chromium at /usr/bin/chromium (apt-get install chromium) — "
            "the GraphiQL browser test drives Debian's Chromium, not a downloaded one"
        )


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


@dataclass
class Offline:
    """A page whose requests may reach loopback only, and what it tried and met."""

    page: Page
    requested: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    async def csp_violations(self) -> list[str]:
        found: list[str] = await self.page.evaluate("window.cspViolations")
        return found


@pytest.fixture
async def offline(chromium: Browser) -> AsyncIterator[Offline]:
    context = await chromium.new_context(viewport={"width": 1400, "height": 1150})
    await context.add_init_script(CSP_VIOLATIONS)
    watched = Offline(await context.new_page())

    async def refuse(route: Route) -> None:
        watched.refused.append(route.request.url)
        await route.abort("internetdisconnected")

    async def refuse_socket(socket: WebSocketRoute) -> None:
        watched.refused.append(socket.url)
        await socket.close()

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.problems.append(f"console: {message.text}")

    def page_error(error: Error) -> None:
        watched.problems.append(f"page error: {error}")

    await context.route(lambda url: not on_loopback(url), refuse)
    await context.route_web_socket(lambda url: not on_loopback(url), refuse_socket)
    context.on("request", lambda request: watched.requested.append(request.url))
    watched.page.on("console", console)
    watched.page.on("pageerror", page_error)
    yield watched
    await context.close()


async def assert_panel_shows(graphiql: GraphiQL, answer: dict[str, Any]) -> None:
    """The Explain panel shows the answer to the page's last request, number for number."""
    await expect(graphiql.page.locator("[data-explain=operation]")).to_contain_text(
        f"#{graphiql.runs} "
    )
    explain = answer["extensions"]["explain"]
    assert await graphiql.text("[data-explain=total] dd") == f"{shown(explain['totalMs'])} ms"
    assert await graphiql.text("[data-explain=upstream-calls] dd") == str(len(explain["calls"]))
    assert await graphiql.text("[data-explain=cost] dd") == shown(explain["cost"])
    calls = [
        [c["source"], *map(shown, (c["batchSize"], c["status"], c["attempt"], c["ms"]))]
        for c in explain["calls"]
    ]
    assert await graphiql.rows("calls") == calls
    assert await graphiql.details("calls") == [c["route"] for c in explain["calls"]]
    loaders = [[e["loader"], str(e["batches"]), str(e["keys"])] for e in explain["loaders"]]
    assert await graphiql.rows("loaders") == loaders
    cache = [[e["entity"], e["group"], str(e["hits"]), str(e["misses"])] for e in explain["cache"]]
    assert await graphiql.rows("cache") == cache
    stale = answer["extensions"].get("stale", [])
    assert await graphiql.rows("stale") == [
        [s["entity"], s["id"], shown(s["ageSeconds"])] for s in stale
    ]
    assert await graphiql.details("stale") == [f"from {s['source']}" for s in stale]


async def test_graphiql_with_no_network_runs_a_query_and_explains_it(
    offline: Offline,
    simulators: RunningSimulators,
    upstreams: Upstreams,
    keys_file: Path,
    keys: dict[str, str],
) -> None:
    started = time.monotonic()
    cache = {"enabled": True, "hot_ttl": HOT_TTL, "cold_ttl": 600}
    with serve_gateway(simulators.base_url, keys_file, cache=cache) as url:
        graphiql = GraphiQL(offline.page, url)

        # No credentials from loopback: the read-only analyst, who may see explain.
        await graphiql.open()
        await graphiql.set_query(QUERY)
        _, answer = await graphiql.run()
        assert await graphiql.result() == answer
        nodes = [edge["node"] for edge in answer["data"]["customers"]["edges"]]
        assert len(nodes) == 3
        assert all(node["id"].startswith("hubspot:") and node["name"] for node in nodes)
        await graphiql.open_explain()
        await assert_panel_shows(graphiql, answer)
        explain = answer["extensions"]["explain"]
        assert ["hubspot", "3", "200", "1"] in [row[:4] for row in await graphiql.rows("calls")]
        assert "POST /crm/v3/objects/contacts/search" in await graphiql.details("calls")
        assert explain["loaders"]
        assert explain["cache"]  # a cold cache: every read a miss

        # The player-stats back office down once the hot TTL is past: the cache answers
        # stale, the panel says so, and shows the failed attempts.
        await asyncio.sleep(HOT_TTL * 1.2)
        await upstreams.configure("players", {"error_rate": 1, "error_status": 503})
        _, stale = await graphiql.run()
        assert stale["data"] == answer["data"]
        assert stale["extensions"]["stale"]
        await assert_panel_shows(graphiql, stale)
        failed = [c for c in stale["extensions"]["explain"]["calls"] if c["source"] == "players"]
        assert failed
        assert all(c["status"] == 503 for c in failed)
        await offline.page.screenshot(path=str(SCREENSHOT), full_page=True)

        # A support key in the Headers pane: its requests carry it, and the panel shows the
        # refusal the gateway gave instead of an explain.
        await graphiql.set_headers({"X-API-Key": keys["support"]})
        request, refusal = await graphiql.run()
        assert (await request.all_headers())["x-api-key"] == keys["support"]
        forbidden = refusal["extensions"]["explain"]
        assert forbidden["code"] == "FORBIDDEN"
        await expect(offline.page.locator("[data-explain=refused]")).to_have_text(
            f"FORBIDDEN: {forbidden['message']}"
        )
        assert await offline.page.locator("[data-explain=calls]").count() == 0
        violations = await offline.csp_violations()

    assert offline.refused == []
    assert offline.requested
    assert all(on_loopback(url) for url in offline.requested), offline.requested
    assert violations == []
    assert offline.problems == []
    took = time.monotonic() - started
    print(f"GraphiQL browser test: {took:.1f} s, {len(offline.requested)} requests")

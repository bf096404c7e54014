"""A customer with thousands of open tickets (an integration, a bot): a page of customers with
``tickets(first: 5)`` reads only as far back as it shows.

A simulator of the test's own is given one customer with 2,400 more open tickets, made through
Zendesk's own ``create_many``: 3 of the customer's brand, then 2,397 of another brand, so the
newest are not the customer's brand. What each caller is shown is compared with every ticket
the simulator's export holds for that customer, read here to its end; what the gateway asked
for is read from the simulator's request counters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.simulators import credentials
from app.simulators.server import RunningSimulators, serve_asgi, serve_in_thread
from app.simulators.world import BRANDS
from tests.conftest import SEED
from tests.integration.gateway.conftest import GraphQL, serve_gateway, serve_with_source
from tests.integration.webhooks.conftest import (
    ZENDESK_SECRET,
    applied,
    eventually,
    webhook_gateway,
)
from tests.upstreams import Upstreams

OWN, OTHER = BRANDS[0], BRANDS[2]  # luckyspin (a one-brand key sees it), northstar
AUTH = (f"{credentials.ZENDESK_EMAIL}/token", credentials.ZENDESK_API_TOKEN)
EXPORT = "GET /api/v2/search/export"
OPEN = ("new", "open", "pending")

PAGE = """query($first: Int!) {
  customers(first: 20, filter: {brand: "luckyspin"}) {
    edges { node { email tickets(status: [NEW, OPEN, PENDING], first: $first) { id brand } } }
  }
}"""


@dataclass
class Busy:
    simulators: RunningSimulators
    email: str
    user_id: int


@pytest.fixture(scope="module")
def busy(keys_file: Path, keys: dict[str, str]) -> Iterator[Busy]:
    """Simulators of this module's own; the first luckyspin customer gets 2,400 open tickets."""
    with (
        serve_in_thread(SEED) as simulators,
        httpx.Client(base_url=f"{simulators.base_url}/zendesk", auth=AUTH, timeout=30) as zendesk,
    ):
        email = _first_customer_email(simulators.base_url, keys_file, keys["admin"])
        [user] = zendesk.get("/api/v2/users/search", params={"query": email}).json()["users"]
        for brand, count in ((OWN, 3), (OTHER, 2397)):
            for start in range(0, count, 100):
                tickets = [
                    {
                        "subject": f"automated report {brand.key} {start + i}",
                        "comment": {"body": "sent by an integration"},
                        "requester_id": user["id"],
                        "brand_id": brand.zendesk_brand_id,
                        "status": "open",
                    }
                    for i in range(min(100, count - start))
                ]
                made = zendesk.post("/api/v2/tickets/create_many", json={"tickets": tickets})
                assert made.status_code == 200, made.text
                job = zendesk.get(f"/api/v2/job_statuses/{made.json()['job_status']['id']}")
                results = job.json()["job_status"]["results"]
                assert [r["index"] for r in results if "id" in r] == list(range(len(tickets)))
        yield Busy(simulators, email, int(user["id"]))


def _first_customer_email(base_url: str, keys_file: Path, key: str) -> str:
    """The email of the first customer the page lists."""
    with serve_gateway(base_url, keys_file) as url:
        answer = httpx.post(
            f"{url}/graphql", json={"query": PAGE, "variables": {"first": 1}},
            headers={"X-API-Key": key}, timeout=30,
        )  # fmt: skip
    answer.raise_for_status()
    return str(answer.json()["data"]["customers"]["edges"][0]["node"]["email"])


def every_ticket(busy: Busy, brands: set[int] | None = None) -> list[str]:
    """The customer's open tickets (of ``brands``), newest first, read from the simulator's
    export to its end: the answer the gateway must give a prefix of."""
    found: list[dict[str, Any]] = []
    terms = " ".join([*(f"status:{s}" for s in OPEN), f"requester:{busy.email}"])
    params = {"query": terms, "filter[type]": "ticket", "page[size]": "1000"}
    with httpx.Client(base_url=f"{busy.simulators.base_url}/zendesk", auth=AUTH) as zendesk:
        while True:
            answer = zendesk.get("/api/v2/search/export", params=params).json()
            found += answer["results"]
            if not answer["meta"]["has_more"]:
                break
            params = {**params, "page[after]": answer["meta"]["after_cursor"]}
    mine = [t for t in found if t["requester_id"] == busy.user_id]
    return [f"zendesk:{t['id']}" for t in mine if brands is None or t["brand_id"] in brands]


@pytest.fixture
async def upstreams(busy: Busy) -> AsyncIterator[Upstreams]:
    async with httpx.AsyncClient(base_url=busy.simulators.base_url, timeout=10) as client:
        counters = Upstreams(client)
        await counters.reset()
        yield counters


async def shown(url: str, key: str, first: int, busy: Busy) -> list[str]:
    """The ids the busy customer's tickets answer with, for the caller with ``key``."""
    async with httpx.AsyncClient(base_url=url, timeout=60, headers={"X-API-Key": key}) as http:
        data = await GraphQL(http).data(PAGE, first=first)
    nodes = [e["node"] for e in data["customers"]["edges"]]
    [node] = [n for n in nodes if n["email"] == busy.email]
    assert len(nodes) > 1  # the customer is one requester among several in the batch
    return [t["id"] for t in node["tickets"]]


async def exports(upstreams: Upstreams) -> int:
    return (await upstreams.routes("zendesk")).get(EXPORT, 0)


@pytest.mark.parametrize("first", [5, 500])
async def test_a_busy_customer_costs_one_export_page_and_one_for_the_others(
    busy: Busy, keys_file: Path, keys: dict[str, str], upstreams: Upstreams, first: int
) -> None:
    """Uncapped, the export of this batch is 3 pages long (2,400 tickets and the others')."""
    with serve_gateway(busy.simulators.base_url, keys_file) as url:
        tickets = await shown(url, keys["admin"], first, busy)
    assert await exports(upstreams) == 2
    assert tickets == every_ticket(busy)[:first]


async def test_aliases_asking_for_different_numbers_each_get_theirs(
    busy: Busy, keys_file: Path, keys: dict[str, str], upstreams: Upstreams
) -> None:
    """One read serves both: as far back as the larger number needs."""
    query = """{
      customers(first: 20, filter: {brand: "luckyspin"}) { edges { node { email
        few: tickets(status: [NEW, OPEN, PENDING], first: 2) { id }
        many: tickets(status: [NEW, OPEN, PENDING], first: 50) { id } } } } }"""
    with serve_gateway(busy.simulators.base_url, keys_file) as url:
        headers = {"X-API-Key": keys["admin"]}
        async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as http:
            data = await GraphQL(http).data(query)
    assert await exports(upstreams) == 2
    [node] = [e["node"] for e in data["customers"]["edges"] if e["node"]["email"] == busy.email]
    newest = every_ticket(busy)
    assert [t["id"] for t in node["few"]] == newest[:2]
    assert [t["id"] for t in node["many"]] == newest[:50]


async def test_a_caller_of_one_brand_reads_that_brands_tickets_only(
    busy: Busy, keys_file: Path, keys: dict[str, str], upstreams: Upstreams
) -> None:
    """The 2,397 newest tickets are of a brand this caller does not see: the export asks for
    the caller's brand only, so they are not read at all, and the customer's own 3 are shown
    among that brand's newest."""
    with serve_gateway(busy.simulators.base_url, keys_file) as url:
        tickets = await shown(url, keys["support@luckyspin"], 5, busy)
    assert await exports(upstreams) == 1
    [asked] = [r for r in await upstreams.requests("zendesk") if "export" in r["path"]]
    expected = every_ticket(busy, {OWN.zendesk_brand_id})[:5]
    assert len(expected) >= 3
    assert tickets == expected
    [terms] = parse_qs(asked["query"])["query"]
    brands = [t for t in terms.split() if t.startswith("brand_id:")]
    assert brands == [f"brand_id:{OWN.zendesk_brand_id}"]


async def test_what_was_enough_for_one_caller_is_not_cached_for_another(
    busy: Busy, keys_file: Path, keys: dict[str, str], upstreams: Upstreams
) -> None:
    """With the field cache on, the list read for every brand and 5 tickets is not the one a
    one-brand caller, or a larger ``first``, is answered from; the same caller again is."""
    cache = {"hot_ttl": 600, "cold_ttl": 600}
    with serve_gateway(busy.simulators.base_url, keys_file, cache=cache) as url:
        admin = await shown(url, keys["admin"], 5, busy)
        one_brand = await shown(url, keys["support@luckyspin"], 5, busy)
        more = await shown(url, keys["admin"], 50, busy)
        await upstreams.reset()
        again = await shown(url, keys["admin"], 5, busy)
        assert await exports(upstreams) == 0
    assert admin == again == every_ticket(busy)[:5]
    assert one_brand == every_ticket(busy, {OWN.zendesk_brand_id})[:5]
    assert more == every_ticket(busy)[:50]


def exported(zendesk_url: str, arrange: Callable[[list[Any]], list[Any]]) -> Starlette:
    """Zendesk as the simulator at ``zendesk_url``, but whose export serves each query's
    results in the order ``arrange`` gives them (from the simulator's, newest first). Its
    ``state.asked`` lists the export requests."""
    asked: list[str] = []

    async def export(request: Request) -> Response:
        asked.append(request.url.query)
        params = dict(request.query_params)
        start = int(params.pop("page[after]", "0"))
        size = int(params.pop("page[size]", "100"))
        found: list[dict[str, Any]] = []
        async with httpx.AsyncClient(base_url=zendesk_url, auth=AUTH) as zendesk:
            at: dict[str, str] = {**params, "page[size]": "1000"}
            while True:
                answer = (await zendesk.get("/api/v2/search/export", params=at)).json()
                found += answer["results"]
                if not answer["meta"]["has_more"]:
                    break
                at = {**at, "page[after]": answer["meta"]["after_cursor"]}
        served = arrange(found)
        more = start + size < len(served)
        meta = {"has_more": more, "after_cursor": str(start + size) if more else None}
        return JSONResponse({"results": served[start : start + size], "meta": meta})

    async def passed_on(request: Request) -> Response:
        async with httpx.AsyncClient(base_url=zendesk_url) as zendesk:
            answer = await zendesk.get(
                request.url.path,
                params=request.query_params,
                headers={"Authorization": request.headers["authorization"]},
            )
        return Response(answer.content, answer.status_code, media_type="application/json")

    app = Starlette(
        routes=[
            Route("/api/v2/search/export", export),
            Route("/{path:path}", passed_on),
        ]
    )
    app.state.asked = asked
    return app


def oldest_first(results: list[Any]) -> list[Any]:
    """The spec says only that the export is "ordered by the created_at attribute"."""
    return results[::-1]


def last_two_swapped(results: list[Any]) -> list[Any]:
    """Newest first but for the first page's last two records: the order breaks once the
    busy customer's 500 newest are read and 500 more of theirs were passed over."""
    swapped = list(results)
    swapped[998], swapped[999] = swapped[999], swapped[998]
    return swapped


@pytest.mark.parametrize(
    ("arrange", "first", "asked"),
    [(oldest_first, 5, 3), (last_two_swapped, 500, 4)],
    ids=["oldest first", "order broken late"],
)
async def test_an_export_in_another_order_is_read_to_its_end(
    busy: Busy,
    keys_file: Path,
    keys: dict[str, str],
    arrange: Callable[[list[Any]], list[Any]],
    first: int,
    asked: int,
) -> None:
    """Records in another order than the answer's say nothing of what is older: the export is
    read to its end (again, from its start, if some were passed over already), and the
    newest tickets are still the ones shown."""
    zendesk = exported(f"{busy.simulators.base_url}/zendesk", arrange)
    base_url = busy.simulators.base_url
    with (
        serve_asgi(zendesk) as crm,
        serve_with_source(base_url, keys_file, "zendesk", base_url=crm) as url,
    ):
        tickets = await shown(url, keys["admin"], first, busy)
    assert len(zendesk.state.asked) == asked
    assert tickets == every_ticket(busy)[:first]


async def test_a_new_ticket_of_the_busy_customer_is_on_the_next_poll(
    busy: Busy, keys_file: Path, keys: dict[str, str], upstreams: Upstreams, tmp_path: Path
) -> None:
    """A list that stopped at 5 tickets, cached, is forgotten like any other when Zendesk's
    signed webhook says the customer has a new ticket: the next poll reads it again."""
    store = tmp_path / "webhooks.sqlite3"
    cache = {"hot_ttl": 600, "cold_ttl": 600}
    with webhook_gateway(busy.simulators.base_url, keys_file, store, cache=cache) as url:
        target = {"url": f"{url}/webhooks/zendesk", "secret": ZENDESK_SECRET, "attempts": 2}
        hooks = f"{busy.simulators.base_url}/zendesk/__webhooks"
        async with httpx.AsyncClient(timeout=30) as http:
            (await http.put(hooks, json=target)).raise_for_status()
            try:
                before = await shown(url, keys["admin"], 5, busy)
                assert await shown(url, keys["admin"], 5, busy) == before
                assert await exports(upstreams) == 2  # the second poll from the caches
                made = await http.post(
                    f"{busy.simulators.base_url}/zendesk/api/v2/tickets",
                    auth=AUTH,
                    json={"ticket": {
                        "subject": "one more report", "comment": {"body": "again"},
                        "requester_id": busy.user_id, "status": "open",
                    }},
                )  # fmt: skip
                assert made.status_code == 201, made.text

                async def delivered() -> bool:
                    return bool((await http.get(hooks)).json()["sent"] >= 1)

                await eventually(delivered)
                await applied(store)
                after = await shown(url, keys["admin"], 5, busy)
            finally:
                await http.delete(hooks)
    assert after[0] == f"zendesk:{made.json()['ticket']['id']}"
    assert after == [after[0], *before[:4]]
    assert after == every_ticket(busy)[:5]

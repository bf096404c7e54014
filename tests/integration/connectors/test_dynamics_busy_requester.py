"""A Dataverse contact with a thousand more tickets than anyone else (an integration, a bot):
each requester's newest ``first`` tickets are read, not every ticket of the page's customers.

The busy contact's 1,200 cases are made through the Web API's own ``$batch`` of ``POST
incidents``, so they are the newest of the org. What the connector answers when told what the
caller is shown is compared with what it answers when it reads every ticket; what it asked for
is read from the simulator's request log.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from app.connectors.base import Requester, Shown
from app.connectors.dynamics.client import DynamicsClient
from app.domain.models import Ticket, TicketStatus, showable
from app.simulators.world import World
from tests.dynamics_org import make_busy
from tests.integration.connectors.conftest import API, Stats

FIELDS = ["subject", "status", "created_at"]
BUSY = 1200
EVERYONE = Shown(None, showable)
OPEN = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)


async def _page(dyn: DynamicsClient, world: World) -> list[Requester]:
    """The first 100 customers as the gateway's requesters (their contacts)."""
    found = await dyn.customers_by_email([p.email for p in world.customers[:100]], ["email"])
    return [Requester(c.id.native, c.email) for c in found.values()]


async def _busy_page(
    dyn: DynamicsClient, world: World
) -> tuple[list[Requester], dict[str, list[Ticket]]]:
    """The page's requesters, the first of them busy, and every ticket of each (read whole)."""
    requesters = await _page(dyn, world)
    await make_busy(dyn, requesters[0].customer_id, world.customers[0].brand.key, BUSY)
    return requesters, await dyn.tickets_by_requester(requesters, None, FIELDS)


def _ids(tickets: list[Ticket], first: int | None = None) -> list[str]:
    return [t.id.native for t in tickets if showable(t)][:first]


def _firsts(requesters: list[Requester], first: int) -> list[Requester]:
    return [Requester(r.customer_id, r.email, first) for r in requesters]


async def _gets(stats: Stats) -> list[dict[str, list[str]]]:
    """The queries of the GETs of incidents served outside a ``$batch``."""
    return [
        parse_qs(str(r.get("query", "")))
        for r in await stats.requests()
        if r["method"] == "GET" and str(r["path"]).endswith("/incidents")
    ]


async def test_a_busy_requesters_older_tickets_are_not_asked_for_again(
    dyn: DynamicsClient, stats: Stats, world: World
) -> None:
    requesters, whole = await _busy_page(dyn, world)
    busy = requesters[0]
    assert len(whole[busy.customer_id]) > BUSY
    await stats.reset()

    found = await dyn.tickets_by_requester(_firsts(requesters, 5), None, FIELDS, EVERYONE)

    for r in requesters:
        assert _ids(found.get(r.customer_id, []), 5) == _ids(whole.get(r.customer_id, []), 5)
    assert len(found[busy.customer_id]) == 5  # its older rows were passed over
    # Its chunk's first page was its own newest: the other 49 contacts were asked on their own.
    assert await stats.routes() == {f"POST {API}/$batch": 1, f"GET {API}/incidents": 1}
    [batch] = [r for r in await stats.requests() if str(r["path"]).endswith("/$batch")]
    assert str(batch["body"]).count("Prefer: odata.maxpagesize=500") == 2  # a page per chunk
    [again] = await _gets(stats)
    assert busy.customer_id not in again["$filter"][0]
    assert again["$filter"][0].count("_customerid_value eq ") == 49  # the chunk's others
    assert again["$orderby"] == ["createdon desc,incidentid desc"]


async def test_enough_for_every_requester_in_one_page_is_one_batch(
    dyn: DynamicsClient, stats: Stats, world: World
) -> None:
    requesters, whole = await _busy_page(dyn, world)
    busy = requesters[0]
    await stats.reset()

    found = await dyn.tickets_by_requester(_firsts(requesters, 500), None, FIELDS, EVERYONE)

    assert await stats.routes() == {f"POST {API}/$batch": 1}
    assert _ids(found[busy.customer_id]) == _ids(whole[busy.customer_id], 500)
    for r in requesters[1:]:
        assert _ids(found.get(r.customer_id, [])) == _ids(whole.get(r.customer_id, []), 500)


async def test_a_one_brand_caller_has_another_brands_tickets_left_out_by_the_query(
    dyn: DynamicsClient, stats: Stats, world: World
) -> None:
    requesters = await _page(dyn, world)
    own = world.customers[0].brand.key
    other = next(p.brand.key for p in world.customers if p.brand.key != own)
    busy = requesters[0]
    await make_busy(dyn, busy.customer_id, other, BUSY)
    whole = await dyn.tickets_by_requester(requesters, OPEN, FIELDS)
    await stats.reset()

    shown = Shown(frozenset({own}), lambda t: t.brand == own and showable(t))
    found = await dyn.tickets_by_requester(_firsts(requesters, 5), OPEN, FIELDS, shown)

    assert await stats.routes() == {f"POST {API}/$batch": 1}  # no page of the busy one's
    for r in requesters:
        mine = [t for t in whole.get(r.customer_id, []) if t.brand == own]
        assert _ids(found.get(r.customer_id, [])) == _ids(mine, 5)
    assert {t.brand for ts in found.values() for t in ts} == {own}
    no_brand = Shown(frozenset(), showable)
    assert await dyn.tickets_by_requester(requesters, OPEN, FIELDS, no_brand) == {}

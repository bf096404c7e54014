"""A CRM's refusal whose body explains nothing (an HTML page from a proxy or firewall in front
of the CRM, an empty body, JSON of another shape) is still that CRM's refusal: the mutation
answers REJECTED with ``HTTP <status>`` as its message, a read the same at its field, and no
message carries an empty placeholder ("HTTP 403: ERROR: ").

Found by a trial: a HubSpot update or a Salesforce create refused with an HTML 400 answered
``INTERNAL`` ("Unexpected error."), the vendor's error reader raising on a body that is not
JSON. The CRMs are an httpx.MockTransport at the very edge, because the simulators only ever
send their vendor's JSON; the gateway is the real app on a real port.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.config import parse_config
from app.demo import demo_settings
from app.main import create_app
from app.simulators.player_stats.store import render
from app.simulators.server import serve_asgi
from app.simulators.world import build_world
from tests.integration.gateway.conftest import GraphQL, gateway_config

HTML = b"<html><body><h1>400 Bad Request</h1><p>Request blocked.</p></body></html>"
CONTACT = {
    "id": "42",
    "properties": {"firstname": "Ada", "lastname": "L", "email": "ada@example.com"},
    "createdAt": "2024-01-01T00:00:00Z",
    "updatedAt": "2024-01-01T00:00:00Z",
    "archived": False,
}
TICKET = {
    "id": 7,
    "subject": "help",
    "status": "open",
    "brand_id": 1,
    "requester_id": 3,
    "created_at": "2026-01-02T00:00:00Z",
}
#: A player as the player-stats service writes one (the simulator's own renderer).
PLAYER = render(build_world(7).players[0])

#: The body of each refusal (besides its status): what the CRM's proxy or the CRM sent.
BODIES: dict[str, tuple[bytes, str]] = {
    "html": (HTML, "text/html"),
    "empty": (b"", "text/plain"),
    "other json": (b'{"status": "blocked"}', "application/json"),
}

MUTATIONS = {
    "hubspot": (
        'mutation { updateCustomer(id: "hubspot:42", input: {company: "Y"}) '
        "{ customer { id } userErrors { field message code } syncJobId } }",
        ("PATCH", "/contacts/42"),
        400,
    ),
    "salesforce": (
        'mutation { createLead(input: {firstName: "A", lastName: "B", email: "ab@example.com",'
        ' company: "X"}) { lead { id } userErrors { field message code } syncJobId } }',
        ("POST", "/sobjects/Lead"),
        400,
    ),
    "zendesk": (
        'mutation { updateTicket(id: "zendesk:7", input: {subject: "s"}) '
        "{ ticket { id } userErrors { field message code } syncJobId } }",
        ("PUT", "/tickets/7"),
        422,
    ),
    "players": (
        f'mutation {{ awardPoints(playerId: "{PLAYER["player_id"]}", '
        'input: {delta: 5, reason: "r"}) '
        "{ playerStats { level } userErrors { field message code } syncJobId } }",
        ("POST", f"/players/{PLAYER['player_id']}/points"),
        409,
    ),
}


class CRMs:
    """Every CRM's reads answered; the refused route answers ``refusal``."""

    def __init__(self) -> None:
        self.refused: tuple[str, str] = ("", "")
        self.refusal = httpx.Response(400)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        method, ending = self.refused
        if request.method == method and path.endswith(ending):
            return self.refusal
        if path.endswith("/oauth2/token"):
            return httpx.Response(200, json={"access_token": "x"})
        if "/contacts/42" in path:
            return httpx.Response(200, json=CONTACT)
        if path.endswith(("/contacts/batch/read", "/contacts/search")):
            return httpx.Response(200, json={"status": "COMPLETE", "results": [CONTACT]})
        if path.endswith("/tickets/show_many"):
            return httpx.Response(200, json={"tickets": [TICKET]})
        if path.endswith("/stats:batchGet"):
            mine = request.headers["x-brand-key"] == PLAYER["brand"]
            return httpx.Response(200, json={"players": [PLAYER] if mine else []})
        return httpx.Response(404, json={"error": "not here: " + path})


@pytest.fixture(scope="module")
def crms() -> CRMs:
    return CRMs()


@pytest.fixture(scope="module")
def gateway_url(crms: CRMs, keys_file: Path) -> Iterator[str]:
    """The gateway of this module (the conftest's ``gql`` asks it, with the admin key)."""
    nowhere = "http://127.0.0.1:9"  # every CRM is the transport below
    demo_settings(nowhere)  # the demo's CRM credentials in the environment
    settings = parse_config(gateway_config(nowhere, keys_file))  # no field cache, no live check
    with serve_asgi(create_app(settings, transport=httpx.MockTransport(crms))) as url:
        yield url


def refusing(crms: CRMs, route: tuple[str, str], status: int, body: str) -> None:
    content, kind = BODIES[body]
    crms.refused = route
    crms.refusal = httpx.Response(status, content=content, headers={"content-type": kind})


@pytest.mark.parametrize("body", list(BODIES))
@pytest.mark.parametrize("source", list(MUTATIONS))
async def test_a_write_refused_without_an_explanation_is_rejected_with_its_status(
    gql: GraphQL, crms: CRMs, source: str, body: str
) -> None:
    mutation, route, status = MUTATIONS[source]
    refusing(crms, route, status, body)

    answer = await gql(mutation)

    assert "errors" not in answer, answer
    [payload] = answer["data"].values()
    assert payload["syncJobId"] is None  # refused for good: nothing queued to retry
    assert payload["userErrors"] == [
        {"field": None, "message": f"HTTP {status}", "code": "REJECTED"}
    ], payload


@pytest.mark.parametrize("body", list(BODIES))
async def test_a_read_refused_without_an_explanation_says_only_its_status(
    gql: GraphQL, crms: CRMs, body: str
) -> None:
    refusing(crms, ("POST", "/stats:batchGet"), 403, body)

    answer = await gql(f'{{ playerStats(playerId: "{PLAYER["player_id"]}") {{ level }} }}')

    [error] = answer["errors"]
    assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE", error
    assert error["message"].endswith(": HTTP 403"), error  # was "HTTP 403: ERROR: "

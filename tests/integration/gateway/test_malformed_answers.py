"""A CRM answer that is not what its API promises is that CRM's error at its own fields, never
an empty list or a null that reads as "none found". Found by a trial pointing player stats at
``tests.misbehaving``: a redirect (what an ``http://`` base URL of a CRM that moved to
``https://`` gets), and a batch answer without its ``players`` list, each left every
customer's ``playerStats`` null with no error at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.simulators.server import RunningSimulators
from tests.dashboard import DASHBOARD
from tests.integration.gateway.conftest import GraphQL, serve_with_source
from tests.misbehaving import Misbehaving, misbehaving

NOT_A_LIST = "players is unavailable: the answer's 'players' is not a list of objects"
MOVED = (
    "players is unavailable: HTTP 301: redirected to https://players.example.com; crmgraph "
    "does not follow redirects: if that is the CRM's address, set sources.players.base_url to it"
)
#: (status, headers, body) of every answer → the message at each ``playerStats``.
CASES = {
    "moved": (301, "Location: https://players.example.com/v1/x?token=s3cr3t\r\n", b"{}", MOVED),
    "redirect-without-location": (
        302,
        "",
        b'{"players": []}',
        "players is unavailable: HTTP 302: a redirect with no Location",
    ),
    "no-players": (200, "", b'{"results": []}', NOT_A_LIST),
    "players-not-a-list": (200, "", b'{"players": {"p1": {}}}', NOT_A_LIST),
    "a-player-not-an-object": (200, "", b'{"players": [1, null]}', NOT_A_LIST),
}

#: A 4xx the CRM explains: its refusal, said as one (it was "players is unavailable: …").
REFUSED = (
    418,
    "",
    b'{"error": {"code": "TEAPOT", "message": "short and stout"}}',
    "players refused the request: HTTP 418: TEAPOT: short and stout",
)


async def dashboard(gateway: str, admin: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=gateway, timeout=30, headers={"X-API-Key": admin}) as c:
        return await GraphQL(c)(DASHBOARD, first=5)


@pytest.mark.parametrize("case", [*CASES, "refused"])
async def test_a_malformed_player_stats_answer_is_an_error_at_its_fields(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], case: str
) -> None:
    status, headers, body, message = CASES.get(case, REFUSED)
    crm = Misbehaving(body=body, status=status, headers=headers)
    async with misbehaving(crm) as url:
        with serve_with_source(simulators.base_url, keys_file, "players", base_url=url) as gateway:
            answer = await dashboard(gateway, keys["admin"])
    customers = [edge["node"] for edge in answer["data"]["customers"]["edges"]]
    assert len(customers) == 5
    assert all(c["email"] for c in customers)
    errors = answer["errors"]
    assert {e["path"][-1] for e in errors} == {"playerStats"}
    code = "BAD_USER_INPUT" if case == "refused" else "UPSTREAM_UNAVAILABLE"
    assert {(e["extensions"]["code"], e["message"]) for e in errors} == {(code, message)}
    assert "s3cr3t" not in json.dumps(answer)


async def test_a_search_answer_without_results_is_an_error_not_an_empty_page(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str]
) -> None:
    crm = Misbehaving(body=b'{"total": 3}')
    async with misbehaving(crm) as url:
        with serve_with_source(simulators.base_url, keys_file, "hubspot", base_url=url) as gateway:
            answer = await dashboard(gateway, keys["admin"])
    # Before, an empty page: "no customers", and no error.
    assert answer["data"]["customers"]["edges"] == []
    [error] = answer["errors"]
    assert error["message"] == (
        "hubspot is unavailable: the answer's 'results' is not a list of objects"
    )


async def test_a_collections_read_that_is_not_a_list_is_an_error_not_not_found(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str]
) -> None:
    """``lead(id:)`` reads through sObject Collections, whose answer is a list; an object
    instead was read as "no such lead" (null, no error). The same body serves as the OAuth
    token answer, so the read itself is reached."""
    token = {"access_token": "t0k3n", "token_type": "Bearer", "instance_url": "x"}
    crm = Misbehaving(body=json.dumps(token).encode())
    async with misbehaving(crm) as url:
        with serve_with_source(
            simulators.base_url, keys_file, "salesforce", base_url=url
        ) as gateway:
            headers = {"X-API-Key": keys["admin"]}
            async with httpx.AsyncClient(base_url=gateway, timeout=30, headers=headers) as c:
                answer = await GraphQL(c)('{ lead(id: "salesforce:00Q000000000042") { id } }')
    assert answer["data"] == {"lead": None}
    [error] = answer["errors"]
    assert (error["extensions"]["code"], error["message"]) == (
        "UPSTREAM_UNAVAILABLE",
        "salesforce is unavailable: the sObject Collections answer is not a list of records",
    )

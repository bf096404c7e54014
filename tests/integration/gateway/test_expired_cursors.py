"""A list resumed after the CRM's own cursor has expired: Zendesk's export cursors last an hour
(its reference), and a caller who comes back to "more" later is told to ask again, at
``after``, instead of getting the CRM's refusal as a failure of Zendesk."""

from __future__ import annotations

import base64
import json

import httpx

from tests.integration.gateway.conftest import GraphQL, errors_at

LIST = """query($after: String) {
  tickets(first: 2, after: $after, filter: {status: [OPEN]}) {
    edges { node { id } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def test_a_ticket_list_resumed_after_zendesks_cursor_expired_is_asked_again(
    gql: GraphQL, control: httpx.AsyncClient
) -> None:
    first = await gql.data(LIST)
    assert first["tickets"]["pageInfo"]["hasNextPage"] is True
    cursor = first["tickets"]["pageInfo"]["endCursor"]
    # Within the hour, the list goes on.
    second = await gql.data(LIST, after=cursor)
    assert second["tickets"]["edges"]
    assert second["tickets"]["edges"] != first["tickets"]["edges"]

    (await control.post("/zendesk/__expire_cursors")).raise_for_status()  # an hour later
    try:
        body = await gql(LIST, after=cursor)
    finally:  # every other test's cursors good again
        (await control.post("/zendesk/__reset", params={"data": "true"})).raise_for_status()

    assert body["data"]["tickets"]["edges"] == []
    [error] = errors_at(body, "tickets")
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "after"}
    assert error["message"] == (
        "after is a cursor Zendesk no longer takes (an export's expire after an hour): ask for "
        "the list again without it. Zendesk said HTTP 400: InvalidPaginationParameter: The "
        "cursor has expired"
    )
    # Asked again from its start, the list is read anew, with a cursor that works.
    again = (await gql.data(LIST))["tickets"]
    assert again["edges"] == first["tickets"]["edges"]
    resumed = await gql.data(LIST, after=again["pageInfo"]["endCursor"])
    assert resumed["tickets"]["edges"] == second["tickets"]["edges"]


async def test_a_cursor_zendesks_ticket_list_refuses_is_the_callers_to_mend(gql: GraphQL) -> None:
    """The unfiltered list pages through ``/api/v2/tickets``: a cursor whose CRM part Zendesk
    refuses (here one made up, in a cursor of the gateway's own form) is refused at ``after``."""
    query = "query($after: String) { tickets(first: 2, after: $after) { pageInfo { endCursor } } }"
    cursor = (await gql.data(query))["tickets"]["pageInfo"]["endCursor"]
    data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    made_up = base64.urlsafe_b64encode(json.dumps({**data, "c": "not-a-cursor"}).encode())

    body = await gql(query, after=made_up.decode())

    [error] = errors_at(body, "tickets")
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "after"}
    assert error["message"].startswith("after is a cursor Zendesk no longer takes")
    assert error["message"].endswith(
        "Zendesk said HTTP 400: InvalidPaginationParameter: The cursor is invalid for this list"
    )

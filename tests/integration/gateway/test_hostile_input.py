"""Hostile strings in filters, ids and cursors: refused as BAD_USER_INPUT before any upstream
call, or escaped in the CRM's own syntax and answered correctly; never INTERNAL, never a whole
answer lost."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.integration.gateway.conftest import GraphQL, Upstreams, errors_at

EMPTY = {"totalCount": None, "edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}
PAGE = "totalCount edges { node { id } } pageInfo { hasNextPage endCursor }"

#: (root field, query with the value as $v, the argument named in a refusal)
LISTS = [
    ("customers", "customers(first: 5, filter: {email: $v})", "filter.email"),
    ("customers", "customers(first: 5, filter: {company: $v})", "filter.company"),
    ("customers", "customers(first: 5, filter: {lifecycleStage: $v})", "filter.lifecycleStage"),
    ("customers", "customers(first: 5, filter: {brand: [$v]})", "filter.brand"),
    ("customers", "customers(first: 5, after: $v)", "after"),
    ("leads", "leads(first: 5, filter: {email: $v})", "filter.email"),
    ("leads", "leads(first: 5, filter: {company: $v})", "filter.company"),
    ("leads", "leads(first: 5, filter: {brand: [$v]})", "filter.brand"),
    ("leads", "leads(first: 5, after: $v)", "after"),
    ("tickets", "tickets(first: 5, filter: {requesterEmail: $v})", "filter.requesterEmail"),
    ("tickets", "tickets(first: 5, filter: {brand: [$v]})", "filter.brand"),
    ("tickets", "tickets(first: 5, after: $v)", "after"),
]
LOOKUPS = [
    ("customer", "customer(id: $v) { id }", "id"),
    ("lead", "lead(id: $v) { id }", "id"),
    ("ticket", "ticket(id: $v) { id }", "id"),
    ("node", "node(id: $v) { id }", "id"),
    ("playerStats", "playerStats(playerId: $v) { level }", "playerId"),
    ("syncJob", "syncJob(id: $v) { status }", "id"),
]

#: Values no CRM query may carry: always refused, with what is wrong with them.
REFUSED = {
    "group separator": ("\u001d", "must not contain control characters"),
    "NUL": ("a\u0000b", "must not contain control characters"),
    "newline": ("ada@example.com\n", "must not contain control characters"),
    "DEL": ("x\u007f", "must not contain control characters"),
    "over 1,000 characters": ("x" * 1001, "must be at most 1000 characters"),
    "unpaired surrogate": ("x\ud800", "must be text (it holds an unpaired surrogate)"),
}
#: Values a query may carry only escaped in the CRM's syntax (or refused where it cannot be).
ESCAPED = {
    "SOQL quote": "x' OR Name != '",
    "trailing backslash": "x\\",
    "escaped quote": "x\\' OR Id != null OR Id = '",
    "double quotes": 'x" OR "y',
    "wildcard": "*",
    "zendesk keyword": "x status:open",
}


def query(field: str, selection: str) -> str:
    kind = "ID" if "id:" in field or "Id:" in field else "String"
    required = "!" if "[$v]" in field or kind == "ID" else ""
    return f"query($v: {kind}{required}) {{ {field} {selection} }}"


async def ask(gql: GraphQL, query: str, value: str) -> dict[str, Any]:
    """The query with ``$v``, sent as ASCII JSON (``\\ud800`` escapes, as any client may send)."""
    body = json.dumps({"query": query, "variables": {"v": value}})
    headers = {"Content-Type": "application/json"}
    response = await gql.client.post("/graphql", content=body, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def refused_as_bad_input(body: dict[str, Any], root: str, argument: str) -> dict[str, Any]:
    [error] = body["errors"]
    assert error["path"] == [root]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}
    return error


@pytest.mark.parametrize("value", list(REFUSED.values()), ids=list(REFUSED))
@pytest.mark.parametrize(("root", "field", "argument"), LISTS + LOOKUPS)
async def test_a_string_no_query_may_carry_is_refused_before_any_call(
    gql: GraphQL,
    upstreams: Upstreams,
    root: str,
    field: str,
    argument: str,
    value: tuple[str, str],
) -> None:
    text, problem = value
    is_list = (root, field, argument) in LISTS

    body = await ask(gql, query(field, f"{{ {PAGE} }}" if is_list else ""), text)

    error = refused_as_bad_input(body, root, argument)
    assert error["message"] == f"{argument} {problem}"
    assert body["data"] == {root: EMPTY if is_list else None}
    assert await upstreams.total() == 0


@pytest.mark.parametrize("value", list(ESCAPED.values()), ids=list(ESCAPED))
@pytest.mark.parametrize(("root", "field", "argument"), LISTS + LOOKUPS)
async def test_a_string_with_query_syntax_is_escaped_or_refused(
    gql: GraphQL,
    upstreams: Upstreams,
    root: str,
    field: str,
    argument: str,
    value: str,
) -> None:
    is_list = (root, field, argument) in LISTS

    body = await gql(query(field, f"{{ {PAGE} }}" if is_list else ""), v=value)

    assert body["data"] is not None
    codes = [e["extensions"]["code"] for e in body.get("errors") or []]
    if codes == ["BAD_USER_INPUT"]:
        refused_as_bad_input(body, root, argument)
        assert await upstreams.total() == 0
    elif is_list:  # no record holds these values: escaped, they match nothing
        assert codes == []
        assert body["data"][root]["edges"] == []
        assert body["data"][root]["totalCount"] in (0, None)
    else:
        assert codes == ["NOT_FOUND"]
        assert body["data"] == {root: None}


async def test_a_control_character_in_a_filter_is_refused_by_name(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    body = await gql('{ leads(filter: {company: "\\u001D"}) { edges { node { id } } } }')

    assert body["data"] == {"leads": {"edges": []}}
    [error] = errors_at(body, "leads")
    assert error["message"] == "filter.company must not contain control characters"
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "filter.company"}
    assert await upstreams.total() == 0


async def test_a_quote_in_a_lead_filter_is_escaped_in_soql(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    data = await gql.data(
        "query($v: String) { leads(first: 5, filter: {company: $v}) "
        "{ totalCount edges { cursor } } }",
        v="O'Brien \\ Sons",
    )

    assert data == {"leads": {"totalCount": 0, "edges": []}}
    asked = [parse_qs(r["query"]) for r in await upstreams.requests("salesforce")]
    soql = [q for query in asked for q in query.get("q", [])]
    assert soql
    assert all("Company = 'O\\'Brien \\\\ Sons'" in q for q in soql), soql


async def test_a_lead_filter_too_long_for_salesforces_uri_is_refused_before_any_query(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    # Each "€" is 9 bytes of a URL (3 UTF-8 bytes, each %XX): the SOQL query would take ~18 kB,
    # and Salesforce refuses a URI and headers of more than 16,384 bytes (414).
    query = (
        "query($e: String, $c: String) { leads(filter: {email: $e, company: $c}) { totalCount } }"
    )
    body = await gql(query, e="€" * 900, c="€" * 1000)

    assert body["data"] == {"leads": {"totalCount": None}}
    error = refused_as_bad_input(body, "leads", "filter.company")
    assert error["message"].startswith("filter.company makes the SOQL query's URI 1")
    assert error["message"].endswith(
        "bytes; crmgraph sends Salesforce at most 12,288 (it refuses more than 16,384 with the "
        "headers)"
    )
    assert await upstreams.total() == 0
    # Within the limit, the same filter is asked (and matches no lead).
    assert await gql.data(query, e="€" * 500, c="€" * 500) == {"leads": {"totalCount": 0}}


async def test_a_wildcard_is_never_sent_to_zendesk_search(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    body = await gql(
        '{ tickets(first: 5, filter: {requesterEmail: "*@example.com"}) { totalCount } }'
    )

    assert body["data"] == {"tickets": {"totalCount": None}}
    error = refused_as_bad_input(body, "tickets", "filter.requesterEmail")
    assert "*" in error["message"]
    assert await upstreams.total() == 0


async def test_a_tampered_cursor_is_refused_before_any_call(
    gql: GraphQL, upstreams: Upstreams
) -> None:
    page = "query($a: String) { leads(first: 2, after: $a) { edges { cursor } } }"
    cursor = (await gql.data(page))["leads"]["edges"][-1]["cursor"]
    raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw["c"] = "2024-01-01T00:00:00Z|x'\u0000"
    forged = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")
    await upstreams.reset()

    body = await gql(page, a=forged)

    assert body["data"] == {"leads": {"edges": []}}
    refused_as_bad_input(body, "leads", "after")
    assert await upstreams.total() == 0

"""Issue 16: the fast paths against ordinary execution, over the shapes a stranger writes.

``test_fast_paths`` compares the dashboard; here the same comparison runs over what a
GraphiQL user or a generated client sends: aliases of one relation with different arguments,
the same field selected twice, fragments (named, inline, on an interface), ``@skip`` and
``@include`` by variable, ``__typename`` at every level, relations of relations, and lists
reached through ``node``. Each answer must equal ordinary execution's: the same data, and
the same errors. Their order may differ: ordinary execution lists a list's errors as its
records' awaits happen to finish (a requester already loaded before one still loading), the
fast paths in the order of the records.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.gateway.test_fast_paths import _both

SHAPES: dict[str, tuple[str, dict[str, Any]]] = {
    "aliased relations, different arguments": (
        """query($n: Int!) { customers(first: $n) { edges { node {
             open: tickets(status: [OPEN], first: 2) { id status }
             all: tickets(first: 3) { id status subject }
             again: tickets(status: [OPEN], first: 2) { priority }
             l1: leads { id } l2: leads { status name }
        } } } }""",
        {"n": 15},
    ),
    "a field twice, merged, with fragments": (
        """query($n: Int!) { customers(first: $n) { edges { node {
             id email ...Who ... on Customer { email brand playerStats { level } }
             playerStats { ggr { amount } ...Money }
        } } } }
        fragment Who on Customer { name email leads { ...Lead } }
        fragment Lead on Lead { id status createdAt }
        fragment Money on PlayerStats { ggr { currency } depositsTotal { amount currency } }""",
        {"n": 15},
    ),
    "skip and include by variable": (
        """query($n: Int!, $yes: Boolean!, $no: Boolean!) { customers(first: $n) { edges {
             node {
               id email @skip(if: $yes) company @include(if: $yes)
               leads @include(if: $no) { id }
               tickets(first: 2) @skip(if: $no) { id requester @include(if: $yes) { id } }
               playerStats { level @skip(if: $yes) levelName @include(if: $yes) }
             } cursor @include(if: $yes) } } }""",
        {"n": 15, "yes": True, "no": False},
    ),
    "typename everywhere": (
        """query($n: Int!) { __typename customers(first: $n) { __typename totalCount
             pageInfo { __typename hasNextPage } edges { __typename node { __typename id
             leads { __typename id } tickets(first: 1) { __typename requester { __typename } }
             playerStats { __typename ggr { __typename amount } } } } } }""",
        {"n": 15},
    ),
    "relations of relations": (
        """query($n: Int!) { leads(first: $n) { edges { node { id
             customer { id tickets(first: 2) { id requester { id leads { id status } } }
                        playerStats { customer { id email } } } } } } }""",
        {"n": 15},
    ),
    "tickets list with requesters": (
        """query($n: Int!) { tickets(first: $n) { totalCount edges { node {
             id status priority updatedAt requester { id name email playerStats { level } }
        } } } }""",
        {"n": 25},
    ),
    "inline fragments on the interface": (
        """query($n: Int!) { customers(first: $n) { edges { node {
             ... on Node { id } ... on Customer { leads { ... on Node { id } } }
        } } } }""",
        {"n": 10},
    ),
    "an argument refused at every record": (
        """query($n: Int!) { customers(first: $n) { edges { node {
             id tickets(first: 1000) { id } leads { id }
        } } } }""",
        {"n": 5},
    ),
}


@pytest.mark.parametrize("key", ["admin", "support@luckyspin", "analyst"])
@pytest.mark.parametrize("shape", list(SHAPES))
async def test_every_shape_answers_what_ordinary_execution_answers(
    gql_as: Any, key: str, shape: str
) -> None:
    query, variables = SHAPES[shape]
    fast, slow = await _both(gql_as(key), query, **variables)

    assert fast["data"] == slow["data"]
    assert _by_path(fast.get("errors", [])) == _by_path(slow.get("errors", []))
    assert fast.keys() == slow.keys()
    assert "extensions" not in fast or "cached" not in fast["extensions"]


def _by_path(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(errors, key=lambda error: [str(part) for part in error.get("path") or []])

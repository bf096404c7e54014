"""Filtering by a field is reading it: a role may filter only by the fields it may read.

``customers(filter: {email: …})`` answering one edge tells an analyst who owns the address,
so it is refused like reading ``Customer.email``: FORBIDDEN, naming the argument, before any
upstream call, and the rest of the operation stands.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.simulators.world import World
from tests.integration.gateway.conftest import Upstreams, errors_at

EMPTY = {"edges": []}

#: (role, root list, filter, what the filter reveals) that must be refused.
REFUSED = [
    ("analyst", "customers", "email", "Customer.email"),
    ("analyst", "leads", "email", "Lead.email"),
    ("analyst", "tickets", "requesterEmail", "Customer.email"),
    ("support", "customers", "company", "Customer.company"),
]


def person(world: World) -> Any:
    return next(p for p in world.customers if p.lead and p.company)


def filter_value(world: World, field: str) -> str:
    who = person(world)
    return str(who.company.name if field == "company" else who.email)


@pytest.mark.parametrize(("role", "root", "field", "reveals"), REFUSED)
async def test_filtering_by_a_field_the_role_may_not_read_is_forbidden(
    gql_as: Any, upstreams: Upstreams, world: World, role: str, root: str, field: str, reveals: str
) -> None:
    body = await gql_as(role)(
        f"query($v: String) {{ {root}(first: 5, filter: {{{field}: $v}}) "
        "{ edges { node { id } } } }",
        v=filter_value(world, field),
    )

    assert body["data"] == {root: EMPTY}
    [error] = errors_at(body, root)
    assert error["extensions"] == {"code": "FORBIDDEN", "argument": f"filter.{field}"}
    assert error["message"] == f"filter.{field}: the {role} role may not read {reveals}"
    assert await upstreams.total() == 0


async def test_the_anonymous_analyst_may_not_filter_by_email(
    gql_as: Any, upstreams: Upstreams, world: World
) -> None:
    body = await gql_as(None)(
        "query($e: String) { customers(filter: {email: $e}) { edges { node { id } } } }",
        e=person(world).email,
    )

    assert body["data"] == {"customers": EMPTY}
    [error] = errors_at(body, "customers")
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert await upstreams.total() == 0


async def test_the_rest_of_the_operation_stands(
    gql_as: Any, upstreams: Upstreams, world: World
) -> None:
    body = await gql_as("analyst")(
        """query($e: String) {
             customers(first: 2, filter: {email: $e}) { edges { node { id } } }
             leads(first: 2) { edges { node { id company } } }
             tickets(first: 2) { edges { node { id } } }
           }""",
        e=person(world).email,
    )

    data = body["data"]
    assert data["customers"] == EMPTY
    assert len(data["leads"]["edges"]) == 2
    assert len(data["tickets"]["edges"]) == 2
    assert [e["path"] for e in body["errors"]] == [["customers"]]
    assert (await upstreams.counts())["hubspot"] == 0


async def test_a_filter_given_as_a_variable_is_checked_too(
    gql_as: Any, upstreams: Upstreams, world: World
) -> None:
    body = await gql_as("analyst")(
        "query($f: LeadFilter) { leads(filter: $f) { edges { node { id } } } }",
        f={"email": person(world).email},
    )

    assert body["data"] == {"leads": EMPTY}
    assert errors_at(body, "leads")[0]["extensions"]["argument"] == "filter.email"
    assert await upstreams.total() == 0


@pytest.mark.parametrize(
    ("role", "root"),
    [("admin", "customers"), ("admin", "leads"), ("marketing", "leads")],
)
async def test_a_role_that_may_read_the_field_may_filter_by_it(
    gql_as: Any, world: World, role: str, root: str
) -> None:
    who = person(world)
    data = await gql_as(role).data(
        f"query($e: String) {{ {root}(first: 5, filter: {{email: $e}}) "
        "{ edges { node { email } } } }",
        e=who.email,
    )

    assert data[root]["edges"]
    assert {e["node"]["email"] for e in data[root]["edges"]} == {who.email}


async def test_an_analyst_may_still_filter_by_what_it_may_read(gql_as: Any, world: World) -> None:
    who = person(world)
    data = await gql_as("analyst").data(
        "query($c: String) { customers(first: 5, filter: {company: $c}) "
        "{ edges { node { company } } } }",
        c=who.company.name,
    )

    assert {e["node"]["company"] for e in data["customers"]["edges"]} == {who.company.name}

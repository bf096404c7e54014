"""Query limits (depth, aliases, tokens, cost) and the in-process GCRA rate limiter."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLSyntaxError, parse, validate

from app.auth.limits import (
    QueryLimits,
    QueryTooComplex,
    check,
    check_tokens,
    count_tokens,
    estimate_cost,
)
from app.auth.ratelimit import MemoryRateLimiter
from schema import schema
from tests.dashboard import DASHBOARD

SCHEMA = schema._schema
LIMITS = QueryLimits()


def refusal(query: str, limits: QueryLimits = LIMITS, **variables: Any) -> dict[str, Any]:
    with pytest.raises(QueryTooComplex) as refused:
        check(SCHEMA, parse(query), None, variables, limits)
    return refused.value.extensions


def cost(query: str, operation: str | None = None, **variables: Any) -> int:
    return estimate_cost(SCHEMA, parse(query), operation, variables)


# --- depth ----------------------------------------------------------------------------------


def test_a_query_deeper_than_the_limit_is_refused() -> None:
    query = "{ customers { edges { node { leads { customer { leads { customer { leads { " + (
        "customer { tickets { requester { playerStats { customer { id } } } } } } } } } } } } } }"
    )
    assert refusal(query) == {"code": "QUERY_TOO_COMPLEX", "limit": "depth", "max": 12, "found": 14}


def test_a_query_exactly_at_the_depth_limit_passes() -> None:
    query = "{ customers { edges { node { leads { customer { leads { customer { leads { " + (
        "customer { tickets { requester { id } } } } } } } } } } } }"
    )
    check(SCHEMA, parse(query), None, None, QueryLimits(max_depth=12, max_cost=10_000))


def test_depth_counts_through_named_and_inline_fragments() -> None:
    query = """
      { customer(id: "hubspot:1") { ...C } }
      fragment C on Customer { ... on Customer { leads { ...L } } }
      fragment L on Lead { customer { id } }
    """
    assert refusal(query, QueryLimits(max_depth=3))["found"] == 4


def test_typename_and_introspection_fields_count_for_depth() -> None:
    query = '{ customer(id: "hubspot:1") { leads { __typename } } __schema { types { name } } }'
    assert refusal(query, QueryLimits(max_depth=2))["found"] == 3


# --- aliases --------------------------------------------------------------------------------


def test_an_alias_flood_is_refused() -> None:
    fields = " ".join(f"a{n}: id" for n in range(31))
    query = f'{{ customer(id: "hubspot:1") {{ {fields} }} }}'
    assert refusal(query)["limit"] == "aliases"
    assert refusal(query)["found"] == 31


def test_aliases_in_a_fragment_count_each_time_it_is_spread() -> None:
    query = """
      { a: customer(id: "hubspot:1") { ...F } b: customer(id: "hubspot:2") { ...F } }
      fragment F on Customer { x: id y: name }
    """
    assert refusal(query, QueryLimits(max_aliases=5))["found"] == 6


def test_a_fragment_bomb_of_aliases_is_counted_without_expanding_it() -> None:
    # F0 spreads F1 twice, F1 spreads F2 twice, …: 2**40 aliased fields once expanded.
    chain = "\n".join(
        f"fragment F{n} on Customer {{ a: leads {{ customer {{ ...F{n + 1} }} }} ...F{n + 1} }}"
        for n in range(40)
    )
    query = (
        f'{{ customer(id: "hubspot:1") {{ ...F0 }} }}\n{chain}\nfragment F40 on Customer {{ id }}'
    )
    found = refusal(query, QueryLimits(max_depth=1000))
    assert found["limit"] == "aliases"
    assert found["found"] > 30


# --- tokens ---------------------------------------------------------------------------------


def test_a_token_flood_is_counted_only_past_the_limit() -> None:
    # 100 KB of `a a a …`, ending in a character the lexer refuses: it is never reached.
    flood = "a " * 50_000 + "\u0007"
    with pytest.raises(GraphQLSyntaxError):
        count_tokens(flood, 100_000)
    assert count_tokens(flood, 3000) == 3001


def test_a_token_flood_is_refused_as_too_complex() -> None:
    with pytest.raises(QueryTooComplex) as refused:
        check_tokens("a " * 50_000, LIMITS)
    assert refused.value.extensions == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "tokens",
        "max": 3000,
        "found": 3001,
    }


def test_comments_are_not_tokens() -> None:
    assert count_tokens("{ a # b c d\n e }", 100) == 4


def test_check_counts_the_tokens_of_the_parsed_document() -> None:
    assert refusal("{ sources { name kind } }", QueryLimits(max_tokens=5))["found"] == 6


# --- fragment cycles ------------------------------------------------------------------------


def test_a_fragment_cycle_is_walked_without_hanging_and_left_to_validation() -> None:
    query = """
      { customer(id: "hubspot:1") { ...A } }
      fragment A on Customer { leads { customer { ...B } } }
      fragment B on Customer { playerStats { customer { ...A } } ...B }
    """
    document = parse(query)
    assert check(SCHEMA, document, None, None, LIMITS) == 1 + 1 + 3 + 1
    assert any("cycle" in e.message or "itself" in e.message for e in validate(SCHEMA, document))


# --- cost -----------------------------------------------------------------------------------


def test_the_dashboard_at_100_costs_its_7_real_requests() -> None:
    # 1 HubSpot search (100 of a 200 page; its total comes with it), 1 SOQL for the leads
    # (100 emails of 150), 2 for the tickets (Zendesk users + one export, 100 requesters a
    # batch), 0 for the requesters (the customers themselves, already loaded), 3 player
    # batches (one per brand, 500 a batch).
    assert cost(DASHBOARD, first=100) == 7


def test_the_dashboard_cost_follows_its_first_variable() -> None:
    # 3 search pages, ceil(500/150) = 4 SOQL, 5 x 2 ticket calls, 3 player batches.
    assert cost(DASHBOARD, first=500) == 20


def test_a_variable_default_is_used_when_the_variable_is_not_given() -> None:
    query = "query($n: Int = 400) { customers(first: $n) { totalCount } }"
    assert cost(query) == 2


def test_the_schema_default_of_first_is_used_when_it_is_not_given() -> None:
    # 10 customers x 20 tickets (Customer.tickets defaults to 20) → 200 requesters' leads:
    # 1 search + 2 ticket calls + 0 requester + ceil(200 / 150) SOQL.
    query = "{ customers(first: 10) { edges { node { tickets { requester { leads { id } } } } } } }"
    assert cost(query) == 5


def test_first_over_the_page_limit_is_clamped_for_the_estimate() -> None:
    assert cost("{ customers(first: 1000000000) { totalCount } }") == 3


def test_a_non_positive_first_still_costs_one_request() -> None:
    assert cost("query($n: Int) { customers(first: $n) { totalCount } }", n=-5) == 1


def test_total_count_costs_a_count_call_on_leads_and_tickets_only() -> None:
    query = """{
      customers(first: 10) { totalCount }
      leads(first: 10) { totalCount }
      tickets(first: 10) { totalCount }
    }"""
    assert cost(query) == 1 + 2 + 2


def test_requesters_of_a_ticket_list_cost_users_and_contacts_per_hundred() -> None:
    query = "{ tickets(first: 250) { edges { node { requester { name } } } } }"
    assert cost(query) == 1 + 3 * 2


def test_a_lookup_through_node_is_costed_by_its_fragment() -> None:
    query = '{ node(id: "hubspot:1") { id ... on Customer { playerStats { level } } } }'
    assert cost(query) == 1 + 3


def test_the_same_field_through_a_fragment_is_merged_but_an_alias_is_not() -> None:
    query = """{
      customers(first: 10) { edges { node { leads { id } ...C } } }
      again: customers(first: 10) { totalCount }
    }
    fragment C on Customer { leads { status } }"""
    assert cost(query) == (1 + 1) + 1


def test_only_the_named_operation_is_costed() -> None:
    query = """
      query Cheap { customers(first: 10) { totalCount } }
      query Dear { customers(first: 500) { totalCount } }
    """
    assert cost(query, "Cheap") == 1
    assert cost(query, "Dear") == 3


def test_fields_the_schema_does_not_have_cost_nothing() -> None:
    assert cost("{ nope { deeper { customers { id } } } customers(first: 10) { nothing } }") == 1


def test_five_nested_relations_cost_more_than_the_limit() -> None:
    query = """{ customers(first: 100) { edges { node {
      leads { customer { tickets(first: 20) { requester { playerStats { customer { name } } } } } }
    } } } }"""
    # 1 + 1 (500 leads) + 0 (their customer) + 5 x 2 (10,000 tickets) + 0 (requesters)
    # + 20 x 3 player batches + 100 contact batches.
    assert cost(query) == 172
    found = refusal(query)
    assert found["limit"] == "cost"
    assert found["found"] > 60


def test_check_returns_the_estimated_cost() -> None:
    assert check(SCHEMA, parse(DASHBOARD), "Dashboard", {"first": 100}, LIMITS) == 7


# --- the in-process rate limiter ------------------------------------------------------------


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_exactly_burst_units_are_allowed_then_refused() -> None:
    limiter = MemoryRateLimiter(rate_per_second=2, burst=5, clock=Clock())
    answers = [(await limiter.acquire("k", 1)).allowed for _ in range(6)]
    assert answers == [True] * 5 + [False]


async def test_remaining_counts_down_to_zero() -> None:
    limiter = MemoryRateLimiter(rate_per_second=2, burst=3, clock=Clock())
    assert [(await limiter.acquire("k", 1)).remaining for _ in range(3)] == [2, 1, 0]


async def test_retry_after_is_the_time_until_the_cost_fits() -> None:
    limiter = MemoryRateLimiter(rate_per_second=2, burst=3, clock=Clock())
    await limiter.acquire("k", 3)
    refused = await limiter.acquire("k", 2)
    assert (refused.allowed, refused.retry_after, refused.remaining) == (False, 1.0, 0)


async def test_the_budget_refills_at_the_rate() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(rate_per_second=2, burst=3, clock=clock)
    await limiter.acquire("k", 3)
    clock.now += 0.5
    assert (await limiter.acquire("k", 1)).allowed
    assert not (await limiter.acquire("k", 1)).allowed


async def test_waiting_retry_after_is_enough() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(rate_per_second=3, burst=4, clock=clock)
    await limiter.acquire("k", 4)
    refused = await limiter.acquire("k", 3)
    clock.now += refused.retry_after
    assert (await limiter.acquire("k", 3)).allowed


async def test_a_refused_request_charges_nothing() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(rate_per_second=1, burst=2, clock=clock)
    await limiter.acquire("k", 2)
    for _ in range(5):
        await limiter.acquire("k", 1)
    clock.now += 1
    assert (await limiter.acquire("k", 1)).allowed


async def test_a_cost_above_burst_is_clamped_to_a_full_budget() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(rate_per_second=1, burst=5, clock=clock)
    first = await limiter.acquire("k", 50)
    assert (first.allowed, first.remaining) == (True, 0)
    second = await limiter.acquire("k", 50)
    assert (second.allowed, second.retry_after) == (False, 5.0)


async def test_callers_have_separate_budgets() -> None:
    limiter = MemoryRateLimiter(rate_per_second=1, burst=1, clock=Clock())
    assert (await limiter.acquire("a", 1)).allowed
    assert (await limiter.acquire("b", 1)).allowed


async def test_a_zero_cost_is_allowed_and_charges_nothing() -> None:
    limiter = MemoryRateLimiter(rate_per_second=1, burst=1, clock=Clock())
    assert (await limiter.acquire("k", 0)).allowed
    assert (await limiter.acquire("k", 1)).allowed


async def test_a_negative_cost_is_a_programming_error() -> None:
    limiter = MemoryRateLimiter(rate_per_second=1, burst=1, clock=Clock())
    with pytest.raises(ValueError, match="negative"):
        await limiter.acquire("k", -1)


async def test_idle_callers_are_forgotten_once_their_budget_is_full() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(rate_per_second=1, burst=2, clock=clock)
    await limiter.acquire("idle", 2)
    clock.now += 2
    await limiter.acquire("busy", 1)
    assert len(limiter) == 1

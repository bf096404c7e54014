"""Per-source rate budgets, on an injected clock: nothing here really waits."""

from __future__ import annotations

import asyncio
import json

import pytest

from app.auth.ratelimit import MemoryRateLimiter
from app.connectors.errors import UpstreamRateLimited
from app.connectors.kinds import KINDS
from app.connectors.settings import SourceRateLimit
from app.resilience.budget import BudgetState, RoutePace, SourceBudget

T0 = 1_000.0


class FakeTime:
    """A clock that only moves when the budget sleeps (``advance``) or a test says so."""

    def __init__(self, advance: bool = True) -> None:
        self.now = T0
        self.slept: list[float] = []
        self.advance = advance

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.advance:
            self.now += seconds
        await asyncio.sleep(0)


def budget_of(
    kind: str, t: FakeTime, limiter: MemoryRateLimiter | None = None, **kwargs: float
) -> SourceBudget:
    return SourceBudget(kind, KINDS[kind].rates, limiter, clock=t.clock, sleep=t.sleep, **kwargs)


def hubspot(remaining: int, limit: int = 100, interval_ms: int = 10_000) -> dict[str, str]:
    return {
        "X-HubSpot-RateLimit-Max": str(limit),
        "X-HubSpot-RateLimit-Remaining": str(remaining),
        "X-HubSpot-RateLimit-Interval-Milliseconds": str(interval_ms),
    }


def player_stats(remaining: int, reset: int, limit: int = 100) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(reset),
    }


def salesforce(used: int, allowance: int) -> dict[str, str]:
    return {"Sforce-Limit-Info": f"api-usage={used}/{allowance}"}


LIMIT_EXCEEDED = json.dumps(
    [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
).encode()


async def acquire_times(budget: SourceBudget, t: FakeTime, count: int) -> list[float]:
    """Send ``count`` requests one after another; the clock value at which each went."""
    times = []
    for _ in range(count):
        await budget.acquire(None)
        times.append(t.now)
    return times


# --- the configured pace ----------------------------------------------------------------------


async def test_the_configured_pace_spaces_requests() -> None:
    t = FakeTime()
    budget = budget_of("hubspot", t, MemoryRateLimiter(2, burst=1, clock=t.clock))
    assert await acquire_times(budget, t, 3) == pytest.approx([T0, T0 + 0.5, T0 + 1.0])


async def test_the_configured_burst_goes_without_waiting() -> None:
    t = FakeTime()
    budget = budget_of("hubspot", t, MemoryRateLimiter(2, burst=4, clock=t.clock))
    await acquire_times(budget, t, 4)
    assert t.slept == []


async def test_without_a_configured_limit_or_headers_nothing_waits() -> None:
    t = FakeTime()
    budget = budget_of("zendesk", t)
    await acquire_times(budget, t, 50)
    assert t.slept == []


async def test_a_route_with_a_pace_of_its_own_waits_for_it_and_others_do_not() -> None:
    t = FakeTime()
    search = "POST /crm/v3/objects/contacts/search"
    pace = MemoryRateLimiter(3, burst=1, clock=t.clock)
    budget = SourceBudget(
        "hubspot", KINDS["hubspot"].rates, None, clock=t.clock, sleep=t.sleep,
        cold_start=False, routes={search: RoutePace(pace, 1.0)},
    )  # fmt: skip
    times = []
    for _ in range(4):
        await budget.acquire(None, search)
        times.append(t.now)
    assert times == pytest.approx([T0, T0 + 1 / 3, T0 + 2 / 3, T0 + 1])
    before = t.now
    for _ in range(10):
        await budget.acquire(None, "POST /crm/v3/objects/contacts/batch/read")
    assert t.now == before  # another route is not held
    with pytest.raises(UpstreamRateLimited, match="the pace of POST"):
        await budget.acquire(t.now + 0.1, search)  # the next slot is 1/3 s away


def paced_route_budget(t: FakeTime, route: str) -> SourceBudget:
    pace = RoutePace(MemoryRateLimiter(100, burst=100, clock=t.clock), window=60.0)
    return SourceBudget(
        "zendesk", KINDS["zendesk"].rates, None, clock=t.clock, sleep=t.sleep,
        cold_start=False, routes={route: pace},
    )  # fmt: skip


EXPORT = "GET /api/v2/search/export"
SHOW_MANY = "GET /api/v2/tickets/show_many"


@pytest.mark.parametrize(
    ("headers", "pause"),
    [
        ({"Retry-After": "30"}, 30.0),
        ({"Retry-After": "30", "X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "650"}, 30.0),
        ({}, 60.0),  # no Retry-After: the route's window
    ],
    ids=["retry-after", "account headers with requests left", "nothing said"],
)
async def test_a_refusal_of_a_routes_own_limit_pauses_that_route_alone(
    headers: dict[str, str], pause: float
) -> None:
    """Zendesk's export allows 100 a minute per account: another app may spend it. Its 429
    holds exports, not the account's other calls."""
    t = FakeTime()
    budget = paced_route_budget(t, EXPORT)
    budget.observe(429, headers, route=EXPORT)
    await acquire_times(budget, t, 5)  # other calls go at once
    for _ in range(5):
        await budget.acquire(t.now + 1, SHOW_MANY)
    assert t.slept == []
    assert budget.state().paused_until is None
    with pytest.raises(UpstreamRateLimited, match="GET /api/v2/search/export paused") as raised:
        await budget.acquire(t.now + 5, EXPORT)
    assert raised.value.retry_after == pytest.approx(pause)
    await budget.acquire(None, EXPORT)  # waits it out
    assert t.now == pytest.approx(T0 + pause)


async def test_a_refusal_of_a_paced_route_that_shows_the_account_spent_pauses_the_source() -> None:
    t = FakeTime()
    budget = paced_route_budget(t, EXPORT)
    spent = {"Retry-After": "20", "X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "0"}
    budget.observe(429, spent, route=EXPORT)
    with pytest.raises(UpstreamRateLimited, match="paused by the CRM's limit"):
        await budget.acquire(t.now + 5, SHOW_MANY)


@pytest.mark.parametrize(
    ("requests", "per_seconds", "burst"),
    [(4, 1, 1), (100, 60, 10), (10, 2, 1), (25, 10, 2), (1, 5, 1)],
    ids=["hubspot search", "zendesk export", "10 in 2 s", "25 in 10 s", "1 in 5 s"],
)
async def test_a_routes_pace_keeps_every_window_to_its_limit_and_fills_it(
    requests: int, per_seconds: float, burst: int
) -> None:
    rate, got = SourceRateLimit(requests=requests, per_seconds=per_seconds).route_pace()
    assert got == burst
    t = FakeTime()
    route = "GET /api/v2/search/export"
    limiter = MemoryRateLimiter(rate, burst=got, clock=t.clock)
    budget = SourceBudget(
        "zendesk", KINDS["zendesk"].rates, None, clock=t.clock, sleep=t.sleep,
        cold_start=False, routes={route: RoutePace(limiter, per_seconds)},
    )  # fmt: skip
    times = []
    for _ in range(3 * requests):  # as fast as the pace lets them go
        await budget.acquire(None, route)
        times.append(t.now)
    for start in times:  # no window of per_seconds holds more than the limit
        assert sum(1 for x in times if start <= x < start + per_seconds - 1e-6) <= requests
    # ...and none is held longer than that needs: a limit's worth goes within one window.
    assert times[requests - 1] - times[0] <= per_seconds + 1e-3  # microsecond rounding


# --- headroom pacing, per vendor ---------------------------------------------------------------


async def test_hubspot_spreads_the_last_tenth_over_the_rest_of_its_window() -> None:
    t = FakeTime()
    budget = budget_of("hubspot", t)
    await budget.acquire(None)
    budget.observe(200, hubspot(remaining=5))  # 5 left of 100, window of 10 s: one every 2 s
    assert await acquire_times(budget, t, 3) == pytest.approx([T0 + 2, T0 + 4, T0 + 6])


async def test_hubspot_window_is_estimated_from_the_first_answer_in_it() -> None:
    t = FakeTime()
    budget = budget_of("hubspot", t)
    budget.observe(200, hubspot(remaining=60))  # the window ends by T0 + 10
    await budget.acquire(None)
    t.now += 4
    budget.observe(200, hubspot(remaining=3))  # 6 s left for 3 requests
    assert await acquire_times(budget, t, 2) == pytest.approx([T0 + 4, T0 + 6])


async def test_hubspot_more_remaining_than_before_starts_a_new_window_estimate() -> None:
    t = FakeTime()
    budget = budget_of("hubspot", t)
    budget.observe(200, hubspot(remaining=50))
    t.now += 4
    budget.observe(200, hubspot(remaining=99))  # the window reset since: it ends by T0 + 14
    budget.observe(200, hubspot(remaining=0))
    assert budget.state().paused_until == T0 + 14


async def test_pacing_starts_only_under_the_headroom() -> None:
    t = FakeTime()
    budget = budget_of("hubspot", t)
    budget.observe(200, hubspot(remaining=10))  # exactly 10 % left
    await acquire_times(budget, t, 5)
    assert t.slept == []


async def test_zendesk_spreads_the_remaining_until_ratelimit_reset() -> None:
    t = FakeTime()
    budget = budget_of("zendesk", t)
    await budget.acquire(None)
    budget.observe(
        200,
        {
            "X-Rate-Limit": "700",
            "X-Rate-Limit-Remaining": "35",
            "ratelimit-remaining": "35",
            "ratelimit-reset": "7",
        },
    )
    assert await acquire_times(budget, t, 2) == pytest.approx([T0 + 0.2, T0 + 0.4])


async def test_zendesk_uses_the_lower_of_its_two_remaining_counts() -> None:
    t = FakeTime()
    budget = budget_of("zendesk", t)
    await budget.acquire(None)
    budget.observe(
        200,
        {
            "X-Rate-Limit": "700",
            "X-Rate-Limit-Remaining": "500",
            "ratelimit-remaining": "7",
            "ratelimit-reset": "14",
        },
    )
    assert await acquire_times(budget, t, 1) == pytest.approx([T0 + 2])


async def test_zendesk_without_a_reset_assumes_a_minute_window() -> None:
    t = FakeTime()
    budget = budget_of("zendesk", t)
    await budget.acquire(None)
    budget.observe(200, {"X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "30"})
    assert await acquire_times(budget, t, 1) == pytest.approx([T0 + 2])


async def test_player_stats_spreads_the_remaining_until_ratelimit_reset() -> None:
    t = FakeTime()
    budget = budget_of("player_stats", t)
    await budget.acquire(None)
    budget.observe(200, player_stats(remaining=4, reset=8))
    assert await acquire_times(budget, t, 2) == pytest.approx([T0 + 2, T0 + 4])


async def test_salesforce_spreads_the_remaining_allowance_over_a_day() -> None:
    t = FakeTime()
    budget = budget_of("salesforce", t)
    await budget.acquire(None)
    budget.observe(200, salesforce(95_000, 100_000))  # 5,000 left for 86,400 s
    assert await acquire_times(budget, t, 1) == pytest.approx([T0 + 17.28])


async def test_salesforce_nearly_spent_still_calls_once_a_minute() -> None:
    t = FakeTime()
    budget = budget_of("salesforce", t)
    await budget.acquire(None)
    budget.observe(200, salesforce(99_990, 100_000))
    assert await acquire_times(budget, t, 2) == pytest.approx([T0 + 60, T0 + 120])


async def test_salesforce_window_can_be_given() -> None:
    t = FakeTime()
    budget = budget_of("salesforce", t, window=10)
    await budget.acquire(None)
    budget.observe(200, salesforce(95, 100))
    assert await acquire_times(budget, t, 1) == pytest.approx([T0 + 2])


async def test_pacing_ends_when_the_window_resets() -> None:
    t = FakeTime()
    budget = budget_of("player_stats", t)
    await budget.acquire(None)
    budget.observe(200, player_stats(remaining=2, reset=8))
    t.now += 8
    await acquire_times(budget, t, 3)
    assert t.slept == []


async def test_an_answer_with_headroom_again_ends_pacing() -> None:
    t = FakeTime()
    budget = budget_of("player_stats", t)
    await budget.acquire(None)
    budget.observe(200, player_stats(remaining=2, reset=8))
    budget.observe(200, player_stats(remaining=90, reset=8))
    await acquire_times(budget, t, 3)
    assert t.slept == []


async def test_concurrent_requests_take_successive_slots() -> None:
    t = FakeTime(advance=False)
    budget = budget_of("player_stats", t)
    await budget.acquire(None)
    budget.observe(200, player_stats(remaining=4, reset=8))
    await asyncio.gather(*(budget.acquire(None) for _ in range(3)))
    assert sorted(t.slept) == pytest.approx([2, 4, 6])


async def test_pacing_never_holds_a_request_past_the_window_reset() -> None:
    t = FakeTime(advance=False)
    budget = budget_of("player_stats", t)
    await budget.acquire(None)
    budget.observe(200, player_stats(remaining=2, reset=3))
    await asyncio.gather(*(budget.acquire(None) for _ in range(4)))
    assert sorted(t.slept) == pytest.approx([1.5, 3, 3, 3])


# --- pauses -----------------------------------------------------------------------------------


async def test_no_remaining_pauses_until_the_reset() -> None:
    t = FakeTime()
    budget = budget_of("player_stats", t)
    budget.observe(200, player_stats(remaining=0, reset=7))
    assert budget.state().paused_until == T0 + 7
    assert await acquire_times(budget, t, 1) == [T0 + 7]


async def test_hubspot_no_remaining_pauses_until_the_estimated_window_end() -> None:
    t = FakeTime()
    budget = budget_of("hubspot", t)
    budget.observe(200, hubspot(remaining=50))
    t.now += 3
    budget.observe(200, hubspot(remaining=0))
    assert budget.state().paused_until == T0 + 10


async def test_a_429_pauses_for_retry_after() -> None:
    t = FakeTime()
    budget = budget_of("zendesk", t)
    headers = {"X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "0", "ratelimit-reset": "30"}
    budget.observe(429, {**headers, "Retry-After": "5"})
    assert await acquire_times(budget, t, 1) == [T0 + 5]


async def test_a_hubspot_429_without_retry_after_pauses_for_its_window() -> None:
    t = FakeTime()
    budget = budget_of("hubspot", t)
    budget.observe(429, hubspot(remaining=0, interval_ms=10_000))
    assert budget.state().paused_until == T0 + 10


async def test_a_429_without_headers_pauses_for_the_vendor_window() -> None:
    t = FakeTime()
    budget = budget_of("zendesk", t)
    budget.observe(429, {})
    assert budget.state().paused_until == T0 + 60


async def test_the_salesforce_limit_exceeded_403_pauses() -> None:
    t = FakeTime()
    budget = budget_of("salesforce", t)
    budget.observe(403, salesforce(100_000, 100_000), LIMIT_EXCEEDED)
    assert await acquire_times(budget, t, 1) == [T0 + 60]


async def test_another_salesforce_403_does_not_pause() -> None:
    t = FakeTime()
    budget = budget_of("salesforce", t)
    body = json.dumps([{"message": "no", "errorCode": "INSUFFICIENT_ACCESS"}]).encode()
    budget.observe(403, salesforce(10, 100_000), body)
    assert budget.state().paused_until is None


async def test_salesforce_pauses_double_while_the_allowance_stays_spent() -> None:
    t = FakeTime()
    budget = budget_of("salesforce", t)
    budget.observe(403, {}, LIMIT_EXCEEDED)
    await budget.acquire(None)
    budget.observe(403, {}, LIMIT_EXCEEDED)
    await budget.acquire(None)
    assert t.slept == [60, 120]


async def test_salesforce_pause_is_back_to_a_minute_once_calls_are_left() -> None:
    t = FakeTime()
    budget = budget_of("salesforce", t)
    budget.observe(403, {}, LIMIT_EXCEEDED)
    await budget.acquire(None)
    budget.observe(200, salesforce(50_000, 100_000))
    budget.observe(403, {}, LIMIT_EXCEEDED)
    await budget.acquire(None)
    assert t.slept == [60, 60]


async def test_salesforce_refusals_during_a_pause_do_not_lengthen_it() -> None:
    t = FakeTime()
    budget = budget_of("salesforce", t)
    for _ in range(5):  # answers to calls sent before the first refusal
        budget.observe(403, {}, LIMIT_EXCEEDED)
    assert budget.state().paused_until == T0 + 60


async def test_salesforce_usage_reaching_the_allowance_pauses() -> None:
    t = FakeTime()
    budget = budget_of("salesforce", t)
    budget.observe(200, salesforce(100_000, 100_000))
    assert budget.state().paused_until == T0 + 60


async def test_a_shorter_retry_after_does_not_shorten_a_pause() -> None:
    t = FakeTime()
    budget = budget_of("player_stats", t)
    budget.observe(429, {"Retry-After": "10"})
    budget.observe(429, {"Retry-After": "2"})
    assert budget.state().paused_until == T0 + 10


async def test_a_huge_retry_after_pauses_for_a_day_at_most() -> None:
    t = FakeTime()
    budget = budget_of("player_stats", t)
    budget.observe(429, {"Retry-After": "1000000000"})
    assert budget.state().paused_until == T0 + 86_400


# --- deadlines --------------------------------------------------------------------------------


async def test_a_pause_past_the_deadline_fails_fast_with_retry_after() -> None:
    t = FakeTime()
    budget = budget_of("player_stats", t)
    budget.observe(429, {"Retry-After": "5"})
    with pytest.raises(UpstreamRateLimited) as refused:
        await budget.acquire(T0 + 2)
    assert (refused.value.source, refused.value.retry_after) == ("player_stats", 5)
    assert refused.value.code == "UPSTREAM_RATE_LIMITED"
    assert t.slept == []


async def test_the_configured_pace_past_the_deadline_fails_fast() -> None:
    t = FakeTime()
    budget = budget_of("hubspot", t, MemoryRateLimiter(1, burst=1, clock=t.clock))
    await budget.acquire(None)
    with pytest.raises(UpstreamRateLimited) as refused:
        await budget.acquire(T0 + 0.5)
    assert refused.value.retry_after == pytest.approx(1.0)
    assert t.slept == []


async def test_a_pacing_slot_past_the_deadline_fails_fast() -> None:
    t = FakeTime()
    budget = budget_of("player_stats", t)
    await budget.acquire(None)
    budget.observe(200, player_stats(remaining=4, reset=8))
    with pytest.raises(UpstreamRateLimited) as refused:
        await budget.acquire(T0 + 1)
    assert refused.value.retry_after == pytest.approx(2)
    assert t.slept == []


async def test_waits_in_turn_never_sleep_past_the_deadline() -> None:
    t = FakeTime()
    budget = budget_of("hubspot", t, MemoryRateLimiter(0.5, burst=1, clock=t.clock))
    await budget.acquire(None)  # the pace allows the next request at T0 + 2
    budget.observe(429, {"Retry-After": "1"})
    with pytest.raises(UpstreamRateLimited) as refused:
        await budget.acquire(T0 + 1.5)
    assert t.slept == [1]  # the pause, then the pace would pass the deadline
    assert refused.value.retry_after == pytest.approx(1.0)


async def test_budget_exactly_at_the_deadline_is_had() -> None:
    t = FakeTime()
    budget = budget_of("player_stats", t)
    budget.observe(429, {"Retry-After": "3"})
    await budget.acquire(T0 + 3)
    assert t.now == T0 + 3


# --- malformed headers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "headers"),
    [
        ("hubspot", {"X-HubSpot-RateLimit-Max": "lots", "X-HubSpot-RateLimit-Remaining": "0"}),
        ("hubspot", {"X-HubSpot-RateLimit-Max": "100", "X-HubSpot-RateLimit-Remaining": "-1"}),
        ("hubspot", {"X-HubSpot-RateLimit-Max": "100", "X-HubSpot-RateLimit-Remaining": "nan"}),
        ("hubspot", {"X-HubSpot-RateLimit-Max": "0", "X-HubSpot-RateLimit-Remaining": "0"}),
        ("hubspot", {"X-HubSpot-RateLimit-Max": "10", "X-HubSpot-RateLimit-Remaining": "50"}),
        ("hubspot", {"X-HubSpot-RateLimit-Remaining": "0"}),
        ("zendesk", {"X-Rate-Limit": "", "X-Rate-Limit-Remaining": "0"}),
        ("zendesk", {"X-Rate-Limit": "inf", "X-Rate-Limit-Remaining": "0"}),
        ("zendesk", {"X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "0x0"}),
        ("salesforce", {"Sforce-Limit-Info": "api-usage=many/100"}),
        ("salesforce", {"Sforce-Limit-Info": "api-usage=100/0"}),
        ("salesforce", {"Sforce-Limit-Info": "per-app-api-usage=100/100(appName=crmgraph)"}),
        ("player_stats", {"RateLimit-Limit": "100", "RateLimit-Remaining": "1e400"}),
        ("player_stats", {"RateLimit-Limit": "½", "RateLimit-Remaining": "0"}),
    ],
)
async def test_malformed_rate_headers_are_ignored(kind: str, headers: dict[str, str]) -> None:
    t = FakeTime()
    budget = budget_of(kind, t)
    budget.observe(200, headers)
    await acquire_times(budget, t, 3)
    assert budget.state() == BudgetState(None, None, None, kind)
    assert t.slept == []


@pytest.mark.parametrize("body", [b"not json", b"\xff\xfe\x00", b"[" * 100_000, b"", b"{}"])
async def test_a_salesforce_403_with_an_unreadable_body_does_not_pause(body: bytes) -> None:
    t = FakeTime()
    budget = budget_of("salesforce", t)
    budget.observe(403, {}, body)
    assert budget.state().paused_until is None


async def test_a_retry_after_date_falls_back_to_the_reset() -> None:
    t = FakeTime()
    budget = budget_of("player_stats", t)
    retry = {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
    budget.observe(429, {**player_stats(remaining=0, reset=12), **retry})
    assert budget.state().paused_until == T0 + 12


async def test_a_malformed_reset_falls_back_to_the_estimated_window() -> None:
    t = FakeTime()
    budget = budget_of("player_stats", t)
    budget.observe(
        200, {"RateLimit-Limit": "100", "RateLimit-Remaining": "0", "RateLimit-Reset": "soon"}
    )
    assert budget.state().paused_until == T0 + 60


@pytest.mark.parametrize("interval", ["ten", "0", "-10000"])
async def test_a_malformed_hubspot_interval_falls_back_to_ten_seconds(interval: str) -> None:
    t = FakeTime()
    budget = budget_of("hubspot", t)
    headers = {**hubspot(remaining=0), "X-HubSpot-RateLimit-Interval-Milliseconds": interval}
    budget.observe(200, headers)
    assert budget.state().paused_until == T0 + 10


# --- visibility -------------------------------------------------------------------------------


async def test_state_shows_what_the_crm_last_reported() -> None:
    t = FakeTime()
    budget = budget_of("hubspot", t)
    budget.observe(200, hubspot(remaining=42, limit=190))
    assert budget.state() == BudgetState(190, 42, None, "hubspot")


async def test_state_shows_no_pause_once_it_has_passed() -> None:
    t = FakeTime()
    budget = budget_of("player_stats", t)
    budget.observe(429, {"Retry-After": "5"})
    t.now += 5
    assert budget.state().paused_until is None


def test_every_kind_declares_a_positive_assumed_window() -> None:
    for kind in KINDS.values():
        assert kind.rates.window > 0, kind.name


# --- cold start ---------------------------------------------------------------------------------


async def in_flight(budget: SourceBudget, answered: asyncio.Event) -> None:
    """One request: let go by the budget, then in flight until ``answered``."""
    await budget.acquire(None)
    await answered.wait()


async def test_before_any_rate_headers_only_two_requests_are_in_flight() -> None:
    t = FakeTime(advance=False)
    budget = budget_of("player_stats", t)
    answered = asyncio.Event()
    sent = [asyncio.create_task(in_flight(budget, answered)) for _ in range(2)]
    third = asyncio.create_task(budget.acquire(None))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not third.done()  # held by the cold gate until an answer
    budget.observe(200, player_stats(remaining=90, reset=30))
    await third
    more = [asyncio.create_task(in_flight(budget, answered)) for _ in range(20)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert all(s == pytest.approx(0.01) for s in t.slept)  # only the third polled the gate
    answered.set()
    await asyncio.gather(*sent, *more)


async def test_the_cold_gate_waits_no_later_than_the_deadline() -> None:
    t = FakeTime()
    budget = budget_of("player_stats", t)
    answered = asyncio.Event()
    sent = [asyncio.create_task(in_flight(budget, answered)) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(UpstreamRateLimited) as refused:
        await budget.acquire(T0 + 0.5)
    assert refused.value.retry_after is not None
    assert t.now <= T0 + 0.5
    answered.set()
    await asyncio.gather(*sent)


async def test_a_request_that_ends_without_an_answer_frees_the_cold_gate() -> None:
    t = FakeTime()
    budget = budget_of("salesforce", t)
    await asyncio.gather(*(budget.acquire(None) for _ in range(2)))  # then their tasks ended
    await acquire_times(budget, t, 10)  # one task: each request ends before the next
    assert t.slept == []


async def test_an_answer_without_headers_opens_the_cold_gate() -> None:
    t = FakeTime()
    budget = budget_of("salesforce", t)
    answered = asyncio.Event()
    sent = [asyncio.create_task(in_flight(budget, answered)) for _ in range(2)]
    await asyncio.sleep(0)
    budget.observe(500, {})
    sent += [asyncio.create_task(in_flight(budget, answered)) for _ in range(10)]
    for _ in range(3):
        await asyncio.sleep(0)
    answered.set()
    await asyncio.gather(*sent)
    assert t.slept == []


async def test_a_documented_default_limit_is_the_starting_estimate() -> None:
    t = FakeTime()
    budget = budget_of("zendesk", t)  # Team's 200 a minute until the headers say
    times = await acquire_times(budget, t, 200)
    assert t.slept[0] == pytest.approx(60 / 19)  # the last tenth spread over the minute
    assert times[179] == T0
    assert times[-1] <= T0 + 60
    assert (await acquire_times(budget, t, 1))[0] >= T0 + 60  # the estimated window is spent


async def test_requests_in_flight_count_against_what_the_headers_report() -> None:
    t = FakeTime(advance=False)
    budget = budget_of("player_stats", t)
    answered = asyncio.Event()
    sent = [asyncio.create_task(in_flight(budget, answered)) for _ in range(2)]
    await asyncio.sleep(0)
    budget.observe(200, player_stats(remaining=50, reset=10))  # one still in flight
    sent += [asyncio.create_task(in_flight(budget, answered)) for _ in range(49)]
    for _ in range(3):
        await asyncio.sleep(0)
    assert t.slept == []
    late = asyncio.create_task(budget.acquire(None))  # the 50th of 50 is the one in flight
    await asyncio.sleep(0)
    assert t.slept == [10]  # it waits for the reset
    await late
    answered.set()
    await asyncio.gather(*sent)

"""The player-stats simulator over real loopback HTTP, against player-stats.md."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.simulators.credentials import PLAYERS_API_KEY
from app.simulators.world import LEVEL_NAMES, PlayerSeed, World

BRAND = "luckyspin"
OTHER_BRAND = "goldcoast"
BATCH_GET = "/v1/players/stats:batchGet"


def brand_headers(brand: str = BRAND) -> dict[str, str]:
    return {"X-API-Key": PLAYERS_API_KEY, "X-Brand-Key": brand}


def seeds_of(world: World, brand: str) -> list[PlayerSeed]:
    return [p for p in world.players if p.person.brand.key == brand]


def ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]


@pytest.fixture
async def players(simulators, control) -> AsyncIterator[httpx.AsyncClient]:
    """A client of one brand; the seeded data are restored after each test."""
    async with httpx.AsyncClient(
        base_url=simulators.url("/players"), headers=brand_headers(), timeout=10
    ) as client:
        yield client
    (await control.post("/players/__reset", params={"data": "true"})).raise_for_status()


@pytest.fixture
async def anonymous(simulators, control) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sends no credentials unless a test names them."""
    async with httpx.AsyncClient(base_url=simulators.url("/players"), timeout=10) as client:
        yield client


@pytest.fixture
def seed(world: World) -> PlayerSeed:
    return seeds_of(world, BRAND)[0]


@pytest.fixture
def foreign(world: World) -> PlayerSeed:
    return seeds_of(world, OTHER_BRAND)[0]


async def read_all(client: httpx.AsyncClient, brand: str = BRAND, **params) -> list[dict]:
    found, cursor = [], None
    while True:
        query = {"limit": 1000, **params} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/v1/players", params=query, headers=brand_headers(brand))
        assert response.status_code == 200, response.text
        found += response.json()["players"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return found


async def award(client: httpx.AsyncClient, player_id: str, delta: int, key: str, reason="promo"):
    body = {"delta": delta, "reason": reason, "idempotency_key": key}
    return await client.post(f"/v1/players/{player_id}/points", json=body)


# -- authentication and brands ---------------------------------------------------------------


async def test_a_request_without_an_api_key_is_401(anonymous, seed) -> None:
    response = await anonymous.get(
        f"/v1/players/{seed.player_id}/stats", headers={"X-Brand-Key": BRAND}
    )
    assert_error(response, 401, "UNAUTHENTICATED")


async def test_a_wrong_api_key_is_401(players, seed) -> None:
    response = await players.get(
        f"/v1/players/{seed.player_id}/stats", headers={"X-API-Key": "not-the-key"}
    )
    assert_error(response, 401, "UNAUTHENTICATED")


async def test_a_request_without_a_brand_header_is_400(anonymous, seed) -> None:
    response = await anonymous.get(
        f"/v1/players/{seed.player_id}/stats", headers={"X-API-Key": PLAYERS_API_KEY}
    )
    assert_error(response, 400, "BRAND_REQUIRED")


async def test_a_brand_the_key_may_not_name_is_400_brand_not_allowed(players, seed) -> None:
    response = await players.get(
        f"/v1/players/{seed.player_id}/stats", headers={"X-Brand-Key": "nosuchbrand"}
    )
    assert_error(response, 400, "BRAND_NOT_ALLOWED")


async def test_brands_lists_every_world_brand_without_a_brand_header(anonymous, world) -> None:
    response = await anonymous.get("/v1/brands", headers={"X-API-Key": PLAYERS_API_KEY})
    assert response.status_code == 200
    assert response.json() == {"brands": [{"key": b.key, "name": b.name} for b in world.brands]}


async def test_brands_need_the_api_key(anonymous) -> None:
    response = await anonymous.get("/v1/brands")
    assert_error(response, 401, "UNAUTHENTICATED")


async def test_an_unknown_route_is_404_in_the_error_shape(players) -> None:
    assert_error(await players.get("/v1/nothing"), 404, "NOT_FOUND")


async def test_a_wrong_method_is_405_in_the_error_shape(players) -> None:
    response = await players.get(BATCH_GET)
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "POST"


# -- read one --------------------------------------------------------------------------------


async def test_read_one_returns_the_seeded_player_in_the_wire_format(players, seed) -> None:
    response = await players.get(f"/v1/players/{seed.player_id}/stats")
    assert response.status_code == 200
    player = response.json()["player"]
    brand = seed.person.brand
    assert {k: v for k, v in player.items() if k != "last_login"} == {
        "player_id": seed.player_id,
        "brand": brand.key,
        "email": seed.person.email,
        "country": brand.country,
        "currency": brand.currency,
        "registered_at": ms(seed.registered_at),
        "tz": brand.tz,
        "updated_at": ms(seed.updated_at),
        "level": {"id": seed.level, "name": LEVEL_NAMES[seed.level - 1]},
        "points_balance": seed.points_balance,
        "points_ever": seed.points_ever,
        "deposits": {"count": seed.deposit_count, "total_minor": seed.deposits_minor},
        "withdrawals": {"count": seed.withdrawal_count, "total_minor": seed.withdrawals_minor},
        "bets_total_minor": seed.bets_minor,
        "wins_total_minor": seed.wins_minor,
        "bonus_total_minor": seed.bonus_minor,
        "missions_completed": seed.missions_completed,
        "tournaments_played": seed.tournaments_played,
        "churn_score": seed.churn_score,
        "predicted_ltv_minor": seed.predicted_ltv_minor,
    }


async def test_read_one_of_an_unknown_id_is_404_player_not_found(players) -> None:
    assert_error(await players.get("/v1/players/p-999999/stats"), 404, "PLAYER_NOT_FOUND")


async def test_a_player_of_another_brand_is_not_found(players, foreign) -> None:
    response = await players.get(f"/v1/players/{foreign.player_id}/stats")
    assert_error(response, 404, "PLAYER_NOT_FOUND")


async def test_emails_are_lower_case_and_match_the_world(players, world) -> None:
    served = {p["player_id"]: p["email"] for p in await read_all(players)}
    assert served == {s.player_id: s.person.email.lower() for s in seeds_of(world, BRAND)}
    assert all(email == email.lower() for email in served.values())


@pytest.mark.parametrize(
    ("brand", "winter_hours", "summer_hours"),
    [("luckyspin", -3, -3), ("goldcoast", 1, 2), ("northstar", 0, 1)],
)
async def test_last_login_is_local_wall_time_of_the_brand_zone_across_dst(
    players, world, brand, winter_hours, summer_hours
) -> None:
    # Offsets are written out, not computed with zoneinfo, so a wrong conversion shows.
    seeds = {s.player_id: s for s in seeds_of(world, brand)}
    seen = {"winter": 0, "summer": 0}
    for player in await read_all(players, brand):
        utc = seeds[player["player_id"]].last_login
        local = datetime.strptime(player["last_login"], "%d/%m/%Y %H:%M").replace(tzinfo=UTC)
        season = "winter" if utc.month in (12, 1, 2) else "summer" if 5 <= utc.month <= 9 else ""
        if season:
            hours = winter_hours if season == "winter" else summer_hours
            assert local == utc.replace(second=0) + timedelta(hours=hours), player
            seen[season] += 1
    assert seen["winter"]
    assert seen["summer"]


async def test_last_login_is_the_minute_of_the_seeded_instant(players, seed) -> None:
    player = (await players.get(f"/v1/players/{seed.player_id}/stats")).json()["player"]
    local = seed.last_login.astimezone(ZoneInfo(seed.person.brand.tz))
    assert player["last_login"] == local.strftime("%d/%m/%Y %H:%M")


# -- read many -------------------------------------------------------------------------------


async def test_batch_get_returns_the_players_found_and_the_ids_not_found(players, world) -> None:
    wanted = [s.player_id for s in seeds_of(world, BRAND)[:5]]
    response = await players.post(BATCH_GET, json={"player_ids": [*wanted, "p-999999"]})
    assert response.status_code == 200
    body = response.json()
    assert sorted(p["player_id"] for p in body["players"]) == sorted(wanted)
    assert body["not_found"] == ["p-999999"]


async def test_batch_get_answers_in_updated_at_order_not_in_the_order_asked(players, world) -> None:
    seeds = seeds_of(world, BRAND)[:50]
    asked = sorted((s.player_id for s in seeds), reverse=True)
    body = (await players.post(BATCH_GET, json={"player_ids": asked})).json()
    answered = [p["player_id"] for p in body["players"]]
    assert answered != asked
    expected = sorted(seeds, key=lambda s: (ms(s.updated_at), s.player_id))
    assert answered == [s.player_id for s in expected]


async def test_batch_get_reports_players_of_another_brand_as_not_found(
    players, seed, foreign
) -> None:
    body = (
        await players.post(BATCH_GET, json={"player_ids": [seed.player_id, foreign.player_id]})
    ).json()
    assert [p["player_id"] for p in body["players"]] == [seed.player_id]
    assert body["not_found"] == [foreign.player_id]


async def test_batch_get_answers_a_duplicated_id_once(players, seed) -> None:
    asked = [seed.player_id, "p-999999", seed.player_id, "p-999999"]
    body = (await players.post(BATCH_GET, json={"player_ids": asked})).json()
    assert [p["player_id"] for p in body["players"]] == [seed.player_id]
    assert body["not_found"] == ["p-999999"]


async def test_batch_get_of_no_ids_answers_empty_lists(players) -> None:
    response = await players.post(BATCH_GET, json={"player_ids": []})
    assert response.json() == {"players": [], "not_found": []}


async def test_batch_get_takes_500_ids(players, world) -> None:
    known = [s.player_id for s in seeds_of(world, BRAND)]
    asked = known + [f"p-9{i:05d}" for i in range(500 - len(known))]
    response = await players.post(BATCH_GET, json={"player_ids": asked})
    assert response.status_code == 200
    assert len(response.json()["players"]) == len(known)
    assert len(response.json()["not_found"]) == 500 - len(known)


async def test_batch_get_of_501_ids_is_400(players) -> None:
    asked = [f"p-{i:06d}" for i in range(501)]
    assert_error(await players.post(BATCH_GET, json={"player_ids": asked}), 400, "TOO_MANY_IDS")


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", b'{"ids": ["p-000001"]}', b'{"player_ids": "p-000001"}', b""],
    ids=["malformed", "not-an-object", "missing-field", "not-a-list", "empty"],
)
async def test_batch_get_of_a_bad_body_is_400(players, body) -> None:
    assert_error(await players.post(BATCH_GET, content=body), 400, "INVALID_REQUEST")


# -- list / poll -----------------------------------------------------------------------------


async def test_list_pages_through_every_player_of_the_brand_by_updated_at(players, world) -> None:
    found, cursor, pages = [], None, 0
    while True:
        params = {"limit": 100} | ({"cursor": cursor} if cursor else {})
        body = (await players.get("/v1/players", params=params)).json()
        found += body["players"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    seeds = seeds_of(world, BRAND)
    assert [p["player_id"] for p in found] == [
        s.player_id for s in sorted(seeds, key=lambda s: (ms(s.updated_at), s.player_id))
    ]
    assert pages == -(-len(seeds) // 100)


async def test_list_pages_hold_100_players_by_default(players) -> None:
    body = (await players.get("/v1/players")).json()
    assert len(body["players"]) == 100
    assert body["next_cursor"]


async def test_list_next_cursor_is_null_when_the_last_page_is_exactly_full(players, world) -> None:
    count = len(seeds_of(world, BRAND))
    full = (await players.get("/v1/players", params={"limit": count})).json()
    short = (await players.get("/v1/players", params={"limit": count - 1})).json()
    assert (len(full["players"]), full["next_cursor"]) == (count, None)
    assert short["next_cursor"] is not None


async def test_list_updated_since_is_inclusive(players, world) -> None:
    seeds = sorted(seeds_of(world, BRAND), key=lambda s: (ms(s.updated_at), s.player_id))
    pivot = seeds[len(seeds) // 2]
    listed = await read_all(players, updated_since=ms(pivot.updated_at))
    assert listed[0]["updated_at"] == ms(pivot.updated_at)
    assert [p["player_id"] for p in listed] == [
        s.player_id for s in seeds if ms(s.updated_at) >= ms(pivot.updated_at)
    ]


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "ten", "1.5", ""])
async def test_list_limit_out_of_range_is_400(players, limit) -> None:
    response = await players.get("/v1/players", params={"limit": limit})
    assert_error(response, 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize("since", ["-5", "yesterday", "2024-01-01"])
async def test_list_bad_updated_since_is_400(players, since) -> None:
    response = await players.get("/v1/players", params={"updated_since": since})
    assert_error(response, 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize("cursor", ["garbage!", "", "W10", "WyJsdWNreXNwaW4iLCJ4IiwicCJd"])
async def test_list_bad_cursor_is_400(players, cursor) -> None:
    response = await players.get("/v1/players", params={"cursor": cursor})
    assert_error(response, 400, "INVALID_CURSOR")


async def test_a_cursor_of_another_brand_is_400(players) -> None:
    foreign = await players.get(
        "/v1/players", params={"limit": 1}, headers=brand_headers("goldcoast")
    )
    cursor = foreign.json()["next_cursor"]
    response = await players.get("/v1/players", params={"cursor": cursor})
    assert_error(response, 400, "INVALID_CURSOR")


async def test_poll_since_the_last_update_sees_an_awarded_player(players, seed) -> None:
    newest = (await read_all(players))[-1]["updated_at"]
    assert (await award(players, seed.player_id, 10, "poll-1")).status_code == 200
    polled = await read_all(players, updated_since=newest + 1)
    assert [p["player_id"] for p in polled] == [seed.player_id]
    assert polled[0]["points_balance"] == seed.points_balance + 10


# -- award points ----------------------------------------------------------------------------


async def test_award_adds_points_and_moves_updated_at(players, seed) -> None:
    response = await award(players, seed.player_id, 250, "add-1")
    assert response.status_code == 200
    player = response.json()["player"]
    assert player["points_balance"] == seed.points_balance + 250
    assert player["points_ever"] == seed.points_ever + 250
    assert player["updated_at"] > ms(seed.updated_at)
    read = (await players.get(f"/v1/players/{seed.player_id}/stats")).json()["player"]
    assert read == player


async def test_a_negative_award_lowers_the_balance_but_not_points_ever(players, seed) -> None:
    player = (await award(players, seed.player_id, -seed.points_balance, "take-1")).json()["player"]
    assert (player["points_balance"], player["points_ever"]) == (0, seed.points_ever)


async def test_the_same_idempotency_key_twice_applies_once(players, seed) -> None:
    first = await award(players, seed.player_id, 40, "once-1")
    second = await award(players, seed.player_id, 40, "once-1")
    assert second.status_code == 200
    assert second.json() == first.json()
    read = (await players.get(f"/v1/players/{seed.player_id}/stats")).json()["player"]
    assert read["points_balance"] == seed.points_balance + 40


async def test_a_replay_answers_as_the_first_time_even_after_later_awards(players, seed) -> None:
    first = await award(players, seed.player_id, 40, "replay-1")
    await award(players, seed.player_id, 5, "replay-2")
    assert (await award(players, seed.player_id, 40, "replay-1")).json() == first.json()


@pytest.mark.parametrize(
    "change", [{"delta": 41}, {"reason": "other"}, {"player": "second"}], ids=str
)
async def test_the_same_idempotency_key_with_another_request_is_409(players, world, change) -> None:
    first, second = seeds_of(world, BRAND)[:2]
    await award(players, first.player_id, 40, "conflict-1")
    target = second if "player" in change else first
    response = await award(
        players,
        target.player_id,
        change.get("delta", 40),
        "conflict-1",
        reason=change.get("reason", "promo"),
    )
    assert_error(response, 409, "IDEMPOTENCY_KEY_REUSED")


async def test_an_award_below_zero_is_422_and_changes_nothing(players, seed) -> None:
    response = await award(players, seed.player_id, -(seed.points_balance + 1), "neg-1")
    assert_error(response, 422, "INSUFFICIENT_POINTS")
    read = (await players.get(f"/v1/players/{seed.player_id}/stats")).json()["player"]
    assert (read["points_balance"], read["updated_at"]) == (
        seed.points_balance,
        ms(seed.updated_at),
    )


async def test_an_idempotency_key_refused_with_422_can_be_used_again(players, seed) -> None:
    await award(players, seed.player_id, -(seed.points_balance + 1), "retry-1")
    assert (await award(players, seed.player_id, 1, "retry-1")).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"delta": 0, "reason": "r", "idempotency_key": "k"},
        {"delta": 1.5, "reason": "r", "idempotency_key": "k"},
        {"delta": "5", "reason": "r", "idempotency_key": "k"},
        {"delta": True, "reason": "r", "idempotency_key": "k"},
        {"reason": "r", "idempotency_key": "k"},
        {"delta": 5, "idempotency_key": "k"},
        {"delta": 5, "reason": "r"},
        {"delta": 5, "reason": "", "idempotency_key": "k"},
        {"delta": 5, "reason": "r", "idempotency_key": ""},
        {"delta": 5, "reason": "r", "idempotency_key": "k", "extra": 1},
        ["delta", 5],
    ],
    ids=str,
)
async def test_an_award_with_a_bad_body_is_400(players, seed, body) -> None:
    response = await players.post(f"/v1/players/{seed.player_id}/points", json=body)
    assert_error(response, 400, "INVALID_REQUEST")


async def test_an_award_with_malformed_json_is_400(players, seed) -> None:
    response = await players.post(f"/v1/players/{seed.player_id}/points", content=b'{"delta": 5,')
    assert_error(response, 400, "INVALID_REQUEST")


async def test_an_award_to_an_unknown_player_is_404(players) -> None:
    assert_error(await award(players, "p-999999", 5, "nobody-1"), 404, "PLAYER_NOT_FOUND")


async def test_an_award_to_a_player_of_another_brand_is_404(players, foreign) -> None:
    response = await award(players, foreign.player_id, 5, "foreign-1")
    assert_error(response, 404, "PLAYER_NOT_FOUND")


# -- dialect: rate limits and faults ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/v1/brands", {}),
        ("GET", "/v1/players/p-999999/stats", {}),
        ("POST", BATCH_GET, {"json": {"player_ids": []}}),
        ("GET", "/v1/players", {"params": {"limit": 0}}),
        ("GET", "/v1/players", {"headers": {"X-API-Key": "wrong"}}),
    ],
)
async def test_every_answer_carries_integer_rate_limit_headers(
    players, method, path, kwargs
) -> None:
    response = await players.request(method, path, **kwargs)
    assert int(response.headers["RateLimit-Limit"]) == 1000
    assert 0 <= int(response.headers["RateLimit-Remaining"]) < 1000
    assert 0 <= int(response.headers["RateLimit-Reset"]) <= 60


async def test_remaining_budget_counts_down(players) -> None:
    first = await players.get("/v1/brands")
    second = await players.get("/v1/brands")
    assert (
        int(second.headers["RateLimit-Remaining"]) == int(first.headers["RateLimit-Remaining"]) - 1
    )


async def test_over_the_rate_limit_is_429_rate_limited_with_retry_after(players, control) -> None:
    limit = {"rate_limit": {"requests": 1, "per_seconds": 30}}
    (await control.put("/players/__config", json=limit)).raise_for_status()
    assert (await players.get("/v1/brands")).status_code == 200
    response = await players.get("/v1/brands")
    assert_error(response, 429, "RATE_LIMITED")
    assert 1 <= int(response.headers["Retry-After"]) <= 30
    assert response.headers["RateLimit-Limit"] == "1"
    assert response.headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(response.headers["RateLimit-Reset"]) <= 30


@pytest.mark.parametrize(
    ("status", "code"),
    [(500, "INTERNAL"), (503, "SERVICE_UNAVAILABLE"), (502, "SERVICE_UNAVAILABLE")],
)
async def test_an_injected_fault_answers_in_the_error_shape(players, control, status, code) -> None:
    config = {"error_rate": 1, "error_status": status}
    (await control.put("/players/__config", json=config)).raise_for_status()
    response = await players.get("/v1/brands")
    assert_error(response, status, code)
    assert "RateLimit-Remaining" in response.headers

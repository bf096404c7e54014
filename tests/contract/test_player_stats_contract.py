"""Player-stats traffic, answers and errors alike, validated against player-stats.openapi.yaml.

Only requests the contract allows are sent (a request the file forbids, such as 501 ids or
``limit=0``, is covered by the integration tests); the answers include every error status the
file declares for the operation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app.simulators.credentials import PLAYERS_API_KEY
from app.simulators.world import World
from tests.contract.openapi import ContractRecorder

pytestmark = pytest.mark.contract

BRAND = "northstar"
HEADERS = {"X-API-Key": PLAYERS_API_KEY, "X-Brand-Key": BRAND}
BATCH_GET = "/v1/players/stats:batchGet"


@pytest.fixture
def recorder() -> ContractRecorder:
    return ContractRecorder("players")


@pytest.fixture
async def client(simulators, control, recorder) -> AsyncIterator[httpx.AsyncClient]:
    async with recorder.client(simulators.url("/players"), headers=HEADERS, timeout=10) as c:
        yield c
    (await control.post("/players/__reset", params={"data": "true"})).raise_for_status()


@pytest.fixture
def player_ids(world: World) -> list[str]:
    return [p.player_id for p in world.players if p.person.brand.key == BRAND]


@pytest.fixture
def foreign_id(world: World) -> str:
    return next(p.player_id for p in world.players if p.person.brand.key != BRAND)


async def test_brand_listing_matches_the_contract(client, recorder) -> None:
    assert (await client.get("/v1/brands")).status_code == 200
    assert (await client.get("/v1/brands", headers={"X-API-Key": "wrong"})).status_code == 401
    recorder.assert_clean()


async def test_reading_one_player_matches_the_contract(
    client, recorder, player_ids, foreign_id
) -> None:
    statuses = [
        (await client.get(f"/v1/players/{player_ids[0]}/stats")).status_code,
        (await client.get(f"/v1/players/{foreign_id}/stats")).status_code,
        (await client.get("/v1/players/p-999999/stats")).status_code,
        (
            await client.get(f"/v1/players/{player_ids[0]}/stats", headers={"X-API-Key": "x"})
        ).status_code,
        (
            await client.get(
                f"/v1/players/{player_ids[0]}/stats", headers={"X-Brand-Key": "elsewhere"}
            )
        ).status_code,
    ]
    assert statuses == [200, 404, 404, 401, 400]
    recorder.assert_clean()


async def test_batch_reads_match_the_contract(client, recorder, player_ids, foreign_id) -> None:
    asked = [*player_ids[:500], "p-999999", foreign_id][:500]
    statuses = [
        (await client.post(BATCH_GET, json={"player_ids": asked})).status_code,
        (await client.post(BATCH_GET, json={"player_ids": ["p-999999"]})).status_code,
        (await client.post(BATCH_GET, json={"player_ids": []})).status_code,
        (
            await client.post(
                BATCH_GET, json={"player_ids": player_ids[:3]}, headers={"X-API-Key": "x"}
            )
        ).status_code,
        (
            await client.post(
                BATCH_GET, json={"player_ids": player_ids[:3]}, headers={"X-Brand-Key": "x"}
            )
        ).status_code,
    ]
    assert statuses == [200, 200, 200, 401, 400]
    recorder.assert_clean()


async def test_listing_and_polling_match_the_contract(client, recorder) -> None:
    first = await client.get("/v1/players", params={"limit": 250})
    second = await client.get(
        "/v1/players", params={"limit": 1000, "cursor": first.json()["next_cursor"]}
    )
    since = second.json()["players"][-1]["updated_at"]
    polled = await client.get("/v1/players", params={"updated_since": since})
    default = await client.get("/v1/players")
    bad_cursor = await client.get("/v1/players", params={"cursor": "not-a-cursor"})
    no_key = await client.get("/v1/players", headers={"X-API-Key": "x"})
    statuses = [r.status_code for r in (first, second, polled, default, bad_cursor, no_key)]
    assert statuses == [200, 200, 200, 200, 400, 401]
    assert second.json()["next_cursor"] is None
    recorder.assert_clean()


async def test_awarding_points_matches_the_contract(
    client, recorder, player_ids, foreign_id
) -> None:
    path = f"/v1/players/{player_ids[0]}/points"
    award = {"delta": 150, "reason": "mission complete", "idempotency_key": "contract-1"}
    statuses = [
        (await client.post(path, json=award)).status_code,
        (await client.post(path, json=award)).status_code,
        (await client.post(path, json={**award, "delta": 151})).status_code,
        (
            await client.post(path, json={**award, "delta": -(10**12), "idempotency_key": "c-2"})
        ).status_code,
        (await client.post(f"/v1/players/{foreign_id}/points", json=award)).status_code,
        (await client.post(path, json=award, headers={"X-API-Key": "x"})).status_code,
        (await client.post(path, json={**award, "delta": 0})).status_code,
    ]
    assert statuses == [200, 200, 409, 422, 404, 401, 400]
    recorder.assert_clean()


async def test_rate_limited_answers_match_the_contract(
    client, control, recorder, player_ids
) -> None:
    config = {"rate_limit": {"requests": 1, "per_seconds": 60}}
    (await control.put("/players/__config", json=config)).raise_for_status()
    answers = [
        await client.get(f"/v1/players/{player_ids[0]}/stats"),
        await client.get(f"/v1/players/{player_ids[0]}/stats"),
        await client.post(BATCH_GET, json={"player_ids": player_ids[:2]}),
        await client.get("/v1/players"),
        await client.get("/v1/brands"),
        await client.post(
            f"/v1/players/{player_ids[0]}/points",
            json={"delta": 1, "reason": "r", "idempotency_key": "k"},
        ),
    ]
    assert [a.status_code for a in answers] == [200, 429, 429, 429, 429, 429]
    recorder.assert_clean()

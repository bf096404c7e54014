"""POST /webhooks/*: each refusal stores nothing; a good delivery is stored and answered 2xx;
a repeated event id is answered 2xx and stored once. Through the gateway's real HTTP port,
signed here as each CRM signs."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from app.simulators.server import RunningSimulators
from tests.integration.webhooks.conftest import (
    PLAYERS_NEW,
    PLAYERS_OLD,
    ZENDESK_SECRET,
    body_of,
    eventually,
    hubspot_event,
    hubspot_headers,
    opened,
    player_event,
    players_headers,
    webhook_gateway,
    zendesk_event,
    zendesk_headers,
)


@pytest.fixture(scope="module")
def store_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("intake") / "webhooks.sqlite3"


@pytest.fixture(scope="module")
def gateway(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], store_file: Path
) -> Iterator[str]:
    with webhook_gateway(
        simulators.base_url, keys_file, store_file, {"max_body_bytes": 4096}
    ) as url:
        yield url


@pytest.fixture
async def http(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway, timeout=10) as client:
        yield client


async def nothing_stored(store_file: Path) -> None:
    async with opened(store_file) as store:
        assert await store.depth() == 0
        assert await store.dead_letter_count() == 0


async def zendesk_post(
    http: httpx.AsyncClient, event: dict[str, object], **headers: str
) -> httpx.Response:
    body = body_of(event)
    return await http.post(
        "/webhooks/zendesk", content=body, headers={**zendesk_headers(body), **headers}
    )


async def test_a_signed_zendesk_event_is_stored_and_answered_at_once(
    http: httpx.AsyncClient, store_file: Path
) -> None:
    response = await zendesk_post(http, zendesk_event(1))
    assert response.status_code == 200
    assert response.json() == {"accepted": 1, "duplicates": 0}
    await eventually(lambda: _settled(store_file))


async def _settled(store_file: Path) -> bool:
    async with opened(store_file) as store:
        assert await store.dead_letter_count() == 0
        return await store.depth() == 0


async def test_a_signed_hubspot_batch_stores_each_event(
    http: httpx.AsyncClient, gateway: str
) -> None:
    events = [hubspot_event(1001, "firstname", "Ada"), hubspot_event(1001, "lastname", "King")]
    body = body_of(events)
    headers = hubspot_headers(f"{gateway}/webhooks/hubspot", body)
    response = await http.post("/webhooks/hubspot", content=body, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "duplicates": 0}


async def test_players_may_sign_with_the_old_or_the_new_secret(http: httpx.AsyncClient) -> None:
    for secrets in [(PLAYERS_OLD,), (PLAYERS_NEW,), ("an-unknown-secret", PLAYERS_NEW)]:
        body = body_of(player_event("p-000001", "northstar", {"level": 3}))
        response = await http.post(
            "/webhooks/players", content=body, headers=players_headers(body, secrets)
        )
        assert response.status_code == 200, secrets
        assert response.json()["accepted"] == 1


async def test_a_repeated_event_id_is_answered_2xx_and_stored_once(http: httpx.AsyncClient) -> None:
    event = zendesk_event(2)
    first = await zendesk_post(http, event)
    again = await zendesk_post(http, event)
    assert first.json() == {"accepted": 1, "duplicates": 0}
    assert again.status_code == 200
    assert again.json() == {"accepted": 0, "duplicates": 1}


async def test_a_repeated_event_within_one_hubspot_batch_is_stored_once(
    http: httpx.AsyncClient, gateway: str
) -> None:
    event = hubspot_event(1001, "phone", "+442079460000")
    body = body_of([event, event])
    headers = hubspot_headers(f"{gateway}/webhooks/hubspot", body)
    response = await http.post("/webhooks/hubspot", content=body, headers=headers)
    assert response.json() == {"accepted": 1, "duplicates": 1}


# -- refusals: nothing stored; the same event signed correctly is still new afterwards --


async def refused_then_accepted(
    http: httpx.AsyncClient, store_file: Path, event: dict[str, object], status: int, **headers: str
) -> httpx.Response:
    refused = await zendesk_post(http, event, **headers)
    assert refused.status_code == status, refused.text
    await nothing_stored(store_file)
    accepted = await zendesk_post(http, event)
    assert accepted.json() == {"accepted": 1, "duplicates": 0}  # its id was not recorded
    return refused


async def test_a_missing_signature_is_refused_with_401_and_audited(
    http: httpx.AsyncClient, store_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    event = zendesk_event(3)
    body = body_of(event)
    with caplog.at_level(logging.WARNING, logger="crmgraph.audit"):
        response = await http.post(
            "/webhooks/zendesk", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 401
    await nothing_stored(store_file)
    [audit] = [r for r in caplog.records if getattr(r, "event", None) == "webhook.refused"]
    assert (audit.source, audit.code) == ("zendesk", "bad_signature")  # type: ignore[attr-defined]
    assert ZENDESK_SECRET not in str(vars(audit))


async def test_a_wrong_signature_is_refused_with_401(
    http: httpx.AsyncClient, store_file: Path
) -> None:
    event = zendesk_event(3)
    wrong = zendesk_headers(body_of(event), secret="not-the-secret")
    await refused_then_accepted(
        http,
        store_file,
        event,
        401,
        **{"X-Zendesk-Webhook-Signature": wrong["X-Zendesk-Webhook-Signature"]},
    )


async def test_a_signature_over_another_body_is_refused_with_401(
    http: httpx.AsyncClient, store_file: Path
) -> None:
    event = zendesk_event(3)
    other = zendesk_headers(body_of(zendesk_event(4)))
    await refused_then_accepted(http, store_file, event, 401, **other)


@pytest.mark.parametrize("age", [301, -301], ids=["stale", "future"])
async def test_a_timestamp_beyond_five_minutes_is_refused_with_401(
    http: httpx.AsyncClient, store_file: Path, age: int, caplog: pytest.LogCaptureFixture
) -> None:
    event = zendesk_event(5)
    old = zendesk_headers(
        body_of(event), at=time.time() - age
    )  # signed consistently: only the age is wrong
    with caplog.at_level(logging.WARNING, logger="crmgraph.audit"):
        await refused_then_accepted(http, store_file, event, 401, **old)
    assert [
        getattr(r, "code", None)
        for r in caplog.records
        if getattr(r, "event", None) == "webhook.refused"
    ] == ["stale"]


async def test_a_stale_hubspot_timestamp_is_refused_with_401(
    http: httpx.AsyncClient, gateway: str, store_file: Path
) -> None:
    body = body_of([hubspot_event(1001, "firstname", "Old")])
    headers = hubspot_headers(f"{gateway}/webhooks/hubspot", body, at=time.time() - 600)
    response = await http.post("/webhooks/hubspot", content=body, headers=headers)
    assert response.status_code == 401
    await nothing_stored(store_file)


async def test_a_hubspot_signature_for_another_url_is_refused_with_401(
    http: httpx.AsyncClient, gateway: str, store_file: Path
) -> None:
    body = body_of([hubspot_event(1001, "firstname", "Elsewhere")])
    headers = hubspot_headers(f"{gateway}/webhooks/other", body)
    response = await http.post("/webhooks/hubspot", content=body, headers=headers)
    assert response.status_code == 401
    await nothing_stored(store_file)


async def test_a_players_signature_by_no_configured_secret_is_refused_with_401(
    http: httpx.AsyncClient, store_file: Path
) -> None:
    body = body_of(player_event("p-000001", "northstar", {"level": 4}))
    response = await http.post(
        "/webhooks/players", content=body, headers=players_headers(body, ("leaked-old",))
    )
    assert response.status_code == 401
    await nothing_stored(store_file)


async def test_a_body_declared_too_large_is_refused_with_413(
    http: httpx.AsyncClient, store_file: Path
) -> None:
    event = zendesk_event(6)
    event["detail"] = {**event["detail"], "description": "x" * 5000}  # type: ignore[dict-item]
    body = body_of(event)
    response = await http.post("/webhooks/zendesk", content=body, headers=zendesk_headers(body))
    assert response.status_code == 413
    await nothing_stored(store_file)


async def test_a_body_larger_than_declared_is_refused_with_413(
    http: httpx.AsyncClient, store_file: Path
) -> None:
    event = zendesk_event(6)
    event["detail"] = {**event["detail"], "description": "x" * 5000}  # type: ignore[dict-item]
    body = body_of(event)

    async def chunks() -> AsyncIterator[bytes]:  # sent chunked: no Content-Length to trust
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    response = await http.post("/webhooks/zendesk", content=chunks(), headers=zendesk_headers(body))
    assert response.status_code == 413
    await nothing_stored(store_file)


@pytest.mark.parametrize(
    "body",
    [b'{"id": "abc", "type": ', b'{"id": "abc", "detail": ' + b"[" * 1_500 + b"]" * 1_500 + b"}"],
    ids=["cut-short", "nested-1500-deep"],
)
async def test_a_body_that_is_not_json_is_refused_with_400(
    http: httpx.AsyncClient, store_file: Path, body: bytes
) -> None:
    # Signed as the CRM signs: the JSON is read only after the signature is checked. Nested
    # 1,500 deep, it was a 500 (Python's json raised RecursionError), which a CRM retries.
    response = await http.post("/webhooks/zendesk", content=body, headers=zendesk_headers(body))
    assert response.status_code == 400
    assert response.json() == {"error": "malformed", "message": "the body is not JSON"}
    await nothing_stored(store_file)


@pytest.mark.parametrize(
    ("route", "document"),
    [
        ("zendesk", [{"id": "x", "type": "zen:event-type:ticket.created"}]),
        ("zendesk", {"type": "zen:event-type:ticket.created"}),
        ("hubspot", {"eventId": 1, "subscriptionType": "contact.creation", "objectId": 1}),
        ("hubspot", [{"subscriptionType": "contact.creation", "objectId": 1}]),
        ("hubspot", []),
        ("players", {"id": "evt_1", "type": "player.created", "brand": "northstar"}),
    ],
    ids=[
        "zendesk-array",
        "zendesk-no-id",
        "hubspot-object",
        "hubspot-no-event-id",
        "hubspot-empty",
        "players-no-player",
    ],
)
async def test_a_body_of_the_wrong_shape_is_refused_with_400(
    http: httpx.AsyncClient, gateway: str, store_file: Path, route: str, document: object
) -> None:
    body = body_of(document)
    headers = {
        "zendesk": lambda: zendesk_headers(body),
        "hubspot": lambda: hubspot_headers(f"{gateway}/webhooks/hubspot", body),
        "players": lambda: players_headers(body),
    }[route]()
    response = await http.post(f"/webhooks/{route}", content=body, headers=headers)
    assert response.status_code == 400, response.text
    await nothing_stored(store_file)


async def test_an_unknown_route_is_404(http: httpx.AsyncClient) -> None:
    response = await http.post("/webhooks/salesforce", content=b"{}")
    assert response.status_code == 404


async def test_an_address_outside_the_allow_list_is_refused_with_403(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store_file = tmp_path / "allow.sqlite3"
    allow = {
        "zendesk": {
            "secret": {"env": "CRMGRAPH_TEST_WEBHOOK_ZENDESK"},
            "allow_ips": ["10.0.0.0/8", "2001:db8::/32"],
        }
    }
    with webhook_gateway(simulators.base_url, keys_file, store_file, allow) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            with caplog.at_level(logging.WARNING, logger="crmgraph.audit"):
                response = await zendesk_post(http, zendesk_event(7))
    assert response.status_code == 403
    await nothing_stored(store_file)
    assert [
        getattr(r, "code", None)
        for r in caplog.records
        if getattr(r, "event", None) == "webhook.refused"
    ] == ["forbidden_ip"]


async def test_a_source_without_webhook_config_is_404(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], tmp_path: Path
) -> None:
    with webhook_gateway(
        simulators.base_url, keys_file, tmp_path / "s.sqlite3", {"players": None}
    ) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            body = body_of(player_event("p-000001", "northstar", {"level": 2}))
            response = await http.post(
                "/webhooks/players", content=body, headers=players_headers(body)
            )
    assert response.status_code == 404


async def test_behind_a_proxy_hubspot_signs_the_public_url(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], tmp_path: Path
) -> None:
    public = "https://crm.example.com"
    store_file = tmp_path / "proxy.sqlite3"
    with webhook_gateway(simulators.base_url, keys_file, store_file, {"public_url": public}) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            body = body_of([hubspot_event(1001, "firstname", "Proxied")])
            local = hubspot_headers(f"{url}/webhooks/hubspot", body)
            refused = await http.post("/webhooks/hubspot", content=body, headers=local)
            signed = hubspot_headers(f"{public}/webhooks/hubspot", body)
            accepted = await http.post("/webhooks/hubspot", content=body, headers=signed)
    assert refused.status_code == 401
    assert accepted.json() == {"accepted": 1, "duplicates": 0}

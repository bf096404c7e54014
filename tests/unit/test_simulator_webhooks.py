"""The simulators' webhook signing and targets, and the write stamps pollers depend on."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from app.simulators.player_stats.store import PlayerStatsStore
from app.simulators.salesforce.store import LEAD, SalesforceStore
from app.simulators.webhooks import (
    WebhookTarget,
    hubspot_v3_signature,
    player_stats_signature,
    zendesk_signature,
)
from app.simulators.world import LEVEL_NAMES, World

URL = "http://127.0.0.1:8123/webhooks/in?x=1"
BODY = b'[{"eventId":1}]'
AT = 1_764_381_600.25  # 2025-11-29T02:00:00.250Z


def mac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


# -- signatures -----------------------------------------------------------------------------------


def test_hubspot_v3_signs_method_url_body_and_millisecond_timestamp() -> None:
    headers = hubspot_v3_signature(["s3cret"], URL, BODY, AT)
    assert headers["X-HubSpot-Request-Timestamp"] == "1764381600250"
    expected = mac("s3cret", b"POST" + URL.encode() + BODY + b"1764381600250")
    assert headers["X-HubSpot-Signature-v3"] == base64.b64encode(expected).decode()
    assert headers["X-HubSpot-Signature-Version"] == "v3"


def test_zendesk_signs_an_iso_timestamp_then_the_body() -> None:
    headers = zendesk_signature(["s3cret"], URL, BODY, AT)
    assert headers["X-Zendesk-Webhook-Signature-Timestamp"] == "2025-11-29T02:00:00Z"
    expected = mac("s3cret", b"2025-11-29T02:00:00Z" + BODY)
    assert headers["X-Zendesk-Webhook-Signature"] == base64.b64encode(expected).decode()


def test_player_stats_sign_once_a_secret_in_one_header() -> None:
    (header,) = player_stats_signature(["old", "new"], URL, BODY, AT).values()
    old = mac("old", b"1764381600." + BODY).hex()
    new = mac("new", b"1764381600." + BODY).hex()
    assert header == f"t=1764381600,v1={old},v1={new}"


# -- targets --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hooks",
        "http://localhost/hooks",
        "http://[::1]:9000/hooks",
        "https://127.0.0.1/hooks",
    ],
)
def test_a_loopback_url_is_a_target(url: str) -> None:
    assert WebhookTarget(url=url, secret="s").url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://192.168.1.4/hooks",
        "http://127.0.0.1.nip.io/hooks",
        "http://localhost@example.com/hooks",
        "file:///etc/passwd",
        "not a url",
    ],
)
def test_any_other_url_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="loopback"):
        WebhookTarget(url=url, secret="s")


@pytest.mark.parametrize(
    "secrets",
    [{}, {"secret": "a", "secrets": ["b"]}, {"secret": ""}, {"secrets": []}, {"secrets": [""]}],
)
def test_a_target_has_one_secret_or_a_list_of_them(secrets: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        WebhookTarget.model_validate({"url": URL, **secrets})


def test_a_target_reports_itself_without_its_secrets() -> None:
    target = WebhookTarget(url=URL, secrets=["old", "new"], mode="stale")
    assert target.keys == ["old", "new"]
    assert target.public() == {"url": URL, "mode": "stale", "attempts": 4, "backoff_ms": 100}


# -- write stamps ---------------------------------------------------------------------------------


def test_salesforce_stamps_every_write_later_than_the_last_to_the_millisecond(
    world: World,
) -> None:
    store = SalesforceStore(world)
    leads = list(store.all("Lead"))[:50]
    for lead in leads:  # far quicker than one a millisecond
        store.update(LEAD, lead, {"Phone": "+44 20 7946 0001"})
    created = store.insert(LEAD, {"LastName": "Late", "Company": "Co"})
    stamps = [lead["SystemModstamp"] for lead in leads] + [created["SystemModstamp"]]
    assert all(a < b for a, b in itertools.pairwise(stamps))
    assert all(s.microsecond % 1000 == 0 and s.tzinfo is not None for s in stamps)
    assert all(lead["LastModifiedDate"] == lead["SystemModstamp"] for lead in leads)
    assert stamps[-1] - datetime.now(UTC) < timedelta(seconds=1)


def test_salesforce_stamps_keep_rising_across_a_reset(world: World) -> None:
    store = SalesforceStore(world)
    lead = next(iter(store.all("Lead")))
    store.update(LEAD, lead, {"Phone": "+44 20 7946 0002"})
    before = lead["SystemModstamp"]
    store.reset()
    again = next(iter(store.all("Lead")))
    store.update(LEAD, again, {"Phone": "+44 20 7946 0003"})
    assert again["SystemModstamp"] > before


def test_a_back_office_change_answers_what_changed_as_the_api_renders_it(world: World) -> None:
    store = PlayerStatsStore(world)
    seed = world.players[0]
    brand, player_id = seed.person.brand.key, seed.player_id
    level = seed.level % len(LEVEL_NAMES) + 1
    changed = store.change(
        brand, player_id, {"level": level, "points_balance": seed.points_balance}
    )
    assert changed == {"level": {"id": level, "name": LEVEL_NAMES[level - 1]}}
    assert store.get(brand, player_id)["level"] == changed["level"]


def test_a_back_office_change_to_the_same_values_changes_nothing(world: World) -> None:
    store = PlayerStatsStore(world)
    seed = world.players[0]
    brand, player_id = seed.person.brand.key, seed.player_id
    stamp = store.get(brand, player_id)["updated_at"]
    assert store.change(brand, player_id, {"level": seed.level}) == {}
    assert store.get(brand, player_id)["updated_at"] == stamp

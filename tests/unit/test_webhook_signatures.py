"""Each CRM's webhook signature, checked against signatures computed here as the vendor
documents them."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from app.connectors.hubspot.webhooks import verify_hubspot
from app.connectors.player_stats.webhooks import verify_players
from app.connectors.zendesk.webhooks import verify_zendesk
from app.webhooks.signatures import Stale, Unsigned

NOW = 1_795_917_600.0  # 2026-11-29T02:00:00Z
BODY = b'[{"eventId":1,"subscriptionType":"contact.creation","objectId":1001}]'
URL = "https://crm.example.com/webhooks/hubspot?portal=1"


def b64(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def hubspot(
    secret: str = "s3cret", at: float = NOW, url: str = URL, body: bytes = BODY
) -> dict[str, str]:
    ts = str(int(at * 1000))
    return {
        "x-hubspot-signature-v3": b64(secret, b"POST" + url.encode() + body + ts.encode()),
        "x-hubspot-request-timestamp": ts,
    }


def zendesk(secret: str = "s3cret", stamp: str = "2026-11-29T02:00:00Z") -> dict[str, str]:
    return {
        "x-zendesk-webhook-signature": b64(secret, stamp.encode() + BODY),
        "x-zendesk-webhook-signature-timestamp": stamp,
    }


def players(*secrets: str, t: int = int(NOW)) -> dict[str, str]:
    v1 = [
        hmac.new(s.encode(), f"{t}.".encode() + BODY, hashlib.sha256).hexdigest() for s in secrets
    ]
    return {"x-signature": ",".join([f"t={t}", *(f"v1={v}" for v in v1)])}


def test_hubspot_v3_over_method_url_body_and_timestamp() -> None:
    verify_hubspot("s3cret", "POST", URL, BODY, hubspot(), NOW, 300)
    verify_hubspot("s3cret", "post", URL, BODY, hubspot(at=NOW - 299), NOW, 300)


@pytest.mark.parametrize(
    "headers",
    [
        hubspot(secret="other"),
        hubspot(url="https://crm.example.com/webhooks/hubspot"),
        hubspot(body=b"[]"),
        {"x-hubspot-request-timestamp": str(int(NOW * 1000))},
        {**hubspot(), "x-hubspot-request-timestamp": "2026-11-29T02:00:00Z"},
        {**hubspot(), "x-hubspot-request-timestamp": str(int(NOW * 1000) + 1)},
    ],
    ids=["secret", "url", "body", "no-signature", "timestamp-not-ms", "timestamp-not-signed"],
)
def test_hubspot_refuses_what_it_did_not_sign(headers: dict[str, str]) -> None:
    with pytest.raises(Unsigned):
        verify_hubspot("s3cret", "POST", URL, BODY, headers, NOW, 300)


@pytest.mark.parametrize("age", [301, -301])
def test_hubspot_refuses_a_timestamp_beyond_the_tolerance(age: int) -> None:
    with pytest.raises(Stale):
        verify_hubspot("s3cret", "POST", URL, BODY, hubspot(at=NOW - age), NOW, 300)


def test_zendesk_over_timestamp_and_body() -> None:
    verify_zendesk("s3cret", BODY, zendesk(), NOW, 300)
    verify_zendesk("s3cret", BODY, zendesk(stamp="2026-11-29T03:00:00+01:00"), NOW, 300)


@pytest.mark.parametrize(
    "headers",
    [
        zendesk(secret="other"),
        {**zendesk(), "x-zendesk-webhook-signature-timestamp": "2026-11-29T02:00:01Z"},
        {**zendesk(), "x-zendesk-webhook-signature-timestamp": "yesterday"},
        zendesk(stamp="2026-11-29T02:00:00"),
        {"x-zendesk-webhook-signature-timestamp": "2026-11-29T02:00:00Z"},
    ],
    ids=["secret", "timestamp-not-signed", "timestamp-not-iso", "no-zone", "no-signature"],
)
def test_zendesk_refuses_what_it_did_not_sign(headers: dict[str, str]) -> None:
    with pytest.raises(Unsigned):
        verify_zendesk("s3cret", BODY, headers, NOW, 300)


def test_zendesk_refuses_an_old_timestamp() -> None:
    with pytest.raises(Stale):
        verify_zendesk("s3cret", BODY, zendesk(stamp="2026-11-29T01:54:59Z"), NOW, 300)


def test_players_any_v1_may_match_any_secret() -> None:
    verify_players(["old", "new"], BODY, players("new"), NOW, 300)
    verify_players(["old", "new"], BODY, players("old"), NOW, 300)
    verify_players(["new"], BODY, players("leaked", "new"), NOW, 300)


@pytest.mark.parametrize(
    "headers",
    [
        players("leaked"),
        {"x-signature": f"t={int(NOW)}"},
        {"x-signature": "v1=abc"},
        {
            "x-signature": players("new")["x-signature"].replace(
                f"t={int(NOW)}", f"t={int(NOW) + 1}"
            )
        },
        {},
    ],
    ids=["secret", "no-v1", "no-t", "t-not-signed", "no-header"],
)
def test_players_refuses_what_no_secret_signed(headers: dict[str, str]) -> None:
    with pytest.raises(Unsigned):
        verify_players(["old", "new"], BODY, headers, NOW, 300)


def test_players_refuses_an_old_t() -> None:
    with pytest.raises(Stale):
        verify_players(["new"], BODY, players("new", t=int(NOW) - 301), NOW, 300)


def test_hubspot_signs_the_uri_with_its_listed_characters_decoded() -> None:
    encoded = "https://crm.example.com/webhooks/hubspot?next=%2Fhome%3Fa%3Ab&name=a%20b"
    decoded = "https://crm.example.com/webhooks/hubspot?next=/home?a:b&name=a%20b"
    verify_hubspot("s3cret", "POST", encoded, BODY, hubspot(url=decoded), NOW, 300)

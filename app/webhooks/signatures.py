"""One signature check per CRM, each exactly as its vendor documents it.

- HubSpot v3: ``X-HubSpot-Signature-v3`` = base64(HMAC-SHA256(client secret, method + full
  URI + raw body + timestamp)), the timestamp in ``X-HubSpot-Request-Timestamp`` (epoch ms);
  the URI with the characters HubSpot lists (``%3A`` ``%2F`` ``%3F`` ...) decoded.
- Zendesk: ``X-Zendesk-Webhook-Signature`` = base64(HMAC-SHA256(secret, timestamp + raw
  body)), the timestamp as sent in ``X-Zendesk-Webhook-Signature-Timestamp`` (ISO 8601).
- Player stats: ``X-Signature: t=<unix s>,v1=<hex>[,v1=<hex>...]`` over ``"<t>.<raw body>"``;
  any ``v1`` may match any of the configured secrets (rotation).

Each check raises :class:`Unsigned` (missing or wrong signature) or :class:`Stale` (a
timestamp further from now than the tolerance); the messages never hold a secret or a digest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import datetime


class SignatureError(Exception):
    """A delivery whose signature does not prove it came from the CRM."""

    outcome = "bad_signature"


class Unsigned(SignatureError):
    """The signature or its timestamp is missing, malformed or does not match."""


class Stale(SignatureError):
    """The signed timestamp is too old (a replay) or too far in the future."""

    outcome = "stale"


def _digest(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise Unsigned(f"the {name} header is missing")
    return value


#: An epoch timestamp as vendors send it: ASCII digits, at most 16 (milliseconds until the
#: year 318857). ``str.isdigit`` also admits "²" and other scripts' digits, and an unbounded
#: ``int`` overflows a float or Python's digit limit — each would be a 500, not a refusal.
_EPOCH = re.compile(r"[0-9]{1,16}")


def _epoch(text: str, name: str) -> int:
    if _EPOCH.fullmatch(text) is None:
        raise Unsigned(f"{name} is not an epoch timestamp")
    return int(text)


def _fresh(signed_at: float, now: float, tolerance: float) -> None:
    if abs(now - signed_at) > tolerance:
        raise Stale(f"the signature's timestamp is {now - signed_at:.0f} s from now")


#: The URL-encoded characters HubSpot decodes in the URI before it signs (v3).
_HUBSPOT_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_HUBSPOT_ENCODED = re.compile("|".join(_HUBSPOT_DECODED), re.IGNORECASE)


def _hubspot_uri(uri: str) -> str:
    return _HUBSPOT_ENCODED.sub(lambda m: _HUBSPOT_DECODED[m.group(0).upper()], uri)


def verify_hubspot(
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    headers: Mapping[str, str],
    now: float,
    tolerance: float,
) -> None:
    signature = _header(headers, "x-hubspot-signature-v3")
    timestamp = _header(headers, "x-hubspot-request-timestamp")
    _fresh(_epoch(timestamp, "X-HubSpot-Request-Timestamp") / 1000, now, tolerance)
    message = method.upper().encode() + _hubspot_uri(uri).encode() + body + timestamp.encode()
    expected = base64.b64encode(_digest(secret, message))
    if not hmac.compare_digest(expected, signature.encode()):
        raise Unsigned("X-HubSpot-Signature-v3 does not match")


def verify_zendesk(
    secret: str, body: bytes, headers: Mapping[str, str], now: float, tolerance: float
) -> None:
    signature = _header(headers, "x-zendesk-webhook-signature")
    timestamp = _header(headers, "x-zendesk-webhook-signature-timestamp")
    try:
        parsed = datetime.fromisoformat(timestamp)
        # An offset can push the first or last representable day out of range.
        signed_at = parsed.timestamp() if parsed.tzinfo is not None else None
    except (ValueError, OverflowError, OSError):
        raise Unsigned("X-Zendesk-Webhook-Signature-Timestamp is not an ISO 8601 time") from None
    if signed_at is None:
        raise Unsigned("X-Zendesk-Webhook-Signature-Timestamp has no time zone")
    _fresh(signed_at, now, tolerance)
    expected = base64.b64encode(_digest(secret, timestamp.encode() + body))
    if not hmac.compare_digest(expected, signature.encode()):
        raise Unsigned("X-Zendesk-Webhook-Signature does not match")


def verify_players(
    secrets: Sequence[str], body: bytes, headers: Mapping[str, str], now: float, tolerance: float
) -> None:
    parts = [p.strip().partition("=") for p in _header(headers, "x-signature").split(",")]
    stamps = [value for key, _, value in parts if key == "t"]
    candidates = [value for key, _, value in parts if key == "v1"]
    if len(stamps) != 1 or _EPOCH.fullmatch(stamps[0]) is None or not candidates:
        raise Unsigned("X-Signature is not t=<unix seconds>,v1=<hex>")
    _fresh(int(stamps[0]), now, tolerance)
    message = stamps[0].encode() + b"." + body
    # Every pair is compared, so the time taken does not tell which secret matched.
    matched = False
    for secret in secrets:
        expected = _digest(secret, message).hex().encode()
        for candidate in candidates:
            matched |= hmac.compare_digest(expected, candidate.strip().lower().encode())
    if not matched:
        raise Unsigned("no v1 signature of X-Signature matches")

"""What every CRM's signature check shares; each check itself is in its CRM's package
(``app/connectors/<vendor>/webhooks.py``), exactly as its vendor documents it.

A check raises :class:`Unsigned` (missing or wrong signature) or :class:`Stale` (a timestamp
further from now than the tolerance); the messages never hold a secret or a digest.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping


class SignatureError(Exception):
    """A delivery whose signature does not prove it came from the CRM."""

    outcome = "bad_signature"


class Unsigned(SignatureError):
    """The signature or its timestamp is missing, malformed or does not match."""


class Stale(SignatureError):
    """The signed timestamp is too old (a replay) or too far in the future."""

    outcome = "stale"


def digest(secret: str, message: bytes) -> bytes:
    """HMAC-SHA256 of ``message`` with ``secret``."""
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def header(headers: Mapping[str, str], name: str) -> str:
    """The header ``name`` (headers keyed in lower case); :class:`Unsigned` when absent."""
    value = headers.get(name)
    if not value:
        raise Unsigned(f"the {name} header is missing")
    return value


#: An epoch timestamp as vendors send it: ASCII digits, at most 16 (milliseconds until the
#: year 318857). ``str.isdigit`` also admits "²" and other scripts' digits, and an unbounded
#: ``int`` overflows a float or Python's digit limit — each would be a 500, not a refusal.
EPOCH = re.compile(r"[0-9]{1,16}")


def epoch(text: str, name: str) -> int:
    """``text`` read as an epoch timestamp (``name`` says where it came from)."""
    if EPOCH.fullmatch(text) is None:
        raise Unsigned(f"{name} is not an epoch timestamp")
    return int(text)


def fresh(signed_at: float, now: float, tolerance: float) -> None:
    """:class:`Stale` when ``signed_at`` is further than ``tolerance`` seconds from ``now``."""
    if abs(now - signed_at) > tolerance:
        raise Stale(f"the signature's timestamp is {now - signed_at:.0f} s from now")

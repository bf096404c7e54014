"""Bearer tokens (JWTs) from the identity providers the config names, verified with PyJWT.

The issuer is picked by the token's ``iss``; its ``alg`` must be on that issuer's allowlist, and
the key comes from where that algorithm's keys live: HS256 from the issuer's secret only,
RS256/ES256 from its JWKS only, matched by ``kid`` and by key type. A token never chooses its
own key (``jwk``, ``jku`` and ``x5u`` headers are ignored), so ``alg: none`` and algorithm
confusion (HMAC keyed with a public key) are refused.

A JWKS is fetched with the app's async httpx client, cached for ``cache_seconds`` and
refetched early when a token names an unknown ``kid`` (key rotation needs no restart). Every
fetch, successful or not, is at least ``min_refresh_seconds`` after the previous one, so a
flood of made-up kids or an identity provider that is down costs one request per interval.
Concurrent verifications wait for the same fetch. If a refresh fails, the keys of the last
good fetch stay in use; a token whose key cannot be found is refused with the reason.

Time comes from the injected clock (PyJWT reads the wall clock itself, so ``exp``, ``nbf`` and
``iat`` are checked here). Every refusal is a :class:`TokenRejected` whose message is short and
safe to show the caller: it never contains the token, a key or a secret.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt

from app.config import JwtIssuer
from app.connectors.bounded import AnswerTooLarge, exchange

log = logging.getLogger(__name__)

#: A JWKS fetch's longest time, first byte sent to last byte read, and its largest answer (a
#: key set holds a few keys of a few kB).
JWKS_FETCH_SECONDS = 10.0
MAX_JWKS_BYTES = 1024 * 1024

#: Longer tokens are refused before any parsing (a header of that size is not a JWT).
MAX_TOKEN_LENGTH = 16 * 1024
#: RFC 7518 §3.2: an HS256 key at least as long as the hash.
MIN_HS256_SECRET_BYTES = 32
#: The key type (and curve) each asymmetric algorithm's JWKS keys must have.
_KEY_TYPES: dict[str, tuple[str, str | None]] = {"RS256": ("RSA", None), "ES256": ("EC", "P-256")}
#: JWK members that only a private key has; such a key set is a leak, not something to use.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    subject: str
    issuer: str
    roles: tuple[str, ...]
    brands: tuple[str, ...]
    expires_at: datetime


class TokenRejected(Exception):
    """A bearer token crmgraph does not accept.

    ``str(exc)`` is a short reason, safe to show the caller: never the token, a key or a secret.
    """


class JwtVerifier:
    """Verifies bearer tokens of the configured issuers; one instance serves the whole app."""

    def __init__(
        self,
        issuers: Sequence[JwtIssuer],
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.time,
        min_refresh_seconds: float = 30.0,
        cache_seconds: float = 600.0,
        fetch_seconds: float = JWKS_FETCH_SECONDS,
    ) -> None:
        self._clock = clock
        self._issuers: dict[str, JwtIssuer] = {}
        self._secrets: dict[str, jwt.PyJWK] = {}
        self._key_sets: dict[str, _KeySet] = {}
        for issuer in issuers:
            if issuer.issuer in self._issuers:
                raise ValueError(f"JWT issuer {issuer.issuer!r} is configured twice")
            self._issuers[issuer.issuer] = issuer
            if issuer.hs256_secret is not None and "HS256" in issuer.algorithms:
                self._secrets[issuer.issuer] = _hs256_key(issuer)
            asymmetric = [a for a in issuer.algorithms if a in _KEY_TYPES]
            if issuer.jwks_url is not None and asymmetric:
                self._key_sets[issuer.issuer] = _KeySet(
                    issuer.issuer,
                    str(issuer.jwks_url),
                    frozenset(asymmetric),
                    http,
                    clock=clock,
                    min_refresh_seconds=min_refresh_seconds,
                    cache_seconds=cache_seconds,
                    fetch_seconds=fetch_seconds,
                )

    def jwks_fetches(self) -> int:
        """How many JWKS requests have been made (failed ones included), all issuers together."""
        return sum(keys.fetches for keys in self._key_sets.values())

    async def verify(self, token: str) -> VerifiedToken:
        """The token's verified identity; raises :class:`TokenRejected` for any token that is
        not well-formed, validly signed by a configured issuer, current and meant for us."""
        if not isinstance(token, str) or not token:
            raise TokenRejected("malformed token")
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenRejected("token too long")
        try:
            unverified = jwt.decode_complete(token, options={"verify_signature": False})
        except (jwt.PyJWTError, ValueError, TypeError, RecursionError):
            raise TokenRejected("malformed token") from None
        header: dict[str, Any] = unverified["header"]
        iss = unverified["payload"].get("iss")
        if not isinstance(iss, str):
            raise TokenRejected("token has no issuer")
        issuer = self._issuers.get(iss)
        if issuer is None:
            raise TokenRejected("unknown issuer")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in issuer.algorithms:
            raise TokenRejected("algorithm not allowed")
        key = await self._key(issuer, alg, header)
        claims = self._verified_claims(token, key, alg, issuer)
        expires_at = self._check_times(claims, issuer.leeway_seconds)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise TokenRejected("malformed sub claim")
        return VerifiedToken(
            subject=subject,
            issuer=issuer.issuer,
            roles=_claim_strings(claims, issuer.roles_claim, "roles"),
            brands=_claim_strings(claims, issuer.brands_claim, "brands"),
            expires_at=expires_at,
        )

    async def _key(self, issuer: JwtIssuer, alg: str, header: dict[str, Any]) -> jwt.PyJWK:
        if alg == "HS256":
            return self._secrets[issuer.issuer]
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected("token has no key id")
        return await self._key_sets[issuer.issuer].key(kid, alg)

    @staticmethod
    def _verified_claims(token: str, key: jwt.PyJWK, alg: str, issuer: JwtIssuer) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=issuer.audience,
                issuer=issuer.issuer,
                options={
                    "require": ["exp", "iss", "aud", "sub"],
                    # Checked against the injected clock in _check_times.
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt.InvalidSignatureError:
            raise TokenRejected("invalid signature") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenRejected(f"token has no {exc.claim} claim") from None
        except jwt.InvalidAudienceError:
            raise TokenRejected("wrong audience") from None
        except jwt.exceptions.InvalidSubjectError:
            raise TokenRejected("malformed sub claim") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected("wrong issuer") from None
        except jwt.InvalidAlgorithmError:
            raise TokenRejected("algorithm not allowed") from None
        except jwt.InvalidKeyError:
            raise TokenRejected("signing key not acceptable") from None
        except jwt.PyJWTError:
            raise TokenRejected("invalid token") from None
        return claims

    def _check_times(self, claims: dict[str, Any], leeway: float) -> datetime:
        now = self._clock()
        exp = _numeric_date(claims, "exp")
        assert exp is not None  # required by _verified_claims
        if exp <= now - leeway:
            raise TokenRejected("token expired")
        nbf = _numeric_date(claims, "nbf")
        if nbf is not None and nbf > now + leeway:
            raise TokenRejected("token not yet valid")
        iat = _numeric_date(claims, "iat")
        if iat is not None and iat > now + leeway:
            raise TokenRejected("token issued in the future")
        try:
            return datetime.fromtimestamp(exp, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise TokenRejected("malformed exp claim") from None


class _KeySet:
    """One issuer's JWKS: the usable keys by (kid, alg), fetched and refreshed as the module
    docstring says."""

    def __init__(
        self,
        issuer: str,
        url: str,
        algorithms: frozenset[str],
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float],
        min_refresh_seconds: float,
        cache_seconds: float,
        fetch_seconds: float,
    ) -> None:
        self.issuer = issuer
        self.url = url
        self.algorithms = algorithms
        self.http = http
        self.clock = clock
        self.min_refresh_seconds = min_refresh_seconds
        self.cache_seconds = cache_seconds
        self.fetch_seconds = fetch_seconds
        self.fetches = 0
        self._keys: dict[tuple[str, str], jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._error: str | None = None
        self._inflight: asyncio.Task[None] | None = None

    async def key(self, kid: str, alg: str) -> jwt.PyJWK:
        found = self._keys.get((kid, alg))
        if found is not None and self._fresh():
            return found
        if self._inflight is None and self._may_fetch():
            self._inflight = asyncio.create_task(self._fetch())
        if self._inflight is not None:
            # Shielded: a caller that gives up must not cancel the fetch others wait for.
            await asyncio.shield(self._inflight)
        found = self._keys.get((kid, alg))
        if found is not None:
            return found
        if self._error is not None:
            raise TokenRejected(f"signing keys unavailable: {self._error}")
        raise TokenRejected("unknown signing key")

    def _fresh(self) -> bool:
        if self._fetched_at is None:
            return False
        return 0 <= self.clock() - self._fetched_at < self.cache_seconds

    def _may_fetch(self) -> bool:
        if self._attempted_at is None:
            return True
        elapsed = self.clock() - self._attempted_at
        return elapsed < 0 or elapsed >= self.min_refresh_seconds

    async def _fetch(self) -> None:
        started = self._attempted_at = self.clock()
        self.fetches += 1
        try:
            keys = await self._download()
        except _BadKeySet as exc:
            self._error = str(exc)
            log.warning("JWKS of issuer %s not refreshed: %s", self.issuer, exc)
        else:
            self._keys = keys
            self._fetched_at = started
            self._error = None
        finally:
            self._inflight = None

    async def _download(self) -> dict[tuple[str, str], jwt.PyJWK]:
        request = self.http.build_request("GET", self.url, headers={"accept": "application/json"})
        try:
            response = await exchange(
                self.http, request, limit=MAX_JWKS_BYTES, seconds=self.fetch_seconds
            )
        except (httpx.TimeoutException, TimeoutError):
            raise _BadKeySet("the JWKS did not answer in time") from None
        except AnswerTooLarge:
            raise _BadKeySet(f"the JWKS is larger than {MAX_JWKS_BYTES} bytes") from None
        except httpx.HTTPError as exc:
            raise _BadKeySet(f"the JWKS is unreachable ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise _BadKeySet(f"the JWKS answered HTTP {response.status_code}")
        try:
            document = response.json()
        except ValueError:
            raise _BadKeySet("the JWKS is not JSON") from None
        return _usable_keys(document, self.algorithms, self.issuer)


class _BadKeySet(Exception):
    """A JWKS that could not be fetched or read; the message is safe to show."""


def _usable_keys(
    document: Any, algorithms: frozenset[str], issuer: str
) -> dict[tuple[str, str], jwt.PyJWK]:
    """The signing keys of a JWKS document by (kid, alg): each key under every allowed algorithm
    its type fits (and its own ``alg``, if it names one, allows)."""
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise _BadKeySet("the JWKS is not a key set")
    keys: dict[tuple[str, str], jwt.PyJWK] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        if entry.get("use", "sig") != "sig":
            continue
        if _PRIVATE_MEMBERS & entry.keys():
            log.warning(
                "JWKS of issuer %s publishes private key material (kid %r): ignored", issuer, kid
            )
            continue
        for alg in algorithms:
            kty, crv = _KEY_TYPES[alg]
            if entry.get("kty") != kty or (crv is not None and entry.get("crv") != crv):
                continue
            if entry.get("alg", alg) != alg:
                continue
            try:
                keys[(kid, alg)] = jwt.PyJWK(entry, alg)
            except jwt.PyJWTError:
                log.warning("JWKS of issuer %s: key %r cannot be read; ignored", issuer, kid)
    if not keys:
        raise _BadKeySet(f"the JWKS has no usable {'/'.join(sorted(algorithms))} key")
    return keys


def _hs256_key(issuer: JwtIssuer) -> jwt.PyJWK:
    assert issuer.hs256_secret is not None
    secret = issuer.hs256_secret.read().get_secret_value().encode()
    if len(secret) < MIN_HS256_SECRET_BYTES:
        raise ValueError(
            f"the HS256 secret of JWT issuer {issuer.issuer!r} "
            f"({issuer.hs256_secret.describe()}) is shorter than "
            f"{MIN_HS256_SECRET_BYTES} bytes"
        )
    k = base64.urlsafe_b64encode(secret).rstrip(b"=").decode()
    return jwt.PyJWK({"kty": "oct", "k": k}, "HS256")


def _numeric_date(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TokenRejected(f"malformed {name} claim")
    return float(value)


def _claim_strings(claims: dict[str, Any], path: str, what: str) -> tuple[str, ...]:
    """A list or space-separated string claim, by name or dotted path (``realm_access.roles``).
    A claim whose whole name contains dots (``https://example.com/roles``) is found first."""
    if path in claims:
        value = claims[path]
    else:
        value = claims
        for part in path.split("."):
            if value is None:
                break
            if not isinstance(value, dict):
                raise TokenRejected(f"malformed {what} claim")
            value = value.get(part)
    if value is None:
        return ()
    if isinstance(value, str):
        items = value.split()
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        items = [item for item in value if item]
    else:
        raise TokenRejected(f"malformed {what} claim")
    return tuple(dict.fromkeys(items))

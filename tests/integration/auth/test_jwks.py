"""JwtVerifier against an identity provider's JWKS served over real loopback HTTP.

The provider is a tiny Starlette app on its own port: tests change the key set it publishes and
its status, and read how many times it was asked. Time is an injected clock.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.auth.jwt import MAX_JWKS_BYTES, JwtVerifier, TokenRejected
from app.config import JwtIssuer
from app.simulators.server import serve_asgi
from tests.misbehaving import Misbehaving, misbehaving

NOW = 1_600_000_000.0
ISS = "https://idp.example.test/"
AUD = "crmgraph"
JWKS_PATH = "/.well-known/jwks.json"
REFRESH = 30.0

RsaKey = rsa.RSAPrivateKey
EcKey = ec.EllipticCurvePrivateKey


class IdentityProvider:
    """The JWKS endpoint. It runs in the server's thread; plain attributes are enough."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.status = 200
        self.requests = 0

    def app(self) -> Starlette:
        return Starlette(routes=[Route(JWKS_PATH, self.jwks)])

    async def jwks(self, request: Request) -> JSONResponse:
        self.requests += 1
        if self.status != 200:
            return JSONResponse({"error": "unavailable"}, status_code=self.status)
        return JSONResponse({"keys": self.keys})


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[IdentityProvider, str]]:
    provider = IdentityProvider()
    with serve_asgi(provider.app()) as url:
        yield provider, f"{url}{JWKS_PATH}"


@pytest.fixture(scope="module")
def rsa_key() -> RsaKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def new_rsa_key() -> RsaKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> EcKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(key: RsaKey | EcKey, kid: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        found = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        found = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**found, "kid": kid, "use": "sig"}


@pytest.fixture
def provider(
    served: tuple[IdentityProvider, str], rsa_key: RsaKey, ec_key: EcKey
) -> IdentityProvider:
    provider = served[0]
    provider.keys = [public_jwk(rsa_key, "rsa-1"), public_jwk(ec_key, "ec-1")]
    provider.status = 200
    provider.requests = 0
    return provider


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


def issuer(jwks_url: str, **changes: Any) -> JwtIssuer:
    settings = {"issuer": ISS, "audience": AUD, "jwks_url": jwks_url}
    return JwtIssuer.model_validate({**settings, **changes})


@pytest.fixture
def verifier(
    served: tuple[IdentityProvider, str],
    provider: IdentityProvider,
    http: httpx.AsyncClient,
    clock: Clock,
) -> JwtVerifier:
    return JwtVerifier([issuer(served[1])], http, clock=clock, min_refresh_seconds=REFRESH)


def claims(**changes: Any) -> dict[str, Any]:
    return {
        "iss": ISS,
        "aud": AUD,
        "sub": "user-1",
        "iat": int(NOW) - 60,
        "exp": int(NOW) + 3600,
        "roles": ["analyst"],
        "brands": ["luckyspin"],
        **changes,
    }


def rs256(key: RsaKey, payload: dict[str, Any], kid: str = "rsa-1") -> str:
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"


async def refused(verifier: JwtVerifier, token: str) -> str:
    with pytest.raises(TokenRejected) as raised:
        await verifier.verify(token)
    return str(raised.value)


# -- accepted -------------------------------------------------------------------------------


async def test_an_rs256_token_is_verified_with_the_published_key(
    verifier: JwtVerifier, provider: IdentityProvider, rsa_key: RsaKey
) -> None:
    verified = await verifier.verify(rs256(rsa_key, claims()))
    assert (verified.subject, verified.roles, verified.brands) == (
        "user-1",
        ("analyst",),
        ("luckyspin",),
    )
    assert provider.requests == 1


async def test_an_es256_token_is_verified_with_the_published_key(
    verifier: JwtVerifier, ec_key: EcKey
) -> None:
    token = jwt.encode(claims(sub="user-2"), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    assert (await verifier.verify(token)).subject == "user-2"


async def test_a_rotated_key_is_accepted_without_a_restart_for_one_extra_fetch(
    verifier: JwtVerifier,
    provider: IdentityProvider,
    rsa_key: RsaKey,
    new_rsa_key: RsaKey,
    clock: Clock,
) -> None:
    await verifier.verify(rs256(rsa_key, claims()))
    provider.keys = [public_jwk(new_rsa_key, "rsa-2"), *provider.keys]
    clock.now = NOW + REFRESH
    verified = await verifier.verify(rs256(new_rsa_key, claims(sub="rotated"), kid="rsa-2"))
    assert verified.subject == "rotated"
    await verifier.verify(rs256(rsa_key, claims()))
    assert (provider.requests, verifier.jwks_fetches()) == (2, 2)


async def test_concurrent_verifications_share_one_fetch(
    verifier: JwtVerifier, provider: IdentityProvider, rsa_key: RsaKey
) -> None:
    tokens = [rs256(rsa_key, claims(sub=f"user-{n}")) for n in range(25)]
    verified = await asyncio.gather(*(verifier.verify(token) for token in tokens))
    assert [v.subject for v in verified] == [f"user-{n}" for n in range(25)]
    assert provider.requests == 1


# -- the provider is asked sparingly ----------------------------------------------------------


async def test_a_flood_of_unknown_kids_costs_one_fetch_per_refresh_interval(
    verifier: JwtVerifier, provider: IdentityProvider, rsa_key: RsaKey, clock: Clock
) -> None:
    await verifier.verify(rs256(rsa_key, claims()))
    for interval in range(3):
        clock.now = NOW + interval * REFRESH + 1
        for n in range(40):
            token = rs256(rsa_key, claims(), kid=f"bogus-{interval}-{n}")
            assert await refused(verifier, token) == "unknown signing key"
    # The first interval shares the first fetch's; each later one costs exactly one.
    assert provider.requests == 3
    assert verifier.jwks_fetches() == 3


async def test_a_provider_answering_errors_refuses_tokens_and_is_not_hammered(
    verifier: JwtVerifier, provider: IdentityProvider, rsa_key: RsaKey
) -> None:
    provider.status = 503
    for _ in range(10):
        reason = await refused(verifier, rs256(rsa_key, claims()))
        assert reason == "signing keys unavailable: the JWKS answered HTTP 503"
    assert provider.requests == 1


async def test_an_unreachable_provider_refuses_tokens(
    http: httpx.AsyncClient, rsa_key: RsaKey, clock: Clock
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    verifier = JwtVerifier([issuer(f"http://127.0.0.1:{port}{JWKS_PATH}")], http, clock=clock)
    reason = await refused(verifier, rs256(rsa_key, claims()))
    assert reason == "signing keys unavailable: the JWKS is unreachable (ConnectError)"


async def test_a_provider_trickling_its_key_set_is_given_up_on_in_time(
    http: httpx.AsyncClient, rsa_key: RsaKey, clock: Clock
) -> None:
    # Each read comes well within the client's read timeout, so only the fetch's own total
    # time ends it (the whole key set would take 20 s).
    provider = Misbehaving(mode="trickle", size=100_000, step=100, pause=0.02)
    async with misbehaving(provider) as url:
        jwks = [issuer(f"{url}{JWKS_PATH}")]
        verifier = JwtVerifier(jwks, http, clock=clock, fetch_seconds=0.3)
        reason = await refused(verifier, rs256(rsa_key, claims()))
    assert reason == "signing keys unavailable: the JWKS did not answer in time"
    assert provider.sent < provider.size


async def test_a_key_set_larger_than_any_real_one_is_refused_unread(
    http: httpx.AsyncClient, rsa_key: RsaKey, clock: Clock
) -> None:
    provider = Misbehaving(mode="declared", size=2 * 1024**3)
    async with misbehaving(provider) as url:
        verifier = JwtVerifier([issuer(f"{url}{JWKS_PATH}")], http, clock=clock)
        reason = await refused(verifier, rs256(rsa_key, claims()))
    assert reason == f"signing keys unavailable: the JWKS is larger than {MAX_JWKS_BYTES} bytes"


# -- refused --------------------------------------------------------------------------------


async def test_a_forged_signature_is_refused(verifier: JwtVerifier, new_rsa_key: RsaKey) -> None:
    assert await refused(verifier, rs256(new_rsa_key, claims())) == "invalid signature"


async def test_an_expired_token_is_refused(verifier: JwtVerifier, rsa_key: RsaKey) -> None:
    token = rs256(rsa_key, claims(exp=int(NOW) - 3600))
    assert await refused(verifier, token) == "token expired"


async def test_a_token_not_yet_valid_is_refused(verifier: JwtVerifier, rsa_key: RsaKey) -> None:
    token = rs256(rsa_key, claims(nbf=int(NOW) + 3600))
    assert await refused(verifier, token) == "token not yet valid"


async def test_a_token_for_another_audience_is_refused(
    verifier: JwtVerifier, rsa_key: RsaKey
) -> None:
    token = rs256(rsa_key, claims(aud="another-api"))
    assert await refused(verifier, token) == "wrong audience"


async def test_a_token_from_an_untrusted_issuer_is_refused_without_a_fetch(
    verifier: JwtVerifier, provider: IdentityProvider, rsa_key: RsaKey
) -> None:
    token = rs256(rsa_key, claims(iss="https://attacker.example.test/"))
    assert await refused(verifier, token) == "unknown issuer"
    assert provider.requests == 0


async def test_alg_none_is_refused_without_a_fetch(
    verifier: JwtVerifier, provider: IdentityProvider
) -> None:
    token = unsigned({"alg": "none", "kid": "rsa-1"}, claims(roles=["admin"])) + "."
    assert await refused(verifier, token) == "algorithm not allowed"
    assert provider.requests == 0


async def test_hmac_keyed_with_the_providers_public_key_is_refused(
    verifier: JwtVerifier, rsa_key: RsaKey
) -> None:
    public = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = unsigned({"alg": "HS256", "kid": "rsa-1"}, claims(roles=["admin"]))
    signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64(signature)}"
    assert await refused(verifier, token) == "algorithm not allowed"

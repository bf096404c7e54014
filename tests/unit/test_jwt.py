"""JwtVerifier: which bearer tokens are accepted, and what a JWKS costs.

The identity provider's JWKS endpoint is an httpx.MockTransport at the very edge (its answers,
failures and timing are set per test); tests/integration/auth/test_jwks.py does the same over
real loopback HTTP. Time is an injected clock far from the wall clock, so a test that passes
proves the verifier read the injected time.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.warnings import InsecureKeyLengthWarning

from app.auth.jwt import MAX_TOKEN_LENGTH, JwtVerifier, TokenRejected, VerifiedToken
from app.config import JwtIssuer, SecretRef

NOW = 1_600_000_000.0
ISS = "https://idp.example.test/"
DEV_ISS = "https://dev.example.test/"
AUD = "crmgraph"
JWKS_URL = "http://127.0.0.1:9/.well-known/jwks.json"
SECRET_ENV = "CRMGRAPH_TEST_JWT_SECRET"
SECRET = "a-development-secret-of-forty-bytes-long!"
DROP = object()

RsaKey = rsa.RSAPrivateKey
EcKey = ec.EllipticCurvePrivateKey


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Jwks:
    """The identity provider's key set endpoint: what it answers, and how often it was asked."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.status = 200
        self.body: bytes | None = None
        self.error: Exception | None = None
        self.gate: asyncio.Event | None = None
        self.requests = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        if self.body is not None:
            return httpx.Response(self.status, content=self.body)
        return httpx.Response(self.status, json={"keys": self.keys})


# -- keys and tokens ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> RsaKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> RsaKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> EcKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(key: RsaKey | EcKey, kid: str, **extra: Any) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        found = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        found = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**found, "kid": kid, **extra}


def claims(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "sub": "user-1",
        "iat": int(NOW) - 60,
        "exp": int(NOW) + 3600,
        "roles": ["analyst"],
        "brands": ["luckyspin", "goldcoast"],
    }
    for name, value in changes.items():
        if value is DROP:
            payload.pop(name, None)
        else:
            payload[name] = value
    return payload


def rs256(key: RsaKey, payload: dict[str, Any], kid: str = "rsa-1") -> str:
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def es256(key: EcKey, payload: dict[str, Any], kid: str = "ec-1") -> str:
    return jwt.encode(payload, key, algorithm="ES256", headers={"kid": kid})


def hs256(payload: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode({"iss": DEV_ISS, **payload}, secret, algorithm="HS256")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(
    header: dict[str, Any], payload: dict[str, Any], sign: Callable[[bytes], bytes] | None = None
) -> str:
    """A token built by hand, as an attacker would: any header, any signature."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = sign(signing_input.encode()) if sign is not None else b""
    return f"{signing_input}.{b64(signature)}"


def hmac_with(secret: bytes) -> Callable[[bytes], bytes]:
    return lambda message: hmac.new(secret, message, hashlib.sha256).digest()


def public_pem(key: RsaKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# -- verifiers ------------------------------------------------------------------------------


def idp(**changes: Any) -> JwtIssuer:
    """The production-like issuer: RS256/ES256 from a JWKS."""
    settings: dict[str, Any] = {"issuer": ISS, "audience": AUD, "jwks_url": JWKS_URL}
    return JwtIssuer.model_validate({**settings, **changes})


def dev(**changes: Any) -> JwtIssuer:
    """The development issuer: HS256 with a shared secret."""
    settings: dict[str, Any] = {
        "issuer": DEV_ISS,
        "audience": AUD,
        "algorithms": ["HS256"],
        "hs256_secret": {"env": SECRET_ENV},
    }
    return JwtIssuer.model_validate({**settings, **changes})


@pytest.fixture
def jwks(rsa_key: RsaKey, ec_key: EcKey) -> Jwks:
    served = Jwks()
    served.keys = [public_jwk(rsa_key, "rsa-1"), public_jwk(ec_key, "ec-1")]
    return served


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def http(jwks: Jwks) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(jwks.handle)) as client:
        yield client


Make = Callable[..., JwtVerifier]


@pytest.fixture
def make(http: httpx.AsyncClient, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Make:
    monkeypatch.setenv(SECRET_ENV, SECRET)

    def build(*issuers: JwtIssuer, **options: Any) -> JwtVerifier:
        return JwtVerifier(issuers or (idp(), dev()), http, clock=clock, **options)

    return build


@pytest.fixture
def verifier(make: Make) -> JwtVerifier:
    return make()


async def reason(verifier: JwtVerifier, token: str) -> str:
    with pytest.raises(TokenRejected) as raised:
        await verifier.verify(token)
    return str(raised.value)


# -- accepted tokens ------------------------------------------------------------------------


async def test_a_valid_rs256_token_gives_its_identity(
    verifier: JwtVerifier, rsa_key: RsaKey
) -> None:
    verified = await verifier.verify(rs256(rsa_key, claims()))
    assert verified == VerifiedToken(
        subject="user-1",
        issuer=ISS,
        roles=("analyst",),
        brands=("luckyspin", "goldcoast"),
        expires_at=datetime.fromtimestamp(NOW + 3600, tz=UTC),
    )


async def test_a_valid_es256_token_is_accepted(verifier: JwtVerifier, ec_key: EcKey) -> None:
    verified = await verifier.verify(es256(ec_key, claims(sub="user-2")))
    assert verified.subject == "user-2"


async def test_a_valid_hs256_token_is_accepted(verifier: JwtVerifier) -> None:
    verified = await verifier.verify(hs256(claims(iss=DEV_ISS)))
    assert (verified.issuer, verified.subject) == (DEV_ISS, "user-1")


# -- the issuer and the algorithm -----------------------------------------------------------


async def test_an_unknown_issuer_is_refused(verifier: JwtVerifier, rsa_key: RsaKey) -> None:
    token = rs256(rsa_key, claims(iss="https://evil.example.test/"))
    assert await reason(verifier, token) == "unknown issuer"


async def test_a_token_without_an_issuer_is_refused(verifier: JwtVerifier, rsa_key: RsaKey) -> None:
    assert await reason(verifier, rs256(rsa_key, claims(iss=DROP))) == "token has no issuer"


@pytest.mark.parametrize("issuer", [ISS, DEV_ISS])
async def test_alg_none_is_refused(verifier: JwtVerifier, issuer: str) -> None:
    token = forge({"alg": "none", "typ": "JWT"}, claims(iss=issuer))
    assert await reason(verifier, token) == "algorithm not allowed"


@pytest.mark.parametrize("alg", ["None", "NONE", "HS512", "RS512", "PS256", "EdDSA", ""])
async def test_an_algorithm_off_the_allowlist_is_refused(
    verifier: JwtVerifier, rsa_key: RsaKey, alg: str
) -> None:
    token = forge({"alg": alg, "kid": "rsa-1"}, claims(), hmac_with(SECRET.encode()))
    assert await reason(verifier, token) == "algorithm not allowed"


async def test_an_alg_that_is_not_a_string_is_refused(verifier: JwtVerifier) -> None:
    token = forge({"alg": ["RS256"], "kid": "rsa-1"}, claims())
    assert await reason(verifier, token) == "algorithm not allowed"


async def test_hs256_is_refused_for_an_issuer_that_allows_only_rs256_and_es256(
    verifier: JwtVerifier, jwks: Jwks
) -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS256", headers={"kid": "rsa-1"})
    assert await reason(verifier, token) == "algorithm not allowed"
    assert jwks.requests == 0


async def test_hmac_keyed_with_the_issuers_public_key_is_refused(
    verifier: JwtVerifier, rsa_key: RsaKey
) -> None:
    token = forge({"alg": "HS256", "kid": "rsa-1"}, claims(), hmac_with(public_pem(rsa_key)))
    assert await reason(verifier, token) == "algorithm not allowed"


async def test_hs256_keys_come_only_from_the_secret_when_an_issuer_allows_both(
    make: Make, rsa_key: RsaKey
) -> None:
    both = idp(algorithms=["RS256", "HS256"], hs256_secret={"env": SECRET_ENV})
    verifier = make(both)
    assert (await verifier.verify(hs256(claims(iss=ISS)))).issuer == ISS
    for public in (public_pem(rsa_key), json.dumps(public_jwk(rsa_key, "rsa-1")).encode()):
        token = forge({"alg": "HS256", "kid": "rsa-1"}, claims(), hmac_with(public))
        assert await reason(verifier, token) == "invalid signature"


async def test_rs256_is_refused_for_an_es256_only_issuer(make: Make, rsa_key: RsaKey) -> None:
    verifier = make(idp(algorithms=["ES256"]))
    assert await reason(verifier, rs256(rsa_key, claims())) == "algorithm not allowed"


async def test_an_rs256_token_for_the_hs256_issuer_is_refused(
    verifier: JwtVerifier, rsa_key: RsaKey
) -> None:
    assert await reason(verifier, rs256(rsa_key, claims(iss=DEV_ISS))) == "algorithm not allowed"


async def test_a_jwks_token_without_a_kid_is_refused_without_a_fetch(
    verifier: JwtVerifier, rsa_key: RsaKey, jwks: Jwks
) -> None:
    token = jwt.encode(claims(), rsa_key, algorithm="RS256")
    assert await reason(verifier, token) == "token has no key id"
    assert jwks.requests == 0


async def test_each_algorithm_finds_the_key_of_its_own_type_under_a_shared_kid(
    verifier: JwtVerifier, jwks: Jwks, rsa_key: RsaKey, ec_key: EcKey
) -> None:
    jwks.keys = [public_jwk(ec_key, "shared"), public_jwk(rsa_key, "shared")]
    assert (await verifier.verify(rs256(rsa_key, claims(), kid="shared"))).subject == "user-1"
    assert (await verifier.verify(es256(ec_key, claims(), kid="shared"))).subject == "user-1"


async def test_a_kid_naming_a_key_of_another_type_is_not_used(
    verifier: JwtVerifier, jwks: Jwks, ec_key: EcKey, rsa_key: RsaKey
) -> None:
    jwks.keys = [public_jwk(ec_key, "ec-1"), public_jwk(rsa_key, "rsa-1")]
    assert await reason(verifier, rs256(rsa_key, claims(), kid="ec-1")) == "unknown signing key"


async def test_a_key_whose_own_alg_differs_is_not_used(
    verifier: JwtVerifier, jwks: Jwks, rsa_key: RsaKey
) -> None:
    jwks.keys = [public_jwk(rsa_key, "rsa-1", alg="RS512"), public_jwk(rsa_key, "ok")]
    assert await reason(verifier, rs256(rsa_key, claims())) == "unknown signing key"


async def test_an_encryption_key_is_not_used_for_signatures(
    verifier: JwtVerifier, jwks: Jwks, rsa_key: RsaKey
) -> None:
    jwks.keys = [public_jwk(rsa_key, "rsa-1", use="enc"), public_jwk(rsa_key, "ok")]
    assert await reason(verifier, rs256(rsa_key, claims())) == "unknown signing key"


async def test_private_key_material_in_a_jwks_is_not_used(
    verifier: JwtVerifier, jwks: Jwks, rsa_key: RsaKey, ec_key: EcKey
) -> None:
    jwks.keys = [RSAAlgorithm.to_jwk(rsa_key, as_dict=True) | {"kid": "rsa-1"}]
    jwks.keys.append(public_jwk(ec_key, "ec-1"))
    assert await reason(verifier, rs256(rsa_key, claims())) == "unknown signing key"


async def test_an_rsa_key_shorter_than_2048_bits_is_refused(
    verifier: JwtVerifier, jwks: Jwks
) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    jwks.keys = [public_jwk(weak, "rsa-1")]
    with pytest.warns(InsecureKeyLengthWarning):
        token = rs256(weak, claims())
    assert await reason(verifier, token) == "signing key not acceptable"


async def test_a_key_carried_in_the_token_header_is_not_trusted(
    verifier: JwtVerifier, other_rsa_key: RsaKey
) -> None:
    own = public_jwk(other_rsa_key, "rsa-1")
    token = jwt.encode(
        claims(), other_rsa_key, algorithm="RS256", headers={"kid": "rsa-1", "jwk": own}
    )
    assert await reason(verifier, token) == "invalid signature"


async def test_a_signature_by_another_key_is_refused(
    verifier: JwtVerifier, other_rsa_key: RsaKey
) -> None:
    assert await reason(verifier, rs256(other_rsa_key, claims())) == "invalid signature"


async def test_a_token_whose_claims_were_changed_after_signing_is_refused(
    verifier: JwtVerifier, rsa_key: RsaKey
) -> None:
    header, _, signature = rs256(rsa_key, claims()).split(".")
    payload = b64(json.dumps(claims(roles=["admin"])).encode())
    assert await reason(verifier, f"{header}.{payload}.{signature}") == "invalid signature"


async def test_an_hs256_token_signed_with_another_secret_is_refused(
    verifier: JwtVerifier,
) -> None:
    token = hs256(claims(iss=DEV_ISS), secret="another-secret-that-is-also-long-enough")
    assert await reason(verifier, token) == "invalid signature"


# -- claims ---------------------------------------------------------------------------------


async def test_a_token_expired_beyond_the_leeway_is_refused(
    verifier: JwtVerifier, rsa_key: RsaKey
) -> None:
    token = rs256(rsa_key, claims(exp=int(NOW) - 31))
    assert await reason(verifier, token) == "token expired"


async def test_a_token_expired_within_the_leeway_is_accepted(
    verifier: JwtVerifier, rsa_key: RsaKey
) -> None:
    assert (await verifier.verify(rs256(rsa_key, claims(exp=int(NOW) - 29)))).subject


async def test_expiry_is_read_from_the_injected_clock(
    verifier: JwtVerifier, rsa_key: RsaKey, clock: Clock
) -> None:
    token = rs256(rsa_key, claims(exp=int(NOW) + 60))
    await verifier.verify(token)
    clock.now = NOW + 91
    assert await reason(verifier, token) == "token expired"


async def test_the_leeway_is_the_issuers(make: Make, rsa_key: RsaKey) -> None:
    verifier = make(idp(leeway_seconds=0))
    assert await reason(verifier, rs256(rsa_key, claims(exp=int(NOW)))) == "token expired"


async def test_a_token_not_yet_valid_beyond_the_leeway_is_refused(
    verifier: JwtVerifier, rsa_key: RsaKey
) -> None:
    token = rs256(rsa_key, claims(nbf=int(NOW) + 31))
    assert await reason(verifier, token) == "token not yet valid"


async def test_a_token_not_yet_valid_within_the_leeway_is_accepted(
    verifier: JwtVerifier, rsa_key: RsaKey
) -> None:
    assert (await verifier.verify(rs256(rsa_key, claims(nbf=int(NOW) + 29)))).subject


async def test_a_token_issued_in_the_future_is_refused(
    verifier: JwtVerifier, rsa_key: RsaKey
) -> None:
    token = rs256(rsa_key, claims(iat=int(NOW) + 3600))
    assert await reason(verifier, token) == "token issued in the future"


@pytest.mark.parametrize("claim", ["exp", "aud", "sub"])
async def test_a_token_without_a_required_claim_is_refused(
    verifier: JwtVerifier, rsa_key: RsaKey, claim: str
) -> None:
    token = rs256(rsa_key, claims(**{claim: DROP}))
    assert await reason(verifier, token) == f"token has no {claim} claim"


@pytest.mark.parametrize(
    ("claim", "value"),
    [("exp", "tomorrow"), ("exp", True), ("exp", 1e300), ("nbf", "now"), ("iat", [1])],
)
async def test_a_time_claim_that_is_not_a_usable_date_is_refused(
    verifier: JwtVerifier, rsa_key: RsaKey, claim: str, value: Any
) -> None:
    token = rs256(rsa_key, claims(**{claim: value}))
    assert await reason(verifier, token) == f"malformed {claim} claim"


@pytest.mark.parametrize("subject", ["", 42])
async def test_a_subject_that_is_not_a_non_empty_string_is_refused(
    verifier: JwtVerifier, rsa_key: RsaKey, subject: Any
) -> None:
    assert await reason(verifier, rs256(rsa_key, claims(sub=subject))) == "malformed sub claim"


@pytest.mark.parametrize("audience", ["someone-else", ["someone-else", "another"]])
async def test_a_token_for_another_audience_is_refused(
    verifier: JwtVerifier, rsa_key: RsaKey, audience: Any
) -> None:
    assert await reason(verifier, rs256(rsa_key, claims(aud=audience))) == "wrong audience"


async def test_a_token_for_several_audiences_including_ours_is_accepted(
    verifier: JwtVerifier, rsa_key: RsaKey
) -> None:
    assert (await verifier.verify(rs256(rsa_key, claims(aud=["other", AUD])))).subject


async def test_an_issuer_with_several_audiences_accepts_any_of_them(
    make: Make, rsa_key: RsaKey
) -> None:
    verifier = make(idp(audience=["crmgraph-staging", "crmgraph-eu"]))
    assert (await verifier.verify(rs256(rsa_key, claims(aud="crmgraph-eu")))).subject
    assert await reason(verifier, rs256(rsa_key, claims())) == "wrong audience"


async def test_roles_and_brands_may_be_space_separated_strings(
    verifier: JwtVerifier, rsa_key: RsaKey
) -> None:
    token = rs256(rsa_key, claims(roles="analyst  support", brands="northstar"))
    verified = await verifier.verify(token)
    assert (verified.roles, verified.brands) == (("analyst", "support"), ("northstar",))


async def test_missing_roles_and_brands_are_empty(verifier: JwtVerifier, rsa_key: RsaKey) -> None:
    verified = await verifier.verify(rs256(rsa_key, claims(roles=DROP, brands=DROP)))
    assert (verified.roles, verified.brands) == ((), ())


async def test_roles_and_brands_are_read_from_dotted_paths(make: Make, rsa_key: RsaKey) -> None:
    verifier = make(idp(roles_claim="realm_access.roles", brands_claim="ext.crm.brands"))
    payload = claims(
        roles=["admin"],
        brands=DROP,
        realm_access={"roles": ["support", "marketing"]},
        ext={"crm": {"brands": "goldcoast"}},
    )
    verified = await verifier.verify(rs256(rsa_key, payload))
    assert (verified.roles, verified.brands) == (("support", "marketing"), ("goldcoast",))


async def test_a_dotted_path_that_is_missing_part_way_gives_nothing(
    make: Make, rsa_key: RsaKey
) -> None:
    verifier = make(idp(roles_claim="realm_access.roles"))
    assert (await verifier.verify(rs256(rsa_key, claims(realm_access={})))).roles == ()
    assert (await verifier.verify(rs256(rsa_key, claims()))).roles == ()


async def test_a_claim_whose_name_contains_dots_is_read_whole(make: Make, rsa_key: RsaKey) -> None:
    verifier = make(idp(roles_claim="https://crm.example.test/roles"))
    payload = claims(**{"https://crm.example.test/roles": ["support"]})
    assert (await verifier.verify(rs256(rsa_key, payload))).roles == ("support",)


@pytest.mark.parametrize("roles", [42, {"admin": True}, ["admin", 7], [["admin"]]])
async def test_a_roles_claim_of_another_shape_is_refused(
    verifier: JwtVerifier, rsa_key: RsaKey, roles: Any
) -> None:
    assert await reason(verifier, rs256(rsa_key, claims(roles=roles))) == "malformed roles claim"


async def test_a_brands_path_through_a_non_object_is_refused(make: Make, rsa_key: RsaKey) -> None:
    verifier = make(idp(brands_claim="ext.brands"))
    token = rs256(rsa_key, claims(ext="luckyspin"))
    assert await reason(verifier, token) == "malformed brands claim"


# -- malformed tokens -----------------------------------------------------------------------

RS256_HEADER = b64(json.dumps({"alg": "RS256", "kid": "rsa-1"}).encode())
MALFORMED = {
    "empty": "",
    "one part": "abc",
    "two parts": "abc.def",
    "four parts": "a.b.c.d",
    "not base64": "!!!.$$$.###",
    "header not JSON": f"{b64(b'not json')}.{b64(b'{}')}.{b64(b'sig')}",
    "header not an object": f"{b64(b'[1, 2]')}.{b64(b'{}')}.{b64(b'sig')}",
    "payload not JSON": f"{RS256_HEADER}.{b64(b'{{{')}.{b64(b'sig')}",
    "payload not an object": f"{RS256_HEADER}.{b64(b'7')}.{b64(b'sig')}",
    "deeply nested header": f"{b64(b'[' * 10_000)}.{b64(b'{}')}.{b64(b'sig')}",
    "not ascii": "ééé.ééé.ééé",
    "kid not a string": forge({"alg": "RS256", "kid": 7}, claims()),
    "crit extension": forge({"alg": "RS256", "kid": "rsa-1", "crit": ["x"], "x": 1}, claims()),
    "too long": "a" * (MAX_TOKEN_LENGTH + 1),
}


@pytest.mark.parametrize("token", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_token_is_refused_never_crashes(
    verifier: JwtVerifier, jwks: Jwks, token: str
) -> None:
    assert await reason(verifier, token) in {"malformed token", "token too long"}
    assert jwks.requests == 0


async def test_a_refusal_names_neither_the_token_nor_the_secret(verifier: JwtVerifier) -> None:
    token = hs256(claims(iss=DEV_ISS, exp=int(NOW) - 3600))
    found = await reason(verifier, token)
    assert found == "token expired"
    for part in (*token.split("."), SECRET):
        assert part not in found


# -- construction ---------------------------------------------------------------------------


def test_an_issuer_configured_twice_is_refused(make: Make) -> None:
    with pytest.raises(ValueError, match="configured twice"):
        make(idp(), idp(audience="other"))


def test_a_short_hs256_secret_is_refused_at_start(
    make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "short-secret")
    with pytest.raises(ValueError, match="shorter than 32 bytes") as raised:
        make(dev())
    assert "short-secret" not in str(raised.value)


def test_a_missing_hs256_secret_is_refused_at_start(
    make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV)
    with pytest.raises(ValueError, match=SECRET_ENV):
        make(dev(hs256_secret=SecretRef(env=SECRET_ENV)))


# -- the JWKS: caching, refresh, failures ---------------------------------------------------


async def test_the_key_set_is_fetched_once_and_cached(
    verifier: JwtVerifier, jwks: Jwks, rsa_key: RsaKey, ec_key: EcKey
) -> None:
    for _ in range(3):
        await verifier.verify(rs256(rsa_key, claims()))
        await verifier.verify(es256(ec_key, claims()))
    assert (jwks.requests, verifier.jwks_fetches()) == (1, 1)


async def test_hs256_tokens_never_fetch_the_key_set(verifier: JwtVerifier, jwks: Jwks) -> None:
    await verifier.verify(hs256(claims(iss=DEV_ISS)))
    assert (jwks.requests, verifier.jwks_fetches()) == (0, 0)


async def test_the_key_set_is_fetched_again_when_the_cache_expires(
    make: Make, jwks: Jwks, rsa_key: RsaKey, clock: Clock
) -> None:
    verifier = make(cache_seconds=600)
    await verifier.verify(rs256(rsa_key, claims()))
    clock.now = NOW + 599
    await verifier.verify(rs256(rsa_key, claims()))
    assert jwks.requests == 1
    clock.now = NOW + 600
    await verifier.verify(rs256(rsa_key, claims()))
    assert jwks.requests == 2


async def test_a_key_removed_from_the_set_stops_working_after_the_cache_expires(
    make: Make, jwks: Jwks, rsa_key: RsaKey, ec_key: EcKey, clock: Clock
) -> None:
    verifier = make(cache_seconds=600)
    await verifier.verify(rs256(rsa_key, claims()))
    jwks.keys = [public_jwk(ec_key, "ec-1")]
    clock.now = NOW + 600
    assert await reason(verifier, rs256(rsa_key, claims())) == "unknown signing key"


async def test_a_new_kid_is_fetched_at_once_without_a_restart(
    verifier: JwtVerifier, jwks: Jwks, rsa_key: RsaKey, other_rsa_key: RsaKey, clock: Clock
) -> None:
    await verifier.verify(rs256(rsa_key, claims()))
    jwks.keys.append(public_jwk(other_rsa_key, "rsa-2"))
    clock.now = NOW + 30  # the refresh interval, well inside the cache's 600 s
    verified = await verifier.verify(rs256(other_rsa_key, claims(), kid="rsa-2"))
    assert verified.subject == "user-1"
    assert jwks.requests == 2


async def test_unknown_kids_cost_one_fetch_per_refresh_interval(
    make: Make, jwks: Jwks, rsa_key: RsaKey, clock: Clock
) -> None:
    verifier = make(min_refresh_seconds=30)
    await verifier.verify(rs256(rsa_key, claims()))
    for n in range(50):
        assert await reason(verifier, rs256(rsa_key, claims(), kid=f"bogus-{n}")) == (
            "unknown signing key"
        )
    assert jwks.requests == 1
    clock.now = NOW + 30
    for n in range(50):
        await reason(verifier, rs256(rsa_key, claims(), kid=f"bogus-{n}"))
    assert jwks.requests == 2


async def test_a_rotated_key_waits_for_the_refresh_interval_after_an_unknown_kid(
    make: Make, jwks: Jwks, rsa_key: RsaKey, other_rsa_key: RsaKey, clock: Clock
) -> None:
    verifier = make(min_refresh_seconds=30)
    await verifier.verify(rs256(rsa_key, claims()))
    jwks.keys.append(public_jwk(other_rsa_key, "rsa-2"))
    clock.now = NOW + 10
    token = rs256(other_rsa_key, claims(), kid="rsa-2")
    assert await reason(verifier, token) == "unknown signing key"
    clock.now = NOW + 40
    assert (await verifier.verify(token)).subject == "user-1"
    assert jwks.requests == 2


async def test_concurrent_verifications_share_one_fetch(
    verifier: JwtVerifier, jwks: Jwks, rsa_key: RsaKey, ec_key: EcKey
) -> None:
    jwks.gate = asyncio.Event()
    tokens = [rs256(rsa_key, claims(sub=f"u{n}")) for n in range(10)]
    tokens += [es256(ec_key, claims(sub=f"e{n}")) for n in range(10)]
    waiting = asyncio.gather(*(verifier.verify(token) for token in tokens))
    for _ in range(5):
        await asyncio.sleep(0)
    jwks.gate.set()
    verified = await waiting
    assert [v.subject for v in verified] == [f"u{n}" for n in range(10)] + [
        f"e{n}" for n in range(10)
    ]
    assert (jwks.requests, verifier.jwks_fetches()) == (1, 1)


async def test_a_caller_that_gives_up_does_not_cancel_the_shared_fetch(
    verifier: JwtVerifier, jwks: Jwks, rsa_key: RsaKey
) -> None:
    jwks.gate = asyncio.Event()
    impatient = asyncio.ensure_future(verifier.verify(rs256(rsa_key, claims(sub="a"))))
    patient = asyncio.ensure_future(verifier.verify(rs256(rsa_key, claims(sub="b"))))
    for _ in range(5):
        await asyncio.sleep(0)
    impatient.cancel()
    jwks.gate.set()
    assert (await patient).subject == "b"
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert jwks.requests == 1


UNAVAILABLE: dict[str, tuple[Callable[[Jwks], None], str]] = {
    "connection refused": (
        lambda j: setattr(j, "error", httpx.ConnectError("refused")),
        "the JWKS is unreachable (ConnectError)",
    ),
    "timeout": (
        lambda j: setattr(j, "error", httpx.ReadTimeout("slow")),
        "the JWKS did not answer in time",
    ),
    "server error": (lambda j: setattr(j, "status", 503), "the JWKS answered HTTP 503"),
    "not JSON": (lambda j: setattr(j, "body", b"<html>"), "the JWKS is not JSON"),
    "not a key set": (lambda j: setattr(j, "body", b'{"keys": {}}'), "the JWKS is not a key set"),
    "no usable key": (
        lambda j: setattr(j, "keys", [{"kty": "RSA", "kid": "x"}, "junk"]),
        "the JWKS has no usable ES256/RS256 key",
    ),
}


@pytest.mark.parametrize("failure", UNAVAILABLE.values(), ids=UNAVAILABLE.keys())
async def test_an_unavailable_key_set_refuses_the_token_with_the_reason(
    verifier: JwtVerifier, jwks: Jwks, rsa_key: RsaKey, failure: tuple[Callable[[Jwks], None], str]
) -> None:
    breaks, why = failure
    breaks(jwks)
    assert await reason(verifier, rs256(rsa_key, claims())) == f"signing keys unavailable: {why}"


async def test_a_key_set_that_is_down_is_asked_once_per_refresh_interval(
    make: Make, jwks: Jwks, rsa_key: RsaKey, clock: Clock
) -> None:
    verifier = make(min_refresh_seconds=30)
    jwks.status = 503
    for _ in range(20):
        await reason(verifier, rs256(rsa_key, claims()))
    assert jwks.requests == 1
    jwks.status = 200
    clock.now = NOW + 30
    assert (await verifier.verify(rs256(rsa_key, claims()))).subject == "user-1"
    assert jwks.requests == 2


async def test_the_last_good_keys_are_kept_while_a_refresh_fails(
    make: Make, jwks: Jwks, rsa_key: RsaKey, clock: Clock
) -> None:
    verifier = make(cache_seconds=600)
    await verifier.verify(rs256(rsa_key, claims()))
    jwks.status = 503
    clock.now = NOW + 601
    assert (await verifier.verify(rs256(rsa_key, claims()))).subject == "user-1"
    assert jwks.requests == 2
    token = rs256(rsa_key, claims(), kid="rotated")
    clock.now = NOW + 700
    assert await reason(verifier, token) == ("signing keys unavailable: the JWKS answered HTTP 503")


@pytest.fixture
def warnings_logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level("WARNING", logger="app.auth.jwt")
    return caplog


async def test_a_failed_fetch_is_logged_without_a_token_or_key(
    verifier: JwtVerifier,
    jwks: Jwks,
    rsa_key: RsaKey,
    warnings_logged: pytest.LogCaptureFixture,
) -> None:
    jwks.status = 500
    token = rs256(rsa_key, claims())
    await reason(verifier, token)
    messages = [record.getMessage() for record in warnings_logged.records]
    assert messages == [f"JWKS of issuer {ISS} not refreshed: the JWKS answered HTTP 500"]
    assert all(part not in messages[0] for part in token.split("."))

"""Bearer tokens from identity providers, end to end through the gateway's HTTP endpoint."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.simulators.server import RunningSimulators, serve_asgi
from app.simulators.world import World
from tests.integration.gateway.conftest import Upstreams, errors_at, serve_gateway

SECRET = "a-development-secret-of-at-least-32-bytes!"
AUDIENCE = "crmgraph"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url(rsa_key: rsa.RSAPrivateKey) -> Iterator[str]:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    keys = {"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}
    app = Starlette(routes=[Route("/jwks.json", lambda _: JSONResponse(keys))])
    with serve_asgi(app) as url:
        yield f"{url}/jwks.json"


@pytest.fixture(scope="module")
def gateway(
    simulators: RunningSimulators, keys_file: Path, jwks_url: str, monkeypatch_module: Any
) -> Iterator[str]:
    monkeypatch_module.setenv("CRMGRAPH_TEST_JWT_SECRET", SECRET)
    issuers = [
        {
            "issuer": "https://idp.test/",
            "audience": AUDIENCE,
            "jwks_url": jwks_url,
            "algorithms": ["RS256"],
        },
        {
            "issuer": "dev",
            "audience": AUDIENCE,
            "hs256_secret": {"env": "CRMGRAPH_TEST_JWT_SECRET"},
            "algorithms": ["HS256"],
        },
    ]
    auth = {"keys_file": str(keys_file), "jwt": issuers}
    with serve_gateway(simulators.base_url, keys_file, auth=auth) as url:
        yield url


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": "dev", "aud": AUDIENCE, "sub": "ada", "iat": now, "exp": now + 300, **extra}


async def ask(gateway: str, token: str, query: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway) as client:
        return await client.post(
            "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
        )


async def test_a_token_brings_its_roles_and_brands(gateway: str, world: World) -> None:
    token = jwt.encode(claims(roles=["support"], brands=["luckyspin"]), SECRET, "HS256")
    mine = next(p for p in world.customers if p.brand.key == "luckyspin")
    theirs = next(p for p in world.customers if p.brand.key == "goldcoast")
    query = f"""{{ mine: customer(id: "hubspot:{mine.hubspot_id}") {{ email phone }}
                  theirs: customer(id: "hubspot:{theirs.hubspot_id}") {{ email }} }}"""
    body = (await ask(gateway, token, query)).json()
    assert body["data"]["mine"] == {"email": mine.email, "phone": None}
    assert errors_at(body, "mine", "phone")[0]["extensions"]["code"] == "FORBIDDEN"
    assert body["data"]["theirs"] is None
    assert errors_at(body, "theirs")[0]["extensions"]["code"] == "NOT_FOUND"


async def test_an_rs256_token_is_checked_against_the_providers_jwks(
    gateway: str, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = jwt.encode(
        claims(iss="https://idp.test/", roles=["analyst"], brands=["*"]),
        rsa_key,
        "RS256",
        headers={"kid": "k1"},
    )
    response = await ask(gateway, token, "{ sources { name } }")
    assert response.status_code == 200
    assert len(response.json()["data"]["sources"]) == 4


@pytest.mark.parametrize(
    "attack",
    ["forged", "expired", "not yet valid", "wrong audience", "alg none", "rs/hs confusion"],
)
async def test_a_bad_token_is_401_and_costs_no_upstream_call(
    gateway: str, rsa_key: rsa.RSAPrivateKey, upstreams: Upstreams, attack: str
) -> None:
    now = int(time.time())
    good = claims(roles=["admin"], brands=["*"])
    token = {
        "forged": lambda: jwt.encode(good, "another-secret-that-is-also-32-bytes-long", "HS256"),
        "expired": lambda: jwt.encode({**good, "exp": now - 3600}, SECRET, "HS256"),
        "not yet valid": lambda: jwt.encode({**good, "nbf": now + 3600}, SECRET, "HS256"),
        "wrong audience": lambda: jwt.encode({**good, "aud": "someone-else"}, SECRET, "HS256"),
        "alg none": lambda: jwt.encode(good, None, "none"),
        "rs/hs confusion": lambda: _hmac_with_public_key(good, rsa_key),
    }[attack]()
    response = await ask(gateway, token, '{ customer(id: "hubspot:1001") { name } }')
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert token not in response.text
    assert await upstreams.total() == 0


def _hmac_with_public_key(payload: dict[str, Any], key: rsa.RSAPrivateKey) -> str:
    # The classic confusion attack: sign with HMAC, using the RS256 public key as the secret.
    import base64
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import serialization

    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    body = b64(json.dumps({**payload, "iss": "https://idp.test/"}).encode())
    signature = hmac.new(public, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64(signature)}"


async def test_a_refused_request_is_an_audit_event(
    gateway: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="crmgraph.audit"):
        await ask(gateway, "not-a-token", "{ sources { name } }")
    [event] = [r for r in caplog.records if getattr(r, "event", None) == "request.refused"]
    assert event.code == "UNAUTHENTICATED"  # type: ignore[attr-defined]
    assert "not-a-token" not in event.getMessage()


async def test_cors_allows_only_the_configured_origins(
    simulators: RunningSimulators, keys_file: Path
) -> None:
    cors = {"allow_origins": ["https://dashboard.example.com"]}
    with serve_gateway(simulators.base_url, keys_file, cors=cors) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            headers = {"Access-Control-Request-Method": "POST"}
            allowed = await client.options(
                "/graphql", headers={**headers, "Origin": "https://dashboard.example.com"}
            )
            other = await client.options(
                "/graphql", headers={**headers, "Origin": "https://evil.example.com"}
            )
    assert allowed.headers["access-control-allow-origin"] == "https://dashboard.example.com"
    assert "access-control-allow-origin" not in other.headers

"""The Microsoft identity platform's client-credentials token endpoint, as far as Dataverse
needs it: ``POST /{tenant}/oauth2/v2.0/token`` and the bearer tokens it hands out."""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from app.simulators.credentials import (
    DYNAMICS_CLIENT_ID,
    DYNAMICS_CLIENT_SECRET,
    DYNAMICS_TENANT_ID,
)
from app.simulators.responses import JSONResponse

EXPIRES_IN = 3599
LOGIN = "https://login.microsoftonline.com"


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def aad_error(status: int, error: str, code: int, description: str) -> JSONResponse:
    """The identity platform's error body (``AADSTS<code>: …`` and its trace fields)."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    trace, correlation = uuid.uuid4(), uuid.uuid4()
    body = {
        "error": error,
        "error_description": (
            f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation} "
            f"Timestamp: {now}"
        ),
        "error_codes": [code],
        "timestamp": now,
        "trace_id": str(trace),
        "correlation_id": str(correlation),
        "error_uri": f"{LOGIN}/error?code={code}",
    }
    return JSONResponse(body, status)


class TokenIssuer:
    """Issues bearer tokens for the client credentials grant and remembers them until they
    expire (or a test expires them all)."""

    def __init__(self) -> None:
        self.tokens: dict[str, float] = {}

    def valid(self, authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        expiry = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        return expiry is not None and expiry > time.time()

    def expire_all(self) -> int:
        count = len(self.tokens)
        self.tokens.clear()
        return count

    async def token(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        body = (await request.body()).decode("utf-8", "replace")
        fields = {k: v[0] for k, v in parse_qs(body).items()}
        if tenant not in (DYNAMICS_TENANT_ID, "organizations"):
            return aad_error(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
                "and are signing into the correct cloud.",
            )
        for name in ("grant_type", "client_id", "scope"):
            if not fields.get(name):
                return aad_error(
                    400,
                    "invalid_request",
                    900144,
                    f"The request body must contain the following parameter: '{name}'.",
                )
        if fields["grant_type"] != "client_credentials":
            return aad_error(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{fields['grant_type']}'.",
            )
        client_id, scope = fields["client_id"], fields["scope"]
        if client_id != DYNAMICS_CLIENT_ID:
            return aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{DYNAMICS_TENANT_ID}'.",
            )
        secret = fields.get("client_secret", "")
        if not secrets.compare_digest(secret.encode(), DYNAMICS_CLIENT_SECRET.encode()):
            return aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                "the client secret value, not the client secret ID, for a secret added to app "
                f"'{client_id}'.",
            )
        if not scope.endswith("/.default") or " " in scope.strip():
            return aad_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        token = self._issue(scope.removesuffix("/.default"))
        return JSONResponse(
            {
                "token_type": "Bearer",
                "expires_in": EXPIRES_IN,
                "ext_expires_in": EXPIRES_IN,
                "access_token": token,
            }
        )

    def _issue(self, audience: str) -> str:
        issued = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "kid": "sim-dynamics-signing-key"}
        claims = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{DYNAMICS_TENANT_ID}/",
            "iat": issued,
            "nbf": issued,
            "exp": issued + EXPIRES_IN,
            "appid": DYNAMICS_CLIENT_ID,
            "tid": DYNAMICS_TENANT_ID,
            "ver": "1.0",
        }
        signature = base64.urlsafe_b64encode(secrets.token_bytes(64)).decode().rstrip("=")
        token = f"{_b64(header)}.{_b64(claims)}.{signature}"
        self.tokens[token] = issued + EXPIRES_IN
        return token

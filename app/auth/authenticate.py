"""Turn a request's credentials into a Principal, or refuse it.

An API key (``X-API-Key``) or a bearer JWT (``Authorization: Bearer``). Unknown, expired and
revoked keys are refused alike, with the same words, so a refusal tells an attacker nothing.
Without credentials a caller is refused unless the config names an anonymous role (the demo
lets loopback callers in as the read-only analyst).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping

from app.auth.jwt import JwtVerifier, TokenRejected
from app.auth.keys import KeyStore
from app.auth.policy import Policy
from app.auth.principal import Principal, brands_of
from app.config import Auth

audit = logging.getLogger("crmgraph.audit")


class Unauthenticated(Exception):
    """Refused credentials; ``str()`` is safe to show the caller."""


class Authenticator:
    def __init__(
        self,
        auth: Auth,
        policy: Policy,
        keys: KeyStore | None,
        tokens: JwtVerifier | None,
    ) -> None:
        self.auth = auth
        self.policy = policy
        self.keys = keys
        self.tokens = tokens

    async def authenticate(self, headers: Mapping[str, str], client: str | None) -> Principal:
        key = headers.get("x-api-key")
        bearer = headers.get("authorization", "")
        if key is not None and bearer:
            raise Unauthenticated("send one credential: X-API-Key or a bearer token, not both")
        if key is not None:
            return self._api_key(key)
        if bearer:
            scheme, _, token = bearer.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
            return await self._token(token.strip())
        return self._anonymous(client)

    def _api_key(self, presented: str) -> Principal:
        found = self.keys.verify(presented.strip()) if self.keys is not None else None
        if found is None or not self.policy.knows(found.role):
            raise Unauthenticated("the API key is not valid")
        return Principal(
            subject=f"key:{found.id}",
            kind="api_key",
            roles=(found.role,),
            brands=brands_of(found.brands),
        )

    async def _token(self, token: str) -> Principal:
        if self.tokens is None:
            raise Unauthenticated("bearer tokens are not accepted here")
        try:
            verified = await self.tokens.verify(token)
        except TokenRejected as exc:
            raise Unauthenticated(f"the bearer token is not valid: {exc}") from None
        roles = tuple(r for r in verified.roles if self.policy.knows(r))
        if not roles:
            raise Unauthenticated("the bearer token carries no role this server knows")
        return Principal(
            subject=f"jwt:{verified.issuer}:{verified.subject}",
            kind="jwt",
            roles=roles,
            brands=brands_of(verified.brands),
        )

    def _anonymous(self, client: str | None) -> Principal:
        role = self.auth.anonymous_role
        if role is None:
            raise Unauthenticated("credentials are required: X-API-Key or a bearer token")
        if self.auth.anonymous_loopback_only and not _loopback(client):
            raise Unauthenticated("credentials are required from outside this machine")
        return Principal(subject="anonymous", kind="anonymous", roles=(role,), brands=None)


def _loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"

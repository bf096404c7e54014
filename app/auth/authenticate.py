"""Turn a request's credentials into a Principal, or refuse it.

An API key (``X-API-Key``) or a bearer JWT (``Authorization: Bearer``). Unknown, expired and
revoked keys are refused alike, with the same words, so a refusal tells an attacker nothing.
Without credentials a caller is refused unless the config names an anonymous role (the demo
lets loopback callers in as the read-only analyst, when their ``Host`` names the loopback
interface too). :meth:`Authenticator.lapsed` tells a long-lived connection when the
credentials it was admitted with stop being valid.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Mapping

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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.auth = auth
        self.policy = policy
        self.keys = keys
        self.tokens = tokens
        self._clock = clock

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
        return self._anonymous(client, headers.get("host"))

    def lapsed(self, principal: Principal) -> str | None:
        """Why a caller admitted earlier (a websocket, open for hours) may no longer act — its
        API key revoked or expired since, its token past ``exp`` — or None while it may."""
        if principal.kind == "api_key":
            key_id = principal.subject.removeprefix("key:")
            if self.keys is None or not self.keys.is_active(key_id):
                return "the API key is not valid"
        if principal.expires_at is not None and self._clock() >= principal.expires_at:
            return "the bearer token has expired"
        return None

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
        leeway = next((i.leeway_seconds for i in self.auth.jwt if i.issuer == verified.issuer), 0.0)
        return Principal(
            subject=f"jwt:{verified.issuer}:{verified.subject}",
            kind="jwt",
            roles=roles,
            brands=brands_of(verified.brands),
            expires_at=verified.expires_at.timestamp() + leeway,
        )

    def _anonymous(self, client: str | None, host: str | None) -> Principal:
        role = self.auth.anonymous_role
        if role is None:
            raise Unauthenticated("credentials are required: X-API-Key or a bearer token")
        if self.auth.anonymous_loopback_only:
            if not _loopback(client):
                raise Unauthenticated("credentials are required from outside this machine")
            # A page of any site may resolve its own name to 127.0.0.1 (DNS rebinding): the
            # browser then calls us from this machine, naming that site in Host.
            if not _loopback_host(host):
                raise Unauthenticated(
                    "without credentials the Host header must name this machine "
                    "(localhost, 127.0.0.1 or [::1], with a port or not)"
                )
        return Principal(subject="anonymous", kind="anonymous", roles=(role,), brands=None)


def _loopback_host(host: str | None) -> bool:
    """Whether a Host header names the loopback interface: ``localhost`` or a loopback
    address literal, with an optional port. Only these cannot be rebound by a DNS answer."""
    if not host:
        return False
    name, port = host, ""
    if host.startswith("["):
        name, bracket, port = host[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            return False
        port = port[1:]
    elif host.count(":") == 1:
        name, _, port = host.partition(":")
    if port and not (port.isascii() and port.isdigit()):
        return False
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"

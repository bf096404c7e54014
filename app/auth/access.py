"""Everything that decides whether a request may run, built once from the settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.auth.authenticate import Authenticator
from app.auth.jwt import JwtVerifier
from app.auth.keys import KeyStore
from app.auth.limits import QueryLimits
from app.auth.persisted import PersistedQueryStore
from app.auth.policy import Policy, roles_in_force
from app.auth.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from app.config import Settings
from app.resilience.outage import Outage

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Access:
    policy: Policy
    authenticator: Authenticator
    persisted: PersistedQueryStore
    limits: QueryLimits
    rate: RateLimiter | None
    http: httpx.AsyncClient
    redis: redis.Redis | None

    async def aclose(self) -> None:
        await self.http.aclose()
        if self.redis is not None:
            await self.redis.aclose()


def build_access(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> Access:
    policy = Policy(roles_in_force(settings.roles), settings.custom_fields())
    auth = settings.auth
    http = httpx.AsyncClient(timeout=httpx.Timeout(5.0), transport=transport)
    keys = KeyStore(auth.keys_file) if auth.keys_file is not None else None
    tokens = JwtVerifier(auth.jwt, http) if auth.jwt else None
    limits = settings.limits
    client = None
    if settings.redis_url:
        # Fail fast: a request must not wait seconds on a Redis that is down (the rate check
        # is then skipped and logged, see schema.extensions.RequestPlan).
        client = redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout,
            socket_connect_timeout=settings.redis_timeout,
            retry=Retry(NoBackoff(), 0),
        )
    rate: RateLimiter | None = None
    if limits.rate is not None:
        if client is not None:
            # Redis down: every query is served unchecked, and the log says so once.
            outage = Outage(
                "the per-caller rate limit",
                logging.getLogger("crmgraph.errors"),
                level=logging.WARNING,
                consequence="queries are served without a budget check",
                units=("check", "checks"),
            )
            rate = RedisRateLimiter(
                client, limits.rate.cost_per_second, limits.rate.burst, outage=outage
            )
        else:
            rate = MemoryRateLimiter(limits.rate.cost_per_second, limits.rate.burst)
    return Access(
        policy=policy,
        authenticator=Authenticator(auth, policy, keys, tokens),
        persisted=PersistedQueryStore(settings.persisted_queries),
        limits=QueryLimits(
            max_depth=limits.max_depth,
            max_aliases=limits.max_aliases,
            max_tokens=limits.max_tokens,
            max_cost=limits.max_cost,
            max_page=settings.server.max_page_size,
        ),
        rate=rate,
        http=http,
        redis=client,
    )

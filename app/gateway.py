"""The long-lived part of crmgraph: one connector per configured source and their health.

``build_gateway`` turns validated settings into connectors; ``Gateway.loaders`` gives each
request its own loaders over them (behind the field cache, when it is on). Nothing here knows
GraphQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.auth.principal import SYSTEM, Principal
from app.auth.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from app.cache.grouped_tier import GroupedTier
from app.cache.groups import default_groups
from app.cache.records import FieldCache
from app.cache.redis_tier import RedisTier
from app.cache.responses import ResponseCache, salt
from app.cache.sources import CachedSources
from app.config import REDIS_TIMEOUT, CacheSettings, Settings
from app.connectors.http import UpstreamClient
from app.connectors.kind import BuildContext
from app.connectors.kinds import KINDS
from app.connectors.salesforce import SalesforceClient
from app.connectors.settings import SourceRateLimit
from app.domain.entities import ENTITIES, EntitySpec, with_custom
from app.live.bus import MemoryBus, RedisBus
from app.loaders import FieldsOf, Loaders, Sources
from app.observability.setup import upstream_observers
from app.resilience.breaker import CircuitBreaker
from app.resilience.budget import RoutePace, SourceBudget
from app.resilience.learned import LearnedLimits
from app.resilience.rates import RateDialect
from app.resilience.retry import RetryPolicy
from app.services.health import SourceHealth
from app.webhooks.intake import WebhookIntake
from app.webhooks.normalise import Normaliser
from app.webhooks.poller import SalesforcePoller
from app.webhooks.store import EventStore, open_store
from app.webhooks.worker import WebhookWorker
from app.writes.backends import AnyOutbox, open_outbox
from app.writes.idempotency import IdempotencyStore, SharedIdempotencyStore
from app.writes.service import WriteService
from app.writes.worker import OutboxWorker


@dataclass(slots=True)
class Gateway:
    settings: Settings
    sources: Sources
    #: The entity registry with the config's custom fields.
    entities: dict[str, EntitySpec]
    clients: dict[str, UpstreamClient]
    #: The connector of each source serving an entity, by source name.
    connectors: dict[str, Any]
    health: dict[str, SourceHealth]
    cache: FieldCache | None = None
    #: Whole answers of identical queries (on top of the field cache, when both are on).
    responses: ResponseCache | None = None
    redis: Redis | None = None
    extra_redis: list[Redis] = field(default_factory=list)
    writes: WriteService | None = None
    outbox: AnyOutbox | None = None
    #: Record changes for subscriptions: in-process, or through Redis to every instance.
    bus: MemoryBus | RedisBus = field(default_factory=MemoryBus)
    #: Webhook events between the intake and their worker; None: no webhooks.
    webhook_store: EventStore | None = None
    webhook_intake: WebhookIntake | None = None
    #: Set when events are stored: the worker looks at once instead of at its next interval.
    webhook_wake: asyncio.Event = field(default_factory=asyncio.Event)

    def webhook_worker(self) -> WebhookWorker | None:
        """The worker that applies stored webhook events (run for the life of the app)."""
        if self.webhook_store is None:
            return None
        config = self.settings.webhooks
        return WebhookWorker(
            self.webhook_store,
            Normaliser(self.settings),
            self.cache,
            self.bus,
            interval=config.worker_interval,
            max_attempts=config.max_attempts,
            backoff_base=config.backoff_base,
            wake=self.webhook_wake,
        )

    def salesforce_poller(self) -> SalesforcePoller | None:
        """Polls Salesforce for changed leads, when ``webhooks.salesforce_poll_interval`` is set."""
        config = self.settings.webhooks
        leads = self.sources.leads
        if not config.salesforce_poll_interval or self.webhook_store is None:
            return None
        if not isinstance(leads, SalesforceClient):  # leads from another CRM: nothing to poll
            return None
        return SalesforcePoller(
            leads,
            self.webhook_store,
            interval=config.salesforce_poll_interval,
            limit=config.salesforce_poll_limit,
            on_stored=self.webhook_wake.set,
        )

    def worker(self) -> OutboxWorker | None:
        """The worker that applies queued writes (run for the life of the app)."""
        if self.outbox is None or self.writes is None:
            return None
        settings = self.settings.writes

        return OutboxWorker(
            self.outbox,
            self.writes.handlers,
            interval=settings.worker_interval,
            max_attempts=settings.max_attempts,
            backoff_base=settings.backoff_base,
        )

    def loaders(self, fields: FieldsOf, principal: Principal = SYSTEM) -> Loaders:
        cached = None if self.cache is None else CachedSources(self.sources, self.cache)
        return Loaders(self.sources, fields, self.settings.server.batch_loads, principal, cached)

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()
        if self.outbox is not None:
            await self.outbox.close()
        if self.webhook_store is not None:
            await self.webhook_store.close()
        if isinstance(self.bus, RedisBus):
            await self.bus.aclose()
        for redis in [self.redis, *self.extra_redis]:
            if redis is not None:
                await redis.aclose()


def shared_redis(url: str | None, timeout: float) -> Redis | None:
    """A Redis client that fails fast: a request never waits seconds on a Redis that is down."""
    if url is None:
        return None
    return Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )


def build_cache(
    settings: CacheSettings,
    entities: Mapping[str, EntitySpec] = ENTITIES,
    redis_timeout: float = REDIS_TIMEOUT,
) -> tuple[FieldCache | None, Redis | None]:
    """The field cache: in-process always, Redis behind it when configured."""
    if not settings.enabled:
        return None, None
    hot: dict[str, frozenset[str]] = {e: frozenset(g.hot) for e, g in settings.groups.items()}
    groups = default_groups(
        hot_ttl=settings.hot_ttl,
        cold_ttl=settings.cold_ttl,
        hot_entries=settings.hot_entries,
        cold_entries=settings.cold_entries,
        hot=hot,
        entities=entities,
    )
    redis = shared_redis(settings.redis_url, redis_timeout)
    shared = RedisTier(redis) if redis is not None else None
    local = GroupedTier(groups, answers_entries=settings.answer_entries)
    cache = FieldCache(groups, local, shared, max_stale=settings.max_stale)
    return cache, redis


def build_responses(
    settings: Settings, cache: FieldCache | None, redis: Redis | None
) -> ResponseCache | None:
    """The response cache, forgotten with the field cache it is built on (and, through the
    cache's Redis, on every instance)."""
    config = settings.cache.responses
    if cache is None or not config.enabled:
        return None
    roles = {name: role.model_dump(mode="json") for name, role in settings.roles.items()}
    responses = ResponseCache(
        max_entries=config.max_entries,
        max_bytes=config.max_bytes,
        salt=salt(roles, settings.custom_fields()),
        redis=redis,
    )
    cache.responses = responses
    return responses


def build_gateway(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> Gateway:
    """Connectors for the sources the entities name. ``transport`` is for tests only."""
    clients: dict[str, UpstreamClient] = {}
    health: dict[str, SourceHealth] = {}
    shared = shared_redis(settings.redis_url, settings.redis_timeout)
    extra_redis: list[Redis] = []

    def client_for(name: str, auth: httpx.Auth | None = None) -> UpstreamClient:
        source = settings.sources[name]
        tracker = health.setdefault(name, SourceHealth(name, source.kind))
        resilience = source.resilience
        # With resilience off, a bare client: no breaker, no budget, one attempt.
        on = resilience.enabled
        breaker = resilience.breaker
        client = clients[name] = UpstreamClient(
            name,
            source.url,
            timeout=httpx.Timeout(source.timeout.read, connect=source.timeout.connect),
            total=source.timeout.total,
            max_response_bytes=source.max_response_bytes,
            max_connections=source.max_connections,
            auth=auth,
            transport=transport,
            observers=[tracker.observe, *upstream_observers(settings.observability)],
            breaker=CircuitBreaker(
                failure_rate=breaker.failure_rate,
                min_calls=breaker.min_calls,
                window=breaker.window_seconds,
                open_for=breaker.open_seconds,
            )
            if on
            else None,
            budget=budget_for(
                name,
                KINDS[source.kind].rates,
                resilience.rate_limit,
                shared,
                cold_start=resilience.cold_start_pacing,
                routes=source.route_limits,
            )
            if on
            else None,
            retry=RetryPolicy(
                max_attempts=resilience.max_attempts,
                base=resilience.backoff_base,
                cap=resilience.backoff_cap,
            )
            if on
            else None,
            max_concurrency=resilience.max_concurrency if on else None,
        )
        return client

    link_players = settings.linking.player == "property"
    custom_fields = settings.custom_fields()
    entities = with_custom(custom_fields)
    built: dict[str, Any] = {}

    def connector(entity: str) -> Any:
        """The connector of the source serving ``entity``: one per source, whatever it serves."""
        name, source = settings.source_of(entity)
        if name not in built:
            ctx = BuildContext(
                name, lambda auth: client_for(name, auth), link_players, custom_fields
            )
            built[name] = KINDS[source.kind].build(source, ctx)
        return built[name]

    customers, leads = connector("customer"), connector("lead")
    tickets, players = connector("ticket"), connector("player_stats")
    cache, redis = build_cache(settings.cache, entities, settings.redis_timeout)
    outbox = open_outbox(settings)
    window = settings.writes.idempotency_hours * 3600
    local_keys = IdempotencyStore(settings.writes.outbox_path, window_seconds=window)
    keys: IdempotencyStore | SharedIdempotencyStore = local_keys
    if shared is not None:  # several instances: claims shared through Redis
        keys = SharedIdempotencyStore(shared, local_keys, window_seconds=window)
    writes = WriteService(
        leads,
        outbox,
        keys,
        cache,
        settings.writes.phone_region,
        tickets=tickets,
        customers=customers,
        players=players,
        brands=settings.brands,
        custom=custom_fields,
    )
    if shared is not None:
        extra_redis.append(shared)
    webhook_store, webhook_redis = open_store(settings)
    if webhook_redis is not None:
        extra_redis.append(webhook_redis)
    wake = asyncio.Event()
    return Gateway(
        settings=settings,
        sources=Sources(customers, leads, tickets, players),
        entities=entities,
        clients=clients,
        connectors=built,
        health=health,
        cache=cache,
        responses=build_responses(settings, cache, redis),
        redis=redis,
        extra_redis=extra_redis,
        writes=writes,
        outbox=outbox,
        bus=change_bus(settings),
        webhook_store=webhook_store,
        webhook_intake=WebhookIntake(settings, webhook_store, wake.set),
        webhook_wake=wake,
    )


def change_bus(settings: Settings) -> MemoryBus | RedisBus:
    live = settings.live
    if settings.redis_url is None:
        return MemoryBus(live.queue_size)
    return RedisBus(settings.redis_url, live.channel, live.queue_size)


def budget_for(
    name: str,
    rates: RateDialect,
    limit: SourceRateLimit | None,
    redis: Redis | None,
    cold_start: bool = True,
    routes: Mapping[str, SourceRateLimit] | None = None,
) -> SourceBudget:
    """The source's rate budget: its configured pace (shared by every instance through
    Redis when there is one), tightened by the CRM's own rate-limit headers. Without a
    configured pace, the limits learned from the headers are kept in Redis when there is one,
    for the next instance to start from (``cold_start`` off: neither learned nor counted).
    ``routes``: the paces of single routes the CRM limits apart (HubSpot's search, Zendesk's
    export), shared the same way."""
    route_paces = {route: _route_pace(pace, redis) for route, pace in (routes or {}).items()}
    if limit is None:
        store = LearnedLimits(redis) if redis is not None and cold_start else None
        return SourceBudget(
            name, rates, None, store=store, cold_start=cold_start, routes=route_paces
        )
    # GCRA lets burst + rate x T through in any T seconds: keep the two summing to the limit
    # less two — one because the CRM's windows need not start when ours do, one because
    # requests released on time can still arrive bunched (a busy client, a slow connection).
    # A CRM that counts its last request spent makes the budget pause for a whole window.
    burst = max(1, limit.requests // 10)
    rate = max(limit.requests - burst - 2, 1) / limit.per_seconds
    return SourceBudget(
        name, rates, _limiter(rate, burst, redis), window=limit.per_seconds, routes=route_paces
    )


def _route_pace(pace: SourceRateLimit, redis: Redis | None) -> RoutePace:
    """A route's pace (:meth:`SourceRateLimit.route_pace`), shared through Redis if any."""
    return RoutePace(_limiter(*pace.route_pace(), redis), pace.per_seconds)


def _limiter(rate: float, burst: int, redis: Redis | None) -> RateLimiter:
    if redis is not None:
        return RedisRateLimiter(redis, rate, burst, prefix="crmgraph:upstream:")
    return MemoryRateLimiter(rate, burst)

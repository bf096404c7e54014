"""The long-lived part of crmgraph: one connector per configured source and their health.

``build_gateway`` turns validated settings into connectors; ``Gateway.loaders`` gives each
request its own loaders over them. Nothing here knows GraphQL.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.auth.principal import SYSTEM, Principal
from app.cache.groups import DEFAULT_HOT, default_groups
from app.cache.memory_tier import MemoryTier
from app.cache.records import FieldCache
from app.cache.redis_tier import RedisTier
from app.config import (
    CacheSettings,
    HubSpotSource,
    PlayerStatsSource,
    SalesforceSource,
    SecretRef,
    Settings,
    ZendeskSource,
)
from app.connectors.http import UpstreamClient
from app.connectors.hubspot import HubSpotClient
from app.connectors.player_stats import PlayerStatsClient
from app.connectors.salesforce import SalesforceClient
from app.connectors.salesforce.auth import SalesforceClientCredentials
from app.connectors.secret import LiveSecret
from app.connectors.zendesk import ZendeskClient
from app.connectors.zendesk.client import ZendeskTokenAuth
from app.loaders import FieldsOf, Loaders, Sources
from app.services.health import SourceHealth


@dataclass(slots=True)
class Gateway:
    settings: Settings
    sources: Sources
    clients: dict[str, UpstreamClient]
    health: dict[str, SourceHealth]
    cache: FieldCache | None = None
    redis: Redis | None = None

    def loaders(self, fields: FieldsOf, principal: Principal = SYSTEM) -> Loaders:
        return Loaders(
            self.sources, fields, self.settings.server.batch_loads, principal, self.cache
        )

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()
        if self.redis is not None:
            await self.redis.aclose()


def build_cache(settings: CacheSettings) -> tuple[FieldCache | None, Redis | None]:
    """The field cache: in-process always, Redis behind it when configured."""
    if not settings.enabled:
        return None, None
    hot: dict[str, frozenset[str]] = {e: frozenset(g.hot) for e, g in settings.groups.items()}
    groups = default_groups(
        hot_ttl=settings.hot_ttl,
        cold_ttl=settings.cold_ttl,
        hot={**DEFAULT_HOT, **hot},
    )
    redis = None
    shared = None
    if settings.redis_url:
        redis = Redis.from_url(
            settings.redis_url,
            socket_timeout=0.25,
            socket_connect_timeout=0.25,
            retry=Retry(NoBackoff(), 0),
        )
        shared = RedisTier(redis)
    cache = FieldCache(
        groups, MemoryTier(settings.max_entries), shared, max_stale=settings.max_stale
    )
    return cache, redis


def build_gateway(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> Gateway:
    """Connectors for the sources the entities name. ``transport`` is for tests only."""
    clients: dict[str, UpstreamClient] = {}
    health: dict[str, SourceHealth] = {}

    def client_for(name: str, auth: httpx.Auth | None = None) -> UpstreamClient:
        source = settings.sources[name]
        tracker = health.setdefault(name, SourceHealth(name, source.kind))
        client = UpstreamClient(
            name,
            source.url,
            timeout=httpx.Timeout(source.timeout.read, connect=source.timeout.connect),
            max_connections=source.max_connections,
            auth=auth,
            transport=transport,
            observers=[tracker.observe],
        )
        clients[name] = client
        return client

    entities = settings.entities
    hub = settings.sources[entities.customer]
    sf = settings.sources[entities.lead]
    zd = settings.sources[entities.ticket]
    ps = settings.sources[entities.player_stats]
    # The config validator has checked each entity's source kind.
    assert isinstance(hub, HubSpotSource)
    assert isinstance(sf, SalesforceSource)
    assert isinstance(zd, ZendeskSource)
    assert isinstance(ps, PlayerStatsSource)

    customers = HubSpotClient(
        entities.customer,
        client_for(entities.customer),
        live(hub.auth.token),
        brand_property=hub.brand_property,
        player_id_property=hub.player_id_property
        if settings.linking.player == "property"
        else None,
    )
    sf_auth = SalesforceClientCredentials(
        entities.lead,
        f"{sf.url}/services/oauth2/token",
        live(sf.auth.client_id),
        live(sf.auth.client_secret),
    )
    leads = SalesforceClient(
        entities.lead,
        client_for(entities.lead, sf_auth),
        api_version=sf.api_version,
        brand_field=sf.brand_field,
        extra_statuses=sf.lead_statuses,
    )
    zd_auth = ZendeskTokenAuth(zd.auth.email, live(zd.auth.api_token))
    tickets = ZendeskClient(entities.ticket, client_for(entities.ticket, zd_auth), brands=zd.brands)
    players = PlayerStatsClient(
        entities.player_stats, client_for(entities.player_stats), live(ps.auth.api_key), ps.brands
    )
    cache, redis = build_cache(settings.cache)
    return Gateway(
        settings=settings,
        sources=Sources(customers, leads, tickets, players),
        clients=clients,
        health=health,
        cache=cache,
        redis=redis,
    )


def live(ref: SecretRef) -> LiveSecret:
    """A secret file is followed as it changes; an environment variable is read once."""
    return LiveSecret(ref.read, ref.file)

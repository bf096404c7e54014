"""The field cache's figures, for operators: per group, and the fields read most."""

from __future__ import annotations

import strawberry

from app.gateway import Gateway


@strawberry.type
class CacheGroupStatus:
    entity: str
    group: str
    ttl_seconds: float
    max_entries: int
    entries: int
    evictions: int
    hits: int
    misses: int
    stale_serves: int


@strawberry.type
class FieldReads:
    type_name: str
    field: str
    reads: int


@strawberry.type
class CacheStatus:
    enabled: bool
    entries: int
    evictions: int
    shared_tier: bool
    shared_errors: int
    shared_skipped: int
    groups: list[CacheGroupStatus]
    hottest_fields: list[FieldReads]


def cache_status(gateway: Gateway) -> CacheStatus:
    cache = gateway.cache
    if cache is None:
        return CacheStatus(
            enabled=False,
            entries=0,
            evictions=0,
            shared_tier=False,
            shared_errors=0,
            shared_skipped=0,
            groups=[],
            hottest_fields=[],
        )
    stats = cache.stats
    local = cache.local
    tiers = getattr(local, "tiers", {})
    return CacheStatus(
        enabled=True,
        entries=len(local),  # type: ignore[arg-type]
        evictions=getattr(local, "evictions", 0),
        shared_tier=cache.shared is not None,
        shared_errors=stats.shared_errors,
        shared_skipped=stats.shared_skipped,
        groups=[
            CacheGroupStatus(
                entity=g.entity,
                group=g.name,
                ttl_seconds=g.ttl,
                max_entries=g.max_entries,
                entries=len(tier) if (tier := tiers.get(f"{g.entity}/{g.name}")) else 0,
                evictions=tier.evictions if tier else 0,
                hits=stats.hits[(g.entity, g.name)],
                misses=stats.misses[(g.entity, g.name)],
                stale_serves=stats.stale[(g.entity, g.name)],
            )
            for g in cache.groups.all()
        ],
        hottest_fields=[
            FieldReads(type_name=t, field=f, reads=n) for (t, f), n in stats.hottest_fields(20)
        ],
    )

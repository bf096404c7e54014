"""The flush listener runs for the life of the app on the cache's Redis: it stops at the one
cancel shutdown sends, even where redis-py loses it (Python 3.11's wait_for, mid-command)."""

from __future__ import annotations

from app.cache.flush import listen_for_flushes
from app.config import CacheSettings
from app.gateway import build_cache
from tests.cancels import each_cancel_stops


async def test_the_listener_stops_at_one_cancel_wherever_it_lands(redis_url: str) -> None:
    cache, redis = build_cache(CacheSettings(redis_url=redis_url))
    assert cache is not None
    assert redis is not None
    try:
        await each_cancel_stops(lambda: listen_for_flushes(cache, redis), 30)
    finally:
        await redis.aclose()

"""The flush listener runs for the life of the app on the cache's Redis: it stops at the one
cancel shutdown sends, even where redis-py loses it (Python 3.11's wait_for, mid-command)."""

from __future__ import annotations

import asyncio

import pytest

from app.cache.flush import listen_for_flushes
from app.config import CacheSettings
from app.gateway import build_cache


async def test_the_listener_stops_at_one_cancel_wherever_it_lands(redis_url: str) -> None:
    cache, redis = build_cache(CacheSettings(redis_url=redis_url))
    assert cache is not None
    assert redis is not None
    try:
        for steps in range(30):
            task = asyncio.create_task(listen_for_flushes(cache, redis))
            for _ in range(steps + 1):
                await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)
    finally:
        await redis.aclose()

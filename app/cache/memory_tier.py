"""The in-process tier: a size-bound LRU map where each entry expires after its own ``keep``.

Entries are held as they are (no encoding): a reader must treat a value as read-only, since
every caller of this process shares it.

``evictions`` counts every entry that left without being asked to: least-recently-used ones
pushed out by the size bound, and expired ones (``keep`` elapsed) when they are purged;
``expired`` is the part of it that expired, so ``evictions - expired`` is the pressure of the
size bound. Overwrites and ``delete``/``delete_prefix`` are not counted. Expired entries are
purged on every read, write and ``len()``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cachetools import TLRUCache

from app.cache.tier import Entry

# An entry and the seconds it is kept for.
_Stored = tuple[Entry, float]


def _expires(_key: str, stored: _Stored, now: float) -> float:
    return now + stored[1]


class _CountingCache(TLRUCache[str, _Stored, float]):
    def __init__(self, maxsize: int, clock: Callable[[], float]) -> None:
        super().__init__(maxsize, _expires, clock)
        self.evictions = 0
        self.expired = 0

    def expire(self, time: float | None = None) -> list[tuple[str, _Stored]]:
        gone = super().expire(time)
        self.expired += len(gone)
        self.evictions += len(gone)
        return gone

    def popitem(self) -> tuple[str, _Stored]:
        # Called only when an insert finds the cache full: the least recently used entry.
        item = super().popitem()
        self.evictions += 1
        return item


class MemoryTier:
    """A ``Tier`` in this process; ``clock`` gives seconds (monotonic) and decides ``keep``."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._cache = _CountingCache(max_entries, clock)

    @property
    def evictions(self) -> int:
        """Entries pushed out by the size bound plus entries expired (see the module doc)."""
        return self._cache.evictions

    @property
    def expired(self) -> int:
        """The part of ``evictions`` that expired rather than being pushed out."""
        return self._cache.expired

    def __len__(self) -> int:
        return len(self._cache)

    async def get_many(self, keys: list[str]) -> dict[str, Entry]:
        cache = self._cache
        cache.expire()
        found: dict[str, Entry] = {}
        for key in keys:
            stored = cache.get(key)
            if stored is not None:
                found[key] = stored[0]
        return found

    async def set_many(self, entries: dict[str, Entry], keep: float) -> None:
        """Store each entry for ``keep`` seconds; a ``keep`` of 0 or less removes them."""
        cache = self._cache
        for key, entry in entries.items():
            cache[key] = (entry, keep)

    async def delete(self, keys: list[str]) -> None:
        cache = self._cache
        for key in keys:
            cache.pop(key, None)

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every entry whose key starts with ``prefix`` (a scan of the whole tier)."""
        cache = self._cache
        cache.expire()
        doomed = [key for key in cache if key.startswith(prefix)]
        for key in doomed:
            cache.pop(key, None)
        return len(doomed)

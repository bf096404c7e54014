"""What the cache did: hits, misses, stale serves per group, and the fields read most."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class CacheStats:
    hits: Counter[tuple[str, str]] = field(default_factory=Counter)  # (entity, group)
    misses: Counter[tuple[str, str]] = field(default_factory=Counter)
    stale: Counter[tuple[str, str]] = field(default_factory=Counter)
    shared_hits: Counter[tuple[str, str]] = field(default_factory=Counter)
    field_reads: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type, field)
    shared_errors: int = 0
    #: Calls to the shared tier not made: it had kept failing (``FieldCache.shared_breaker``).
    shared_skipped: int = 0

    def hottest_fields(self, n: int = 20) -> list[tuple[tuple[str, str], int]]:
        return self.field_reads.most_common(n)

"""Where cache entries live: in this process (always), and in Redis behind it (optional).

An entry is one group of one record, or one relation/list answer, as plain values with the
time it was fetched. Freshness is decided by the reader from ``fetched_at`` and the group's
TTL; a tier keeps entries a while longer (``keep``), so a failing source can be answered from
the last value (stale, and said so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Entry:
    value: Any
    fetched_at: float  # time.time() of the upstream answer


class Tier(Protocol):
    async def get_many(self, keys: list[str]) -> dict[str, Entry]: ...

    async def set_many(self, entries: dict[str, Entry], keep: float) -> None:
        """Store each entry for ``keep`` seconds."""
        ...

    async def delete(self, keys: list[str]) -> None: ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every entry whose key starts with ``prefix``; how many went."""
        ...

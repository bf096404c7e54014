"""The in-process tier as one cache per field group, each with its own size bound, so a flood
of one entity's hot entries never evicts another's cold ones. Relation and list answers have
a cache of their own."""

from __future__ import annotations

from collections import defaultdict

from app.cache.groups import FieldGroups
from app.cache.memory_tier import MemoryTier
from app.cache.tier import Entry

ANSWERS = "answers"


def route(key: str) -> str:
    """``r:{entity}:{source}:{id}:{group}`` → ``entity/group``; anything else → answers."""
    if key.startswith("r:"):
        parts = key.split(":")
        return f"{parts[1]}/{parts[-1]}"
    return ANSWERS


class GroupedTier:
    def __init__(self, groups: FieldGroups, answers_entries: int) -> None:
        self.tiers: dict[str, MemoryTier] = {
            f"{g.entity}/{g.name}": MemoryTier(g.max_entries) for g in groups.all()
        }
        self.tiers[ANSWERS] = MemoryTier(answers_entries)

    def _split(self, keys: list[str]) -> dict[str, list[str]]:
        by_tier: dict[str, list[str]] = defaultdict(list)
        for key in keys:
            by_tier[route(key)].append(key)
        return by_tier

    async def get_many(self, keys: list[str]) -> dict[str, Entry]:
        found: dict[str, Entry] = {}
        for name, some in self._split(keys).items():
            tier = self.tiers.get(name)
            if tier is not None:
                found.update(await tier.get_many(some))
        return found

    async def set_many(self, entries: dict[str, Entry], keep: float) -> None:
        for name, keys in self._split(list(entries)).items():
            tier = self.tiers.get(name)
            if tier is not None:
                await tier.set_many({k: entries[k] for k in keys}, keep)

    async def delete(self, keys: list[str]) -> None:
        for name, some in self._split(keys).items():
            tier = self.tiers.get(name)
            if tier is not None:
                await tier.delete(some)

    async def delete_prefix(self, prefix: str) -> int:
        removed = 0
        for tier in self.tiers.values():
            removed += await tier.delete_prefix(prefix)
        return removed

    def __len__(self) -> int:
        return sum(len(t) for t in self.tiers.values())

    @property
    def evictions(self) -> int:
        return sum(t.evictions for t in self.tiers.values())

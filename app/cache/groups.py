"""Field groups: each entity's domain fields split by how fast they change.

A group is fetched, cached and expired as a whole: a query that needs one of its fields gets
the group's fields from the CRM (still a projection: a cold-only query never asks for hot
properties), and an entry is fresh for the group's TTL. ``ALWAYS`` fields ride along in every
group, because every lookup needs them (brand scope, linking). All three are read from the
entity registry (:mod:`app.domain.entities`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.domain.entities import ENTITIES as REGISTRY
from app.domain.entities import EntitySpec

ENTITIES = tuple(REGISTRY)

#: Fields every group entry carries: brand scope and identity linking need them always.
ALWAYS: dict[str, frozenset[str]] = {key: e.always for key, e in REGISTRY.items()}

#: The default split, as the models declare it. Every field not named hot is cold.
DEFAULT_HOT: dict[str, frozenset[str]] = {key: e.hot for key, e in REGISTRY.items()}

#: Every domain field of each entity.
FIELDS: dict[str, frozenset[str]] = {key: e.names for key, e in REGISTRY.items()}


@dataclass(frozen=True, slots=True)
class Group:
    entity: str
    name: str
    fields: frozenset[str]
    ttl: float
    max_entries: int

    @property
    def fetched(self) -> frozenset[str]:
        """The fields one fetch of this group asks for."""
        return self.fields | ALWAYS[self.entity]


class FieldGroups:
    """The groups of every entity, and which group each field belongs to."""

    def __init__(self, groups: Iterable[Group]) -> None:
        self.by_entity: dict[str, dict[str, Group]] = {}
        self._of: dict[tuple[str, str], Group] = {}
        for group in groups:
            self.by_entity.setdefault(group.entity, {})[group.name] = group
            for field in group.fields:
                self._of[(group.entity, field)] = group

    def needed(self, entity: str, fields: Iterable[str]) -> list[Group]:
        """The groups that hold ``fields`` (the always-carried ones need no group of their own,
        but a record is never fetched with no group: the coldest stands in)."""
        found: dict[str, Group] = {}
        for field in fields:
            group = self._of.get((entity, field))
            if group is not None and field not in ALWAYS[entity]:
                found[group.name] = group
        if not found:
            coldest = max(self.by_entity[entity].values(), key=lambda g: g.ttl)
            found[coldest.name] = coldest
        return sorted(found.values(), key=lambda g: g.name)

    def fastest_ttl(self, entity: str) -> float:
        return min(g.ttl for g in self.by_entity[entity].values())

    def all(self) -> list[Group]:
        return [g for groups in self.by_entity.values() for g in groups.values()]


def default_groups(
    hot_ttl: float = 5.0,
    cold_ttl: float = 300.0,
    hot_entries: int = 50_000,
    cold_entries: int = 50_000,
    hot: Mapping[str, frozenset[str]] | None = None,
    entities: Mapping[str, EntitySpec] = REGISTRY,
) -> FieldGroups:
    """Each entity's hot and cold groups: ``hot`` names the hot fields where the config
    says so, the registry (with its custom fields) elsewhere."""
    groups = []
    for key, entity in entities.items():
        fields = entity.names
        hot_fields = (hot[key] if hot and key in hot else entity.hot) & fields
        groups.append(Group(key, "hot", hot_fields, hot_ttl, hot_entries))
        groups.append(Group(key, "cold", fields - hot_fields, cold_ttl, cold_entries))
    return FieldGroups(groups)

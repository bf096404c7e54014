"""Field groups: each entity's domain fields split by how fast they change.

A group is fetched, cached and expired as a whole: a query that needs one of its fields gets
the group's fields from the CRM (still a projection: a cold-only query never asks for hot
properties), and an entry is fresh for the group's TTL. ``ALWAYS`` fields ride along in every
group, because every lookup needs them (brand scope, linking).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

ENTITIES = ("customer", "lead", "ticket", "player")

#: Fields every group entry carries: brand scope and identity linking need them always.
ALWAYS: dict[str, frozenset[str]] = {
    "customer": frozenset({"brand", "email", "player_id"}),
    "lead": frozenset({"brand", "email", "created_at"}),
    "ticket": frozenset({"brand", "requester_id", "created_at"}),
    "player": frozenset({"brand", "email"}),
}

#: The default split. Every field not named hot is cold.
DEFAULT_HOT: dict[str, frozenset[str]] = {
    "customer": frozenset({"lifecycle_stage", "updated_at"}),
    "lead": frozenset({"status", "updated_at", "converted_contact_id"}),
    "ticket": frozenset({"status", "priority", "updated_at"}),
    "player": frozenset(
        {
            "last_login_at",
            "updated_at",
            "level",
            "level_name",
            "points_balance",
            "points_ever",
            "deposit_count",
            "deposits_total",
            "withdrawals_total",
            "bets_total",
            "wins_total",
            "bonus_total",
            "missions_completed",
            "tournaments_played",
            "churn_risk",
            "predicted_ltv",
        }
    ),
}

#: Every domain field of each entity (the dataclass fields less id and problems).
FIELDS: dict[str, frozenset[str]] = {
    "customer": frozenset(
        {
            "brand", "first_name", "last_name", "email", "phone", "company", "lifecycle_stage",
            "created_at", "updated_at", "player_id",
        }
    ),
    "lead": frozenset(
        {
            "brand", "first_name", "last_name", "email", "phone", "company", "status",
            "lead_source", "created_at", "updated_at", "converted_contact_id",
        }
    ),
    "ticket": frozenset(
        {
            "brand", "subject", "description", "status", "priority", "created_at",
            "updated_at", "requester_id",
        }
    ),
    "player": frozenset(
        {
            "brand", "email", "country", "currency", "registered_at", "last_login_at",
            "updated_at", "level", "level_name", "points_balance", "points_ever",
            "deposit_count", "deposits_total", "withdrawals_total", "bets_total", "wins_total",
            "bonus_total", "missions_completed", "tournaments_played", "churn_risk",
            "predicted_ltv",
        }
    ),
}  # fmt: skip


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
) -> FieldGroups:
    hot = hot or DEFAULT_HOT
    groups = []
    for entity in ENTITIES:
        hot_fields = hot[entity] & FIELDS[entity]
        groups.append(Group(entity, "hot", hot_fields, hot_ttl, hot_entries))
        groups.append(Group(entity, "cold", FIELDS[entity] - hot_fields, cold_ttl, cold_entries))
    return FieldGroups(groups)

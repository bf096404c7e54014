"""The back office's player statistics, seeded from the world and kept in the wire format.

Each player is held as the ``PlayerStats`` object the API answers with, so reads serialise
what is stored. Per brand, an index ordered by ``(updated_at, player_id)`` serves list/poll
and moves a player to its new place when a write changes ``updated_at``.
"""

from __future__ import annotations

import bisect
import copy
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, cast
from zoneinfo import ZoneInfo

from app.simulators.world import LEVEL_NAMES, PlayerSeed, World

#: A place in a brand's poll order: ``(updated_at, player_id)``.
Position = tuple[int, str]


class Level(TypedDict):
    id: int
    name: str


class MoneyCount(TypedDict):
    count: int
    total_minor: int


class PlayerStats(TypedDict):
    player_id: str
    brand: str
    email: str
    country: str
    currency: str
    registered_at: int
    last_login: str
    tz: str
    updated_at: int
    level: Level
    points_balance: int
    points_ever: int
    deposits: MoneyCount
    withdrawals: MoneyCount
    bets_total_minor: int
    wins_total_minor: int
    bonus_total_minor: int
    missions_completed: int
    tournaments_played: int
    churn_score: float
    predicted_ltv_minor: int


@dataclass(frozen=True, slots=True)
class Award:
    """A points award as asked; two asks with the same key must be the same award."""

    player_id: str
    delta: int
    reason: str
    idempotency_key: str


class PlayerNotFound(Exception):
    """No player with this id in the caller's brand."""


class IdempotencyConflict(Exception):
    """The idempotency key was already used for a different award."""


class InsufficientPoints(Exception):
    """The award would take the points balance below zero."""


def epoch_ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


def render_last_login(instant: datetime, tz: str) -> str:
    """``DD/MM/YYYY HH:mm`` on the operator's wall clock (zoneinfo applies its DST rules)."""
    return instant.astimezone(ZoneInfo(tz)).strftime("%d/%m/%Y %H:%M")


def render(seed: PlayerSeed) -> PlayerStats:
    brand = seed.person.brand
    return {
        "player_id": seed.player_id,
        "brand": brand.key,
        "email": seed.person.email.lower(),
        "country": brand.country,
        "currency": brand.currency,
        "registered_at": epoch_ms(seed.registered_at),
        "last_login": render_last_login(seed.last_login, brand.tz),
        "tz": brand.tz,
        "updated_at": epoch_ms(seed.updated_at),
        "level": {"id": seed.level, "name": LEVEL_NAMES[seed.level - 1]},
        "points_balance": seed.points_balance,
        "points_ever": seed.points_ever,
        "deposits": {"count": seed.deposit_count, "total_minor": seed.deposits_minor},
        "withdrawals": {"count": seed.withdrawal_count, "total_minor": seed.withdrawals_minor},
        "bets_total_minor": seed.bets_minor,
        "wins_total_minor": seed.wins_minor,
        "bonus_total_minor": seed.bonus_minor,
        "missions_completed": seed.missions_completed,
        "tournaments_played": seed.tournaments_played,
        "churn_score": seed.churn_score,
        "predicted_ltv_minor": seed.predicted_ltv_minor,
    }


def _position(player: PlayerStats) -> Position:
    return player["updated_at"], player["player_id"]


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class PlayerStatsStore:
    """Players by id, per-brand poll order, and the answers given to idempotency keys."""

    def __init__(self, world: World, clock: Callable[[], int] = wall_clock_ms) -> None:
        self.world = world
        self.clock = clock
        self.reseed()

    def reseed(self) -> None:
        """Restore the seeded records, forgetting every write and idempotency key."""
        self.players: dict[str, PlayerStats] = {}
        self.order: dict[str, list[Position]] = {brand.key: [] for brand in self.world.brands}
        for seed in self.world.players:
            player = render(seed)
            self.players[player["player_id"]] = player
            self.order.setdefault(player["brand"], []).append(_position(player))
        for positions in self.order.values():
            positions.sort()
        self.awards: dict[tuple[str, str], tuple[Award, PlayerStats]] = {}
        self.last_write = max((p["updated_at"] for p in self.players.values()), default=0)

    # -- reads --------------------------------------------------------------------------------

    def get(self, brand: str, player_id: str) -> PlayerStats:
        player = self.players.get(player_id)
        if player is None or player["brand"] != brand:
            raise PlayerNotFound(player_id)
        return player

    def batch_get(
        self, brand: str, player_ids: Iterable[str]
    ) -> tuple[list[PlayerStats], list[str]]:
        """The players found (each once, in poll order) and the ids not found (each once)."""
        found: dict[str, PlayerStats] = {}
        missing: dict[str, None] = {}
        for player_id in player_ids:
            player = self.players.get(player_id)
            if player is not None and player["brand"] == brand:
                found[player_id] = player
            else:
                missing[player_id] = None
        return sorted(found.values(), key=_position), list(missing)

    def page(
        self, brand: str, updated_since: int, after: Position | None, limit: int
    ) -> tuple[list[PlayerStats], Position | None]:
        """Up to ``limit`` players with ``updated_at >= updated_since`` (and after ``after``),
        in ``(updated_at, player_id)`` order, and the position to continue from (None at
        the end)."""
        positions = self.order.get(brand, [])
        start = bisect.bisect_left(positions, (updated_since, ""))
        if after is not None:
            start = max(start, bisect.bisect_right(positions, after))
        chosen = positions[start : start + limit]
        more = start + limit < len(positions)
        return [self.players[pid] for _, pid in chosen], (chosen[-1] if more and chosen else None)

    # -- writes -------------------------------------------------------------------------------

    def award(self, brand: str, award: Award) -> tuple[PlayerStats, dict[str, Any]]:
        """Apply ``award`` once per idempotency key; a repeat gets the first answer again.
        Answers the player and the fields the award changed (none for a repeat)."""
        player = self.get(brand, award.player_id)
        earlier = self.awards.get((brand, award.idempotency_key))
        if earlier is not None:
            if earlier[0] != award:
                raise IdempotencyConflict(award.idempotency_key)
            return earlier[1], {}
        balance = player["points_balance"] + award.delta
        if balance < 0:
            raise InsufficientPoints(award.player_id)
        self._move(player, self._tick())
        player["points_balance"] = balance
        changed: dict[str, Any] = {"points_balance": balance}
        if award.delta > 0:
            player["points_ever"] += award.delta
            changed["points_ever"] = player["points_ever"]
        answer = copy.deepcopy(player)
        self.awards[(brand, award.idempotency_key)] = (award, answer)
        return answer, changed

    def change(self, brand: str, player_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Set fields as the back office would (``level`` by its id); answer the fields whose
        value changed, as the API renders them. A write that changes nothing stamps nothing."""
        player = self.get(brand, player_id)
        fields = cast("dict[str, Any]", player)  # the names were checked by the caller
        wanted = dict(values)
        if "level" in wanted:
            level = wanted["level"]
            wanted["level"] = {"id": level, "name": LEVEL_NAMES[level - 1]}
        changed = {k: v for k, v in wanted.items() if fields[k] != v}
        if changed:
            self._move(player, self._tick())
            fields.update(changed)
        return copy.deepcopy(changed)

    def _tick(self) -> int:
        # Strictly increasing, so a poller never misses a write made in the same millisecond
        # or when the wall clock is behind the seeded data.
        self.last_write = max(self.clock(), self.last_write + 1)
        return self.last_write

    def _move(self, player: PlayerStats, updated_at: int) -> None:
        positions = self.order[player["brand"]]
        del positions[bisect.bisect_left(positions, _position(player))]
        player["updated_at"] = updated_at
        bisect.insort(positions, _position(player))

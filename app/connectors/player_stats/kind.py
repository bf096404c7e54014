"""The player-stats back office, as a kind of source: it serves player stats."""

from __future__ import annotations

from app.connectors.base import PlayerWriter
from app.connectors.kind import BuildContext, ConnectorKind
from app.connectors.player_stats.client import PlayerStatsClient
from app.connectors.player_stats.ratelimit import PlayerStatsRates
from app.connectors.player_stats.settings import PlayerStatsSource


def build(settings: PlayerStatsSource, ctx: BuildContext) -> PlayerWriter:
    return PlayerStatsClient(
        ctx.name,
        ctx.http(None),
        settings.auth.api_key.live(),
        settings.brands,
        custom=ctx.wires("player"),
    )


KIND = ConnectorKind(
    "player_stats", PlayerStatsSource, frozenset({"player_stats"}), PlayerStatsRates(), build
)

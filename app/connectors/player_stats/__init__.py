from app.connectors.player_stats.client import PlayerStatsClient

__all__ = ["PlayerStatsClient"]

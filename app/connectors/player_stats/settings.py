"""The settings of a player-stats source (``kind: player_stats``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.connectors.settings import SecretRef, SourceBase, Strict


class PlayerStatsAuth(Strict):
    api_key: SecretRef


class PlayerStatsSource(SourceBase):
    kind: Literal["player_stats"]
    auth: PlayerStatsAuth
    #: The brand keys this API key may name (X-Brand-Key).
    brands: list[str] = Field(min_length=1)

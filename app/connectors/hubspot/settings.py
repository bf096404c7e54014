"""The settings of a HubSpot source (``kind: hubspot``)."""

from __future__ import annotations

from typing import Literal

from app.connectors.settings import SecretRef, SourceBase, Strict


class HubSpotAuth(Strict):
    token: SecretRef


class HubSpotSource(SourceBase):
    kind: Literal["hubspot"]
    auth: HubSpotAuth
    brand_property: str = "brand"
    player_id_property: str | None = "player_id"

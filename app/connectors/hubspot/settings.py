"""The settings of a HubSpot source (``kind: hubspot``)."""

from __future__ import annotations

from typing import Literal

from app.connectors.hubspot.payloads import SEARCH as SEARCH_PATH
from app.connectors.settings import SecretRef, SourceBase, SourceRateLimit, Strict

#: The CRM search endpoint's route, which HubSpot limits apart from the account: 4 requests a
#: second per token (HubSpot's developer changelog, "CRM Search API Rate Limit Increase").
SEARCH = f"POST {SEARCH_PATH}"


class HubSpotAuth(Strict):
    token: SecretRef


class HubSpotSource(SourceBase):
    kind: Literal["hubspot"]
    auth: HubSpotAuth
    brand_property: str = "brand"
    player_id_property: str | None = "player_id"
    #: The pace kept to for searches (every instance together, with Redis); null: none.
    search_limit: SourceRateLimit | None = SourceRateLimit(requests=4, per_seconds=1)

    @property
    def route_limits(self) -> dict[str, SourceRateLimit]:
        return {SEARCH: self.search_limit} if self.search_limit is not None else {}

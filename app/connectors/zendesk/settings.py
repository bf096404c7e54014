"""The settings of a Zendesk source (``kind: zendesk``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.connectors.settings import SecretRef, SourceBase, SourceRateLimit, Strict
from app.connectors.zendesk.payloads import EXPORT as EXPORT_PATH

#: The search export's route, which Zendesk limits apart from the account: 100 requests a
#: minute per account (its API reference, "Export Search Results", Limits).
EXPORT = f"GET {EXPORT_PATH}"


class ZendeskAuth(Strict):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    api_token: SecretRef


class ZendeskSource(SourceBase):
    kind: Literal["zendesk"]
    auth: ZendeskAuth
    #: Zendesk brand id → crmgraph brand key.
    brands: dict[int, str] = Field(default_factory=dict)
    #: The pace kept to for search exports (every instance together, with Redis); null: none.
    export_limit: SourceRateLimit | None = SourceRateLimit(requests=100, per_seconds=60)

    @property
    def route_limits(self) -> dict[str, SourceRateLimit]:
        return {EXPORT: self.export_limit} if self.export_limit is not None else {}

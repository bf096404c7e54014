"""The settings of a Zendesk source (``kind: zendesk``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.connectors.settings import SecretRef, SourceBase, Strict


class ZendeskAuth(Strict):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    api_token: SecretRef


class ZendeskSource(SourceBase):
    kind: Literal["zendesk"]
    auth: ZendeskAuth
    #: Zendesk brand id → crmgraph brand key.
    brands: dict[int, str] = Field(default_factory=dict)

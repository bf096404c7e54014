"""What every source's settings share: where the CRM is, how long to wait, how to ride out its
failures, and where its secrets live. Each connector package adds its own ``settings.py``
model (its ``kind``, its auth and its options) on top of :class:`SourceBase`."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, model_validator

from app.connectors.bounded import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TOTAL_SECONDS
from app.connectors.secret import LiveSecret


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(Strict):
    """Where a secret lives: an environment variable or a file (e.g. a mounted secret)."""

    env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    file: Path | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("name exactly one of 'env' (a variable) or 'file' (a path)")
        return self

    def live(self) -> LiveSecret:
        """The secret, followed as its file changes (an environment variable is read once)."""
        return LiveSecret(self.read, self.file)

    def describe(self) -> str:
        return f"environment variable {self.env}" if self.env else f"secret file {self.file}"

    def read(self) -> SecretStr:
        """The secret's value; raises ValueError naming where it was looked for (not its value)."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise ValueError(f"environment variable {self.env} is not set")
            return SecretStr(value)
        assert self.file is not None
        try:
            value = self.file.read_text().strip()
        except OSError as exc:
            raise ValueError(f"secret file {self.file} cannot be read: {exc.strerror}") from exc
        if not value:
            raise ValueError(f"secret file {self.file} is empty")
        return SecretStr(value)


class Timeouts(Strict):
    connect: float = Field(3.0, gt=0, le=60)
    #: The longest wait for any one read of the answer.
    read: float = Field(10.0, gt=0, le=300)
    #: The longest one attempt may take, from sending to the answer's last byte, however the
    #: CRM paces its bytes (a request's own deadline cuts it shorter).
    total: float = Field(DEFAULT_TOTAL_SECONDS, gt=0, le=600)


class Breaker(Strict):
    """Open after ``failure_rate`` of at least ``min_calls`` calls in ``window_seconds``
    failed; let one probe through after ``open_seconds``."""

    failure_rate: float = Field(0.5, gt=0, le=1)
    min_calls: int = Field(10, ge=1)
    window_seconds: float = Field(30, gt=0)
    open_seconds: float = Field(15, gt=0)


class SourceRateLimit(Strict):
    """The pace crmgraph keeps to for this source (all instances together, with Redis)."""

    requests: int = Field(gt=0)
    per_seconds: float = Field(gt=0)

    def route_pace(self) -> tuple[float, int]:
        """The GCRA (requests a second, burst) that keeps a single route to this limit: a
        burst of a tenth of it (at least one), the rest evenly apart, so that burst + rate x T
        make the limit in any T seconds however the requests bunch. HubSpot's search, 4 a
        second: one at once, then 3 a second; Zendesk's export, 100 a minute: 10 at once,
        then 90 a minute."""
        burst = max(1, self.requests // 10)
        return max(self.requests - burst, 1) / self.per_seconds, burst


class Resilience(Strict):
    #: Off: one attempt, no breaker, no budget (only to measure what the layer is worth).
    enabled: bool = True
    max_attempts: int = Field(3, ge=1, le=10)  # idempotent reads only
    backoff_base: float = Field(0.05, gt=0)
    backoff_cap: float = Field(1.0, gt=0)
    max_concurrency: int = Field(20, ge=1, le=500)
    breaker: Breaker = Breaker()
    rate_limit: SourceRateLimit | None = None
    #: Without a ``rate_limit``: hold a cold burst back until the CRM's rate headers are seen
    #: and count requests in flight against them (off: only to measure what it is worth).
    cold_start_pacing: bool = True


class SourceBase(Strict):
    #: The kind of CRM (:mod:`app.connectors.kinds`); each kind's model narrows it.
    kind: str
    base_url: HttpUrl
    timeout: Timeouts = Timeouts()
    max_connections: int = Field(20, ge=1, le=500)
    #: The largest answer (decoded) crmgraph reads from this CRM; a larger one fails the call.
    max_response_bytes: int = Field(DEFAULT_MAX_RESPONSE_BYTES, ge=64 * 1024, le=2**30)
    resilience: Resilience = Resilience()

    @property
    def url(self) -> str:
        return str(self.base_url).rstrip("/")

    @property
    def route_limits(self) -> dict[str, SourceRateLimit]:
        """Paces of single routes (``"POST /path"``) the CRM limits apart from the account."""
        return {}

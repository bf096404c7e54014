"""Each upstream's recent health, from the calls it has answered (or not)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from app.connectors.http import UpstreamCall

WINDOW = 50


@dataclass(slots=True)
class SourceHealth:
    name: str
    kind: str
    recent: deque[bool] = field(default_factory=lambda: deque(maxlen=WINDOW))
    calls: int = 0
    failures: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    last_latency_ms: float | None = None

    def observe(self, call: UpstreamCall) -> None:
        failed = call.error is not None or (call.status is not None and call.status >= 500)
        failed = failed or call.status == 429
        self.calls += 1
        self.recent.append(not failed)
        self.last_latency_ms = call.elapsed_ms
        if failed:
            self.failures += 1
            self.last_error = call.error or f"HTTP {call.status} from {call.route}"
            self.last_error_at = time.time()

    @property
    def error_rate(self) -> float:
        return 0.0 if not self.recent else 1 - sum(self.recent) / len(self.recent)

    @property
    def status(self) -> str:
        """HEALTHY, DEGRADED (some recent calls failed) or DOWN (the last five all failed)."""
        last = list(self.recent)[-5:]
        if len(last) == 5 and not any(last):
            return "DOWN"
        if self.error_rate > 0.1:
            return "DEGRADED"
        return "HEALTHY"

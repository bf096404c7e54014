"""The player-stats service's rate headers: ``RateLimit-Limit``, ``RateLimit-Remaining`` and
``RateLimit-Reset`` (seconds to the reset)."""

from __future__ import annotations

from collections.abc import Mapping

from app.resilience.rates import RateReport, number, report


class PlayerStatsRates:
    window = 60.0
    rolling = False

    def report(self, headers: Mapping[str, str]) -> RateReport | None:
        return report(
            number(headers.get("ratelimit-limit")),
            number(headers.get("ratelimit-remaining")),
            reset_in=number(headers.get("ratelimit-reset")),
        )

    def refused(self, status: int, body: bytes | None) -> bool:
        return status == 429

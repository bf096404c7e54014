"""The player-stats service's rate headers: ``RateLimit-Limit``, ``RateLimit-Remaining`` and
``RateLimit-Reset`` (seconds to the reset). Its contract documents no default limit: the
budget lets only a few requests go until the headers are seen."""

from __future__ import annotations

from collections.abc import Mapping

from app.resilience.rates import RateReport, WindowLimit, number, report


class PlayerStatsRates:
    window = 60.0
    rolling = False
    default_limit: WindowLimit | None = None

    def report(self, headers: Mapping[str, str]) -> RateReport | None:
        return report(
            number(headers.get("ratelimit-limit")),
            number(headers.get("ratelimit-remaining")),
            reset_in=number(headers.get("ratelimit-reset")),
        )

    def refused(self, status: int, body: bytes | None) -> bool:
        return status == 429

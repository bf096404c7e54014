"""Zendesk's rate headers: ``X-Rate-Limit`` (or ``ratelimit-limit``) is the limit; the
remaining count is the lower of ``X-Rate-Limit-Remaining`` and ``ratelimit-remaining`` (the
same account-wide minute); ``ratelimit-reset`` is the seconds to the reset. Until the headers
are seen the budget assumes the lowest documented plan limit, Team's 200 requests a minute (up
to 700 on Enterprise, 2,500 with the High Volume add-on)."""

from __future__ import annotations

from collections.abc import Mapping

from app.resilience.rates import RateReport, WindowLimit, number, report


class ZendeskRates:
    window = 60.0
    rolling = False
    default_limit: WindowLimit | None = WindowLimit(200, 60.0)

    def report(self, headers: Mapping[str, str]) -> RateReport | None:
        limit = number(headers.get("x-rate-limit"))
        if limit is None:
            limit = number(headers.get("ratelimit-limit"))
        remaining = [
            n
            for n in (
                number(headers.get("x-rate-limit-remaining")),
                number(headers.get("ratelimit-remaining")),
            )
            if n is not None
        ]
        return report(
            limit,
            min(remaining) if remaining else None,
            reset_in=number(headers.get("ratelimit-reset")),
        )

    def refused(self, status: int, body: bytes | None) -> bool:
        return status == 429

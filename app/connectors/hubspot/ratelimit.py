"""HubSpot's rate headers: ``X-HubSpot-RateLimit-Max`` and ``-Remaining`` of a window
``-Interval-Milliseconds`` long (10 s when absent). HubSpot does not say when its window
resets; the daily headers are not read (it does not say when its day ends either). HubSpot documents
100 requests per 10 s for private apps on Free and Starter accounts (190 on Professional and
Enterprise, 250 with the API limit increase), but that says nothing of what another instance
or process of the app has already spent of the window: no ``default_limit`` is assumed, and
the budget lets only a few requests go until the headers are seen."""

from __future__ import annotations

from collections.abc import Mapping

from app.resilience.rates import RateReport, WindowLimit, number, report


class HubSpotRates:
    window = 10.0
    rolling = False
    default_limit: WindowLimit | None = None

    def report(self, headers: Mapping[str, str]) -> RateReport | None:
        interval = number(headers.get("x-hubspot-ratelimit-interval-milliseconds"))
        return report(
            number(headers.get("x-hubspot-ratelimit-max")),
            number(headers.get("x-hubspot-ratelimit-remaining")),
            window=interval / 1000 if interval else None,
        )

    def refused(self, status: int, body: bytes | None) -> bool:
        return status == 429

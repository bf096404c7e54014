"""Dataverse's service protection limits, per user in a 5-minute sliding window: 6,000
requests and 1,200,000 ms of combined execution time (and 52 concurrent requests).

Every answer says what is left of both: ``x-ms-ratelimit-burst-remaining-xrm-requests``
(requests) and ``x-ms-ratelimit-time-remaining-xrm-requests`` (milliseconds, written with
thousands separators, ``1,199,982.00``). Neither states the limit, so the documented ones
are assumed, and the scarcer of the two is reported as requests left. Over a limit Dataverse
answers ``429`` with ``Retry-After`` (seconds). Until the headers are seen the budget assumes
the documented 6,000 requests per 5 minutes."""

from __future__ import annotations

from collections.abc import Mapping

from app.resilience.rates import RateReport, WindowLimit, number, report

REQUESTS = 6000.0
EXECUTION_MS = 1_200_000.0


def _number(raw: str | None) -> float | None:
    return number(raw.replace(",", "")) if raw is not None else None


class DynamicsRates:
    window = 300.0
    rolling = True
    default_limit: WindowLimit | None = WindowLimit(REQUESTS, 300.0)

    def report(self, headers: Mapping[str, str]) -> RateReport | None:
        requests = _number(headers.get("x-ms-ratelimit-burst-remaining-xrm-requests"))
        time_left = _number(headers.get("x-ms-ratelimit-time-remaining-xrm-requests"))
        left = [n for n in (requests,) if n is not None]
        if time_left is not None:
            left.append(REQUESTS * min(time_left, EXECUTION_MS) / EXECUTION_MS)
        if not left:
            return None
        return report(REQUESTS, min(min(left), REQUESTS))

    def refused(self, status: int, body: bytes | None) -> bool:
        return status == 429

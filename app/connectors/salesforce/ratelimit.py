"""Salesforce's rate headers: ``Sforce-Limit-Info: api-usage=N/M`` (``per-app-api-usage`` is
not read) — ``M - N`` calls left of a rolling 24-hour allowance that never resets at once.
A spent allowance is refused with ``403`` and ``REQUEST_LIMIT_EXCEEDED`` in the error array,
as well as with ``429``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from app.resilience.rates import RateReport, WindowLimit

_API_USAGE = re.compile(r"(?<![\w-])api-usage=(\d+)/(\d+)")


class SalesforceRates:
    window = 86_400.0
    rolling = True
    default_limit: WindowLimit | None = None

    def report(self, headers: Mapping[str, str]) -> RateReport | None:
        usage = _API_USAGE.search(headers.get("sforce-limit-info", ""))
        if usage is None or int(usage[2]) <= 0:
            return None
        used, allowance = int(usage[1]), float(usage[2])
        return RateReport(allowance, max(allowance - used, 0.0))

    def refused(self, status: int, body: bytes | None) -> bool:
        return status == 429 or (status == 403 and limit_exceeded(body))


def limit_exceeded(body: bytes | None) -> bool:
    """Whether a Salesforce error array says the org's API allowance is spent."""
    if not body:
        return False
    try:
        errors = json.loads(body)
    except (ValueError, RecursionError):
        return False
    if not isinstance(errors, list):
        errors = [errors]
    return any(
        isinstance(error, dict) and error.get("errorCode") == "REQUEST_LIMIT_EXCEEDED"
        for error in errors
    )

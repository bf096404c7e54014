"""How Salesforce words refusals: error arrays, ``Sforce-Limit-Info``, and 403 for the allowance."""

from __future__ import annotations

from typing import Any

from app.simulators.control import Budget, RateLimit, Refusal

#: What an org advertises when no limit is configured: 100,000 calls a rolling 24 hours.
NOMINAL = RateLimit(requests=100_000, per_seconds=86_400)

_UNKNOWN_EXCEPTION = (
    "An unexpected error occurred. Please include this ErrorId if you contact support: "
    "1964284915-{status} (-1130418547)"
)


def error_array(code: str, message: str, fields: list[str] | None = None) -> list[dict[str, Any]]:
    """The REST API's error body: always a JSON array of ``{message, errorCode[, fields]}``."""
    error: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        error["fields"] = fields
    return [error]


class SalesforceDialect:
    def rate_headers(self, budget: Budget) -> list[tuple[str, str]]:
        used = budget.limit - budget.remaining
        return [("Sforce-Limit-Info", f"api-usage={used}/{budget.limit}")]

    def throttled(self, budget: Budget, retry_after: float) -> Refusal:
        # Salesforce sends no Retry-After and no 429: the org's allowance is spent until the
        # rolling window frees calls, and it says so with 403 REQUEST_LIMIT_EXCEEDED.
        body = error_array("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        return 403, body, self.rate_headers(budget)

    def fault(self, status: int) -> Any:
        if status == 503:
            return error_array("SERVER_UNAVAILABLE", "Server temporarily unavailable")
        return error_array("UNKNOWN_EXCEPTION", _UNKNOWN_EXCEPTION.format(status=status))

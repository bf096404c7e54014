"""The errors a caller can see, each with its ``extensions.code`` (DESIGN §3).

graphql-core copies an original exception's ``extensions`` into the error it reports, so a
resolver simply raises one of these. Upstream errors are translated in one place
(:func:`from_upstream`), and anything else is masked by ``schema.extensions.ErrorShaping``.
"""

from __future__ import annotations

from typing import Any

from app.connectors.errors import UpstreamError


class GatewayError(Exception):
    code = "INTERNAL"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.extensions: dict[str, Any] = {"code": self.code, **extra}


class NotFound(GatewayError):
    code = "NOT_FOUND"


class BadUserInput(GatewayError):
    code = "BAD_USER_INPUT"


class Forbidden(GatewayError):
    code = "FORBIDDEN"


class UnreadableField(GatewayError):
    """A CRM sent a value for this field that is not in its documented format."""

    code = "UPSTREAM_INVALID_DATA"


class UpstreamFieldError(GatewayError):
    """An upstream failure, reported at the fields that source serves."""

    def __init__(self, error: UpstreamError) -> None:
        self.code = error.code if error.code != "NOT_FOUND" else "UPSTREAM_UNAVAILABLE"
        extra: dict[str, Any] = {"source": error.source}
        if error.retry_after is not None:
            extra["retryAfter"] = round(error.retry_after, 3)
        super().__init__(_public_message(error), **extra)


def _public_message(error: UpstreamError) -> str:
    what = {
        "UPSTREAM_TIMEOUT": "did not answer in time",
        "UPSTREAM_RATE_LIMITED": "is rate limiting us",
        "BAD_USER_INPUT": "refused the request",  # an UpstreamRejected: a 4xx it explains
    }.get(error.code, "is unavailable")
    return f"{error.source} {what}: {error.message}"


def from_upstream(error: BaseException) -> BaseException:
    return UpstreamFieldError(error) if isinstance(error, UpstreamError) else error

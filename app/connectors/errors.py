"""What can go wrong upstream, as one tree.

    UpstreamError                 any failure of a CRM call; carries the source
    ├── UpstreamUnavailable       refused, reset or 5xx: the CRM is not answering properly
    │   └── CircuitOpen           we stopped asking for a while after too many failures
    ├── UpstreamTimeout           no answer within the time allowed
    ├── UpstreamRateLimited       the CRM said "too many requests" (retry_after when it said)
    ├── UpstreamAuthFailed        the CRM refused our credentials
    ├── UpstreamNotFound          the CRM has no such record
    ├── UpstreamRejected          the CRM refused the request as invalid (4xx with its reasons)
    └── UpstreamProtocolError     the answer is not in the format the CRM documents

Connectors raise only these; httpx's exceptions are translated at the boundary
(``raise UpstreamTimeout(...) from exc``). The GraphQL layer maps each to an error code.
Messages never carry credentials or personal data, only what is safe to show an operator.

Beside the tree, :class:`UnsupportedQuery`: a value the CRM's query syntax cannot carry (a
wildcard in a Zendesk search term, a cursor it never issued). It is the caller's input, not
the CRM failing, and it is raised before any call is made.
"""

from __future__ import annotations


class UpstreamError(Exception):
    """A CRM call failed. ``source`` names the configured source (``"hubspot"``…)."""

    code = "UPSTREAM_UNAVAILABLE"

    def __init__(
        self,
        source: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.message = message
        self.status = status
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


class UpstreamUnavailable(UpstreamError):
    code = "UPSTREAM_UNAVAILABLE"


class CircuitOpen(UpstreamUnavailable):
    """Failing fast: the source's circuit breaker is open."""


class UpstreamTimeout(UpstreamError):
    code = "UPSTREAM_TIMEOUT"


class UpstreamRateLimited(UpstreamError):
    code = "UPSTREAM_RATE_LIMITED"


class UpstreamAuthFailed(UpstreamError):
    code = "UPSTREAM_UNAVAILABLE"


class UpstreamNotFound(UpstreamError):
    code = "NOT_FOUND"


class UpstreamRejected(UpstreamError):
    """The CRM refused the request as invalid. ``problems`` are its own reasons, as
    (CRM field names, CRM error code, message) — for writes, shown to the caller as
    userErrors."""

    code = "BAD_USER_INPUT"

    def __init__(
        self,
        source: str,
        message: str,
        *,
        status: int | None = None,
        problems: list[tuple[list[str], str, str]] | None = None,
    ) -> None:
        super().__init__(source, message, status=status)
        self.problems = problems or []


class UpstreamProtocolError(UpstreamError):
    code = "UPSTREAM_UNAVAILABLE"


class UnsupportedQuery(ValueError):
    """A query value this CRM's syntax cannot carry exactly, refused before any call.

    ``field`` is the query's own field (``"requester_email"``, or ``"cursor"``); the message
    says what is wrong with its value, without naming it (``"cannot contain *"``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field

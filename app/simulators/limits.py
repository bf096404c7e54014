"""A CRM's limit on a request's URI (and headers), as its front door enforces it."""

from __future__ import annotations

from starlette.responses import Response

from app.simulators.control import ASGIApp, Receive, Scope, Send


def uri_length(scope: Scope) -> int:
    """The bytes of the request's URI as the CRM would see it: the path under the simulator's
    mount, and the query."""
    query = scope.get("query_string", b"")
    path = scope.get("raw_path") or scope["path"].encode()
    return len(path) - len(scope.get("root_path", "")) + (len(query) + 1 if query else 0)


def _headers_length(scope: Scope) -> int:
    """The bytes of the request's header lines (``name: value`` and CRLF)."""
    return sum(len(name) + len(value) + 4 for name, value in scope["headers"])


def size_limited(app: ASGIApp, uri_bytes: int, head_bytes: int | None = None) -> ASGIApp:
    """``app`` behind a limit: ``414 URI Too Long`` for a URI of more than ``uri_bytes``, and,
    when ``head_bytes`` is given, ``431 Request Header Fields Too Large`` for a URI and headers
    of more than that together."""

    async def limited(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            uri = uri_length(scope)
            refusal = None
            if uri > uri_bytes:
                refusal = (414, "URI Too Long")
            elif head_bytes is not None and uri + _headers_length(scope) > head_bytes:
                refusal = (431, "Request Header Fields Too Large")
            if refusal is not None:
                status, text = refusal
                await Response(text, status, media_type="text/plain")(scope, receive, send)
                return
        await app(scope, receive, send)

    return limited

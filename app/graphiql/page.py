"""The GraphiQL page: our template, its assets from the gateway, and a CSP that keeps it so.

Scripts and styles may come from the gateway only; the fonts are ``data:`` URLs inside
GraphiQL's stylesheet; requests go to the gateway itself (``connect-src 'self'`` covers the
``ws:``/``wss:`` subscriptions on the same host too).
"""

from __future__ import annotations

import functools
import html
import re
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse

from app.graphiql.assets import assets

TEMPLATE = Path(__file__).with_name("page.html")
CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "font-src 'self' data:",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
#: An asset named in the template: ``src="static/explain.js"``.
ASSET = re.compile(r'(?P<attribute>src|href)="static/(?P<name>[^"]+)"')


def page(request: Request) -> HTMLResponse:
    """The page for a GET of the GraphQL path (``/graphql``, or under a root path)."""
    return HTMLResponse(render(request.url.path.rstrip("/") + "/static/"), headers=HEADERS)


@functools.lru_cache(maxsize=8)
def render(static: str) -> str:
    """The template with each asset's URL under ``static``, versioned by its digest."""
    served = assets()

    def url(found: re.Match[str]) -> str:
        name = found["name"]
        if name not in served:
            raise LookupError(f"page.html names static/{name}, which is not served")
        href = html.escape(f"{static}{name}?v={served[name].digest}")
        return f'{found["attribute"]}="{href}"'

    return ASSET.sub(url, TEMPLATE.read_text(encoding="utf-8"))

"""The files the GraphiQL page loads, served from the package under ``/graphql/static/``.

Only the ``.js`` and ``.css`` files of ``static/`` are served, looked up by name in a table
built from that folder: any other name (a licence, a path with ``..``) is a 404. The page
asks for each under its digest (``?v=``), so a browser may keep them a year: the next
version of a file is another URL.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

STATIC = Path(__file__).with_name("static")
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css"}
CACHED_A_YEAR = "public, max-age=31536000, immutable"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    digest: str


@functools.cache
def assets() -> dict[str, Asset]:
    """Every file the gateway serves to the page, by name."""
    found = {}
    for path in sorted(STATIC.iterdir()):
        media_type = CONTENT_TYPES.get(path.suffix)
        if media_type is not None and path.is_file():
            body = path.read_bytes()
            found[path.name] = Asset(body, media_type, hashlib.sha256(body).hexdigest()[:16])
    return found


def assets_router() -> APIRouter:
    """``GET /{name}``: one of :func:`assets`, to mount under ``/graphql/static``."""
    router = APIRouter()

    @router.api_route("/{name}", methods=["GET", "HEAD"], include_in_schema=False)
    async def asset(name: str) -> Response:
        found = assets().get(name)
        if found is None:
            return PlainTextResponse("Not Found", status_code=404)
        headers = {"Cache-Control": CACHED_A_YEAR, "X-Content-Type-Options": "nosniff"}
        return Response(found.body, media_type=found.media_type, headers=headers)

    return router

"""The simulators' JSON answers, encoded with orjson.

The same JSON as Starlette's ``JSONResponse`` writes (compact, UTF-8, keys in order, non-string
keys as strings), a few times faster: the simulators stand in for CRMs whose own time is not
the gateway's, so the benchmarks should spend as little of it as they can.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse as StarletteJSONResponse

OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(content: Any) -> bytes:
    """``content`` as compact UTF-8 JSON."""
    return orjson.dumps(content, option=OPTIONS)


class JSONResponse(StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps(content)

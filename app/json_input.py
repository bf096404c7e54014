"""JSON sent by callers, parsed with a bound on how deeply it nests.

Python's ``json`` recurses once per level and, past ~1,000, raises a ``RecursionError`` that
nothing expects: a request body of 50,000 ``[`` was a 500 with a traceback, and a websocket
message like it would have ended its connection's handler. No GraphQL request needs more than a
few levels, so deeper than :data:`MAX_DEPTH` is refused as a parse error
(``json.JSONDecodeError``, which Strawberry's HTTP view and websocket handlers turn into a 400
or a close). Python's ``json``, not orjson: it takes what callers send today (a lone surrogate
escape, which a field's own check then names) where orjson would refuse the whole body.
"""

from __future__ import annotations

import json
from typing import Any

#: The deepest nesting of objects and lists accepted from a caller.
MAX_DEPTH = 64


def loads(data: str | bytes) -> Any:
    """``data`` parsed; ``json.JSONDecodeError`` when it is not JSON or nests deeper than
    :data:`MAX_DEPTH`."""
    try:
        value = json.loads(data)
        too_deep = _deeper(value, MAX_DEPTH)
    except RecursionError:
        too_deep = True
    if too_deep:
        raise json.JSONDecodeError(f"nested deeper than {MAX_DEPTH} levels", "", 0)
    return value


def _deeper(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False

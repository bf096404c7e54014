"""What one GraphQL operation cost: its upstream calls and loader batches.

A :class:`Trail` lives in a context variable for the length of an operation (the schema's
``Observe`` extension opens it); every upstream attempt and loader batch made in that
operation's context is recorded on it. It feeds ``crmgraph_loader_calls_per_query`` for every
operation, and the response's ``extensions.explain`` when the caller asked for it and may see
it (``observability.explain_roles``).

A call shared with a concurrent request (the cache's single flight) is recorded by the
request that made it; the other is answered from the cache, which its ``cache`` figures show.
"""

from __future__ import annotations

import contextvars
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from app.connectors.http import UpstreamCall


@dataclass(slots=True)
class Trail:
    calls: list[UpstreamCall] = field(default_factory=list)
    batches: Counter[str] = field(default_factory=Counter)
    keys: Counter[str] = field(default_factory=Counter)


_current: contextvars.ContextVar[Trail | None] = contextvars.ContextVar(
    "crmgraph_trail", default=None
)


def start() -> tuple[Trail, contextvars.Token[Trail | None]]:
    trail = Trail()
    return trail, _current.set(trail)


def stop(token: contextvars.Token[Trail | None]) -> None:
    _current.reset(token)


def upstream_call(call: UpstreamCall) -> None:
    """An :class:`UpstreamClient` observer: the attempt, on the operation's trail."""
    trail = _current.get()
    if trail is not None:
        trail.calls.append(call)


def loader_batch(loader: str, size: int) -> None:
    trail = _current.get()
    if trail is not None:
        trail.batches[loader] += 1
        trail.keys[loader] += size


def report(
    trail: Trail,
    hits: Counter[tuple[str, str]],
    misses: Counter[tuple[str, str]],
    elapsed_ms: float,
) -> dict[str, Any]:
    """``extensions.explain``: JSON-ready, no bodies, no personal data (routes are templates)."""
    return {
        "totalMs": round(elapsed_ms, 1),
        "upstreamCalls": len(trail.calls),
        "calls": [
            {
                "source": c.source,
                "method": c.method,
                "route": c.route,
                "batchSize": c.items,
                "status": c.status,
                "error": c.error,
                "attempt": c.attempt,
                "ms": round(c.elapsed_ms, 1),
                "correlationId": c.request_id,
            }
            for c in trail.calls
        ],
        "loaders": [
            {"loader": name, "batches": n, "keys": trail.keys[name]}
            for name, n in sorted(trail.batches.items())
        ],
        "cache": [
            {"entity": e, "group": g, "hits": hits[(e, g)], "misses": misses[(e, g)]}
            for e, g in sorted(set(hits) | set(misses))
        ],
    }

"""What a loader batch reports: its span, its size (``crmgraph_loader_batch_size``) and its
place on the operation's trail (``crmgraph_loader_calls_per_query``, explain)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from app.observability import explain, metrics, tracing


@contextlib.contextmanager
def batch(loader: str, size: int) -> Iterator[None]:
    metrics.loader_batch(loader, size)
    explain.loader_batch(loader, size)
    attributes: dict[str, str | int] = {"crmgraph.loader": loader, "crmgraph.batch_size": size}
    with tracing.span(f"loader {loader}", attributes=attributes):
        yield

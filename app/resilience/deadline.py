"""The deadline of the GraphQL request being served, inherited by every upstream call it makes.

Set once per request (``schema.extensions.RequestPlan``) in a context variable, so loader
batches and retries started on its behalf see it without being handed it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_DEADLINE: ContextVar[float | None] = ContextVar("crmgraph_deadline", default=None)


def current() -> float | None:
    """The deadline as a ``time.monotonic()`` value, or None when there is none."""
    return _DEADLINE.get()


def remaining() -> float | None:
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()


def start(seconds: float) -> None:
    """Give the current context (the request) a deadline ``seconds`` from now."""
    _DEADLINE.set(time.monotonic() + seconds)


@contextmanager
def within(seconds: float) -> Iterator[None]:
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)

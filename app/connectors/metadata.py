"""What a live check of one source found: a config path, a message, how bad it is.

``error``: something the config or the field maps name that the CRM does not have — reads or
writes that use it fail. ``warning``: something the CRM cannot do that crmgraph refuses
cleanly before calling it (a status of ours the org has no value for). Each kind that can be
asked declares a ``check(connector, context) -> Checked`` (``app/connectors/<vendor>/
describe.py``); :mod:`app.checks.live` runs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class Finding:
    path: str
    message: str
    severity: Literal["error", "warning"] = "error"


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a source's check needs to know of the config beyond its connector."""

    brands: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Checked:
    """A source's findings, and (if it read something the gateway's own connector of that
    source should use from now on, e.g. the org's status vocabulary) how to hand it over."""

    findings: list[Finding]
    learn: Callable[[Any], None] | None = None

"""The one check every string a caller sends to be looked up or searched for passes.

Filter values, ids and cursors end up inside each CRM's own query language (SOQL literals,
HubSpot search bodies, Zendesk search terms, URL parameters). Whatever none of them can carry
is refused here, before any upstream call: control characters (NUL, line breaks, the C1
range), unpaired surrogates (not text at all), and values longer than any CRM field.
What passes is escaped by each connector in its CRM's syntax, and a connector refuses what its
syntax cannot carry exactly (``UnsupportedQuery``).
"""

from __future__ import annotations

import re

#: Longer than any field a CRM stores or searches (Salesforce's longest text is 255).
MAX_LENGTH = 1000

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """What makes ``value`` unfit for a query (``"must …"``), or None when it is fit."""
    if len(value) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if _CONTROL.search(value):
        return "must not contain control characters"
    if _SURROGATE.search(value):
        return "must be text (it holds an unpaired surrogate)"
    return None

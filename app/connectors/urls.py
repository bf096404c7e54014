"""How much of a URL a GET's query takes, and a batch of keys split to keep each URL within a
CRM's limit (Salesforce: 16,384 bytes of URI and headers; Dataverse: 32,768 characters).

A key's share of a URL depends on what must be escaped: an apostrophe is ``\\'`` in SOQL and
``''`` in OData, six bytes of a URL either way, and a non-ASCII letter six or more. A batch of
a hundred ordinary email addresses takes ~4 kB; the same number of long or non-ASCII ones can
take ten times that.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

#: The bytes of a URL's query that may be percent-encoded: all but the unreserved ones.
_ENCODED = re.compile(rb"[^A-Za-z0-9._~-]")


def wire_length(text: str) -> int:
    """The most bytes ``text`` takes in a URL's query: its UTF-8 bytes, each but the
    unreserved ones percent-encoded (three bytes for one; httpx leaves a few more as they are,
    and writes a space as one)."""
    raw = text.encode()
    return len(raw) + 2 * len(_ENCODED.findall(raw))


def packed(
    values: Iterable[str],
    literal: Callable[[str], str],
    separator: str,
    room: int,
    most: int,
) -> list[list[str]]:
    """``values`` in order, in runs of at most ``most`` whose literals (each with its
    ``separator``) take at most ``room`` bytes of a URL together (``wire_length``). A value that
    does not fit alone is a run of its own."""
    runs: list[list[str]] = []
    run: list[str] = []
    used = 0
    for value in values:
        cost = wire_length(separator + literal(value))
        if run and (len(run) == most or used + cost > room):
            runs.append(run)
            run, used = [], 0
        run.append(value)
        used += cost
    if run:
        runs.append(run)
    return runs

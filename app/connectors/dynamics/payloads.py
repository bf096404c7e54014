"""OData query options in Dataverse's dialect: literals, ``$filter`` terms and the
``Microsoft.Dynamics.CRM.In`` query function, and the paging cookie a cursor carries."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from app.connectors import urls
from app.connectors.base import TimeRange
from app.connectors.errors import UnsupportedQuery

#: Keys in one ``In`` filter, at most (fewer when they are long: ``in_runs``).
IN_CHUNK = 100
#: The longest URL a GET is given, in bytes. "The maximum length of URL accepted is 32 KB
#: (32768 characters)" (64 KB for a request inside a ``$batch``); this leaves 2 KiB of it for
#: the organization's address.
URL_BYTES = 30_720
#: Lookup ids in one ``eq … or …`` chain (a lookup is compared, not passed to ``In``).
LOOKUP_CHUNK = 50
#: The largest page Dataverse serves (``odata.maxpagesize``, ``$top``).
MAX_PAGE = 5000
#: A filter that no row matches (Dataverse has no ``false`` filter).
NOTHING = "createdon eq null"

_COOKIE = re.compile(r'^<cookie pagenumber="\d+" pagingcookie="[^"<>]*" istracking="\w+" ?/>$')


def chunked(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def guid(value: str) -> str | None:
    """The canonical (lower-case, hyphenated) GUID, or None when ``value`` is not one."""
    text = value.strip()
    if len(text) != 36:
        return None
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def literal(value: str) -> str:
    """An OData string literal (a quote doubled inside)."""
    return "'" + value.replace("'", "''") + "'"


def instant(value: datetime) -> str:
    """An Edm.DateTimeOffset literal, to the second (as Dataverse keeps them)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def one_of(column: str, values: Iterable[str]) -> str:
    """``column`` equal to any of ``values`` (text or choice numbers, compared as text)."""
    quoted = ",".join(literal(v) for v in values)
    return f"Microsoft.Dynamics.CRM.In(PropertyName={literal(column)},PropertyValues=[{quoted}])"


def in_runs(keys: Iterable[str], room: int) -> list[list[str]]:
    """``keys`` in runs for ``one_of`` whose literals take at most ``room`` bytes of a URL."""
    return urls.packed(keys, literal, ",", room, IN_CHUNK)


def any_id(column: str, ids: Iterable[str]) -> str:
    """A lookup column equal to any of ``ids`` (canonical GUIDs, unquoted)."""
    terms = [f"{column} eq {i}" for i in ids]
    return "(" + " or ".join(terms) + ")" if terms else NOTHING


def span(column: str, window: TimeRange) -> list[str]:
    found = []
    if window.after is not None:
        found.append(f"{column} ge {instant(window.after)}")
    if window.before is not None:
        found.append(f"{column} le {instant(window.before)}")
    return found


def all_of(terms: Iterable[str]) -> str | None:
    parts = [t for t in terms if t]
    return " and ".join(parts) if parts else None


def skiptoken(next_link: str | None) -> str | None:
    """The ``$skiptoken`` of an ``@odata.nextLink``: the cursor of the next page."""
    if not next_link:
        return None
    found = parse_qs(urlsplit(next_link).query).get("$skiptoken")
    return found[0] if found else None


def checked_cursor(cursor: str) -> str:
    """A cursor as Dataverse issued it (a paging cookie), or :class:`UnsupportedQuery`."""
    if not _COOKIE.match(cursor):
        raise UnsupportedQuery("cursor", "is not a cursor this server issued")
    return cursor

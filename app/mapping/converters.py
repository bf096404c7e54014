"""Converters from the CRMs' wire formats to domain values.

Each takes the raw wire value (``None`` when the CRM sent nothing) and returns the domain value
or ``None``; a value that is present but cannot be read raises :class:`ConversionError`, which
the mapping layer turns into a field error naming the source, record and field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.domain.models import LeadStatus, TicketPriority, TicketStatus
from app.domain.money import Money

E = TypeVar("E")


class ConversionError(ValueError):
    """A wire value that is present but not in the format its CRM documents."""


def text(value: Any) -> str | None:
    """A string property; CRMs send ``""`` for a cleared value, which is "no value"."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    stripped = value.strip()
    return stripped or None


def email(value: Any) -> str | None:
    """Emails are compared case-insensitively everywhere; we carry them lower-cased."""
    found = text(value)
    return found.lower() if found else None


def integer(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ConversionError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise ConversionError(f"expected an integer, got {value!r}")


def number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ConversionError(f"expected a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ConversionError(f"expected a number, got {value!r}") from exc


def boolean(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ConversionError(f"expected true or false, got {value!r}")


def epoch_ms(value: Any) -> datetime | None:
    """Milliseconds since the Unix epoch (an int, or a string of digits) → aware UTC."""
    millis = integer(value)
    if millis is None:
        return None
    try:
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ConversionError(f"epoch milliseconds out of range: {value!r}") from exc


def iso_datetime(value: Any) -> datetime | None:
    """ISO 8601 with ``Z`` or an offset (HubSpot's and Zendesk's form) → aware UTC.

    A value without any zone is refused rather than guessed.
    """
    raw = text(value)
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ConversionError(f"expected an ISO 8601 date-time, got {raw!r}") from exc
    if parsed.tzinfo is None:
        raise ConversionError(f"date-time {raw!r} has no time zone")
    return parsed.astimezone(UTC)


def hubspot_datetime(value: Any) -> datetime | None:
    """HubSpot sends date-times as ISO strings, or as epoch-millisecond strings in places."""
    raw = text(value)
    if raw is None:
        return None
    if raw.isdigit():
        return epoch_ms(raw)
    return iso_datetime(raw)


_SALESFORCE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?([+-]\d{4}|Z)$")


def salesforce_datetime(value: Any) -> datetime | None:
    """``2013-05-20T20:49:32.000+0000`` (an offset without a colon) → aware UTC."""
    raw = text(value)
    if raw is None:
        return None
    if not _SALESFORCE.match(raw):
        raise ConversionError(
            f"expected a Salesforce date-time like 2013-05-20T20:49:32.000+0000, got {raw!r}"
        )
    return iso_datetime(raw)


def local_datetime(value: Any, zone: Any) -> datetime | None:
    """``DD/MM/YYYY HH:mm`` read as wall-clock time in the IANA ``zone`` → aware UTC.

    Around a daylight-saving change a wall-clock time can occur twice (autumn) or never
    (spring). We read an ambiguous time as its first occurrence and a skipped time with the
    offset in force before the change, which is what zoneinfo does with ``fold=0``.
    """
    raw = text(value)
    if raw is None:
        return None
    zone_name = text(zone)
    if zone_name is None:
        raise ConversionError(f"local time {raw!r} comes without a time zone")
    try:
        tz = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConversionError(f"unknown time zone {zone_name!r}") from exc
    found = _LOCAL.match(raw)
    try:
        if found is None:
            raise ValueError(raw)
        day, month, year, hour, minute = map(int, found.groups())
        naive = datetime(year, month, day, hour, minute)
    except ValueError as exc:
        raise ConversionError(f"expected DD/MM/YYYY HH:mm, got {raw!r}") from exc
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)


#: What ``strptime`` reads as ``%d/%m/%Y %H:%M`` (one or two digits, any run of blanks),
#: without its per-call parsing of the format.
_LOCAL = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2}):(\d{1,2})\Z", re.ASCII)


_CURRENCY = re.compile(r"[A-Za-z]{3}")


def money(minor: Any, currency: Any) -> Money | None:
    """An integer amount in minor units of ``currency`` → exact :class:`Money`."""
    amount = integer(minor)
    if amount is None:
        return None
    code = text(currency)
    if code is None or not _CURRENCY.fullmatch(code):
        raise ConversionError(f"money needs an ISO 4217 currency, got {currency!r}")
    return Money.from_minor(amount, code)


def vocabulary(value: Any, table: Mapping[str, E], what: str) -> E | None:
    """Look a CRM's enum value up in ``table`` (case-insensitive); unknown values are errors."""
    raw = text(value)
    if raw is None:
        return None
    found = table.get(raw.lower())
    if found is None:
        known = ", ".join(sorted(table))
        raise ConversionError(f"unknown {what} {raw!r} (known: {known})")
    return found


#: Salesforce's default LeadStatus picklist; operators extend it in the config.
SALESFORCE_LEAD_STATUSES: dict[str, LeadStatus] = {
    "open - not contacted": LeadStatus.NEW,
    "working - contacted": LeadStatus.WORKING,
    "closed - converted": LeadStatus.CONVERTED,
    "closed - not converted": LeadStatus.UNQUALIFIED,
    "qualified": LeadStatus.QUALIFIED,
    "unqualified": LeadStatus.UNQUALIFIED,
    "new": LeadStatus.NEW,
    "working": LeadStatus.WORKING,
}

ZENDESK_TICKET_STATUSES: dict[str, TicketStatus] = {
    "new": TicketStatus.NEW,
    "open": TicketStatus.OPEN,
    "pending": TicketStatus.PENDING,
    "hold": TicketStatus.ON_HOLD,
    "solved": TicketStatus.SOLVED,
    "closed": TicketStatus.CLOSED,
}

ZENDESK_TICKET_PRIORITIES: dict[str, TicketPriority] = {
    "low": TicketPriority.LOW,
    "normal": TicketPriority.NORMAL,
    "high": TicketPriority.HIGH,
    "urgent": TicketPriority.URGENT,
}


def lead_status(
    status: Any, is_converted: Any, table: Mapping[str, LeadStatus] = SALESFORCE_LEAD_STATUSES
) -> LeadStatus | None:
    """A converted lead is CONVERTED whatever its picklist value says."""
    if boolean(is_converted):
        return LeadStatus.CONVERTED
    return vocabulary(status, table, "lead status")

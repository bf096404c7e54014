"""Validation of write input, before any upstream call.

Each checker takes the raw value and its input path (``("input", "email")``), and returns the
normalised value, ``None`` when an optional value is missing, or raises :class:`Invalid`. A
:class:`Validator` runs several checkers over one input and reports every error at once.

Rules shared by all checkers:

- Strings are trimmed and NFC-normalised; an empty or blank string counts as missing.
- Lengths are counted in UTF-16 code units, as Salesforce counts them, so an input that passes
  here is never refused by a CRM for its length (an emoji counts as 2).
- Messages name the field and what is expected; they never repeat the input.

Emails: trimmed and lower-cased; one ``@``, a local part of at most 64 characters made of the
RFC 5322 "atext" characters and single dots, a domain of at least two dot-separated labels
(letters, digits, inner hyphens; at most 63 each) and at most 254 characters in all. Only ASCII
addresses are accepted: an internationalised domain must be given in its punycode form
(``xn--…``), because the CRMs store ASCII addresses and silently remapping a Unicode domain could
change it. A trailing dot (``example.com.``) is refused.

Phones: parsed with ``phonenumbers`` and returned in E.164. A number without ``+country code``
(or ``00``-style international prefix) is read in the default region, and refused with a message
naming that region (or asking for a country code when there is none). Extensions are refused
(E.164 cannot carry them), and so are letters (vanity numbers are ambiguous in a CRM).
"""

from __future__ import annotations

import enum
import math
import re
import unicodedata
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import phonenumbers

from app.domain.custom import CustomFieldSpec
from app.domain.models import TicketPriority, TicketStatus
from app.services.inputs import text_problem

Path = tuple[str, ...]

REQUIRED = "REQUIRED"
INVALID_EMAIL = "INVALID_EMAIL"
INVALID_PHONE = "INVALID_PHONE"
TOO_LONG = "TOO_LONG"
INVALID_VALUE = "INVALID_VALUE"
INVALID_DATE = "INVALID_DATE"
UNKNOWN_FIELD = "UNKNOWN_FIELD"


@dataclass(frozen=True, slots=True)
class FieldError:
    field: Path
    code: str
    message: str


class Invalid(Exception):
    """One or more fields of an input are invalid; ``errors`` lists them all."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


def _fail(path: Path, code: str, message: str) -> Invalid:
    return Invalid([FieldError(path, code, message)])


def _name(path: Path) -> str:
    return path[-1] if path else "value"


def _length(value: str) -> int:
    """Length in UTF-16 code units, as Salesforce counts it."""
    return len(value.encode("utf-16-le")) // 2


def _clean(value: object, path: Path, required: bool, what: str) -> str | None:
    """Type check, trim and NFC; ``None`` when missing (an error when required)."""
    if value is not None and not isinstance(value, str):
        raise _fail(path, INVALID_VALUE, f"{_name(path)} must be a string")
    cleaned = unicodedata.normalize("NFC", value).strip() if value is not None else ""
    if not cleaned:
        if required:
            raise _fail(path, REQUIRED, f"{_name(path)} is required and must be {what}")
        return None
    return cleaned


# --- email ---------------------------------------------------------------------------------

_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
EMAIL_MAX = 254


def _email_problem(address: str) -> str | None:
    """Why ``address`` (trimmed, lower-cased) is not a usable email address, or ``None``."""
    if any(c.isspace() for c in address):
        return "without spaces"
    if not address.isascii():
        return "in ASCII (write an international domain in its xn-- punycode form)"
    if address.count("@") != 1:
        return "with exactly one @"
    local, domain = address.split("@")
    if not local or not _LOCAL.match(local):
        return (
            "with a name before the @ made of letters, digits and . _ % + -"
            " (no leading, trailing or double dot)"
        )
    if len(local) > 64:
        return "with at most 64 characters before the @"
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return "with a domain like example.com after the @"
    if not _TLD.match(labels[-1]):
        return "with a domain ending in a top-level domain such as .com"
    return None


def email(
    value: str | None, path: Path, required: bool = False, max_length: int = EMAIL_MAX
) -> str | None:
    """A normalised (trimmed, lower-cased) email address, or ``None`` when missing."""
    what = "a valid address"
    address = _clean(value, path, required, what)
    if address is None:
        return None
    address = address.lower()
    limit = min(max_length, EMAIL_MAX)
    if _length(address) > limit:
        raise _fail(path, TOO_LONG, f"{_name(path)} must be at most {limit} characters")
    problem = _email_problem(address)
    if problem is not None:
        raise _fail(path, INVALID_EMAIL, f"{_name(path)} must be a valid address, {problem}")
    return address


# --- phone ---------------------------------------------------------------------------------

PHONE_MAX = 40
_NOT_DIALLED = re.compile(r"[^\d\s+().\-/]")


def phone(
    value: str | None,
    path: Path,
    default_region: str | None = None,
    required: bool = False,
) -> str | None:
    """A phone number in E.164 (``+442079460958``), or ``None`` when missing.

    ``default_region`` (ISO 3166 alpha-2, e.g. ``"GB"``) is assumed for a number without a
    country code; an unknown region is a configuration error and raises ``ValueError``.
    """
    region = default_region.upper() if default_region else None
    if region is not None and region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown phone region {region[:8]!r}: expected e.g. 'GB' or 'US'")
    name = _name(path)
    raw = _clean(value, path, required, "a valid phone number")
    if raw is None:
        return None
    if _length(raw) > PHONE_MAX:
        raise _fail(path, TOO_LONG, f"{name} must be at most {PHONE_MAX} characters")
    if raw.startswith("+"):
        assumed = ""
    elif region is None:
        assumed = "; it has no +country code and no default region is set, so add one"
    else:
        assumed = f"; a number without +country code is read as a {region} number"
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise _fail(path, INVALID_PHONE, f"{name} must be a valid phone number{assumed}") from None
    if number.extension:
        raise _fail(
            path,
            INVALID_PHONE,
            f"{name} must be a phone number without an extension (E.164 cannot hold one)",
        )
    if _NOT_DIALLED.search(raw):
        raise _fail(
            path,
            INVALID_PHONE,
            f"{name} must contain only digits, spaces, +, -, ., / and parentheses",
        )
    if not phonenumbers.is_valid_number(number):
        raise _fail(path, INVALID_PHONE, f"{name} must be a valid phone number{assumed}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- text, choice, instant -----------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def text(
    value: str | None,
    path: Path,
    max_length: int,
    required: bool = False,
    multiline: bool = False,
) -> str | None:
    """Trimmed text of at most ``max_length`` characters; ``""`` counts as missing.

    Control characters are refused; line breaks and tabs only when ``multiline``.
    """
    name = _name(path)
    cleaned = _clean(value, path, required, f"text of at most {max_length} characters")
    if cleaned is None:
        return None
    if _length(cleaned) > max_length:
        raise _fail(path, TOO_LONG, f"{name} must be at most {max_length} characters")
    if (_CONTROL_MULTILINE if multiline else _CONTROL).search(cleaned):
        kind = "control characters" if multiline else "line breaks or control characters"
        raise _fail(path, INVALID_VALUE, f"{name} must be text without {kind}")
    return cleaned


def _one_of(allowed: Collection[str]) -> str:
    ordered = sorted(allowed)
    if len(ordered) > 12:
        return f"one of {len(ordered)} allowed values"
    return "one of " + ", ".join(ordered)


def choice(
    value: str | enum.Enum | None, path: Path, allowed: Collection[str], required: bool = False
) -> str | None:
    """One of ``allowed``, matched case-insensitively and returned in its allowed spelling.

    An enum member stands for its name (a GraphQL enum argument arrives as one).
    """
    expected = _one_of(allowed)
    if isinstance(value, enum.Enum):
        value = value.name
    cleaned = _clean(value, path, required, expected)
    if cleaned is None:
        return None
    by_key = {a.casefold(): a for a in allowed}
    found = by_key.get(cleaned.casefold())
    if found is None:
        raise _fail(path, INVALID_VALUE, f"{_name(path)} must be {expected}")
    return found


def instant(value: str | datetime | None, path: Path, required: bool = False) -> datetime | None:
    """An aware datetime, from ISO 8601 text or a datetime, returned in UTC."""
    name = _name(path)
    expected = "an ISO 8601 date-time with a time zone, e.g. 2024-05-01T12:00:00Z"
    if isinstance(value, datetime):
        moment = value
    else:
        if value is not None and not isinstance(value, str):
            raise _fail(path, INVALID_DATE, f"{name} must be {expected}")
        raw = _clean(value, path, required, expected)
        if raw is None:
            return None
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            raise _fail(path, INVALID_DATE, f"{name} must be {expected}") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _fail(path, INVALID_DATE, f"{name} must have a time zone, e.g. 2024-05-01T12:00:00Z")
    return moment.astimezone(UTC)


# --- collecting ----------------------------------------------------------------------------


class Validator:
    """Runs checkers over one input and collects every error instead of stopping at the first.

    Each method returns the checker's value, or ``None`` when that field is invalid.
    """

    def __init__(self, root: str = "input") -> None:
        self.root = root
        self.errors: list[FieldError] = []

    def path(self, name: str) -> Path:
        return (self.root, name)

    def add(self, name: str | None, code: str, message: str) -> None:
        """Record an error found by the caller (a rule across fields, say)."""
        self.errors.append(FieldError(self.path(name) if name else (self.root,), code, message))

    def _run(self, check: Callable[[], Any]) -> Any:
        try:
            return check()
        except Invalid as invalid:
            self.errors.extend(invalid.errors)
            return None

    def email(self, name: str, value: Any, **kw: Any) -> str | None:
        result: str | None = self._run(lambda: email(value, self.path(name), **kw))
        return result

    def phone(self, name: str, value: Any, **kw: Any) -> str | None:
        result: str | None = self._run(lambda: phone(value, self.path(name), **kw))
        return result

    def text(self, name: str, value: Any, **kw: Any) -> str | None:
        result: str | None = self._run(lambda: text(value, self.path(name), **kw))
        return result

    def choice(self, name: str, value: Any, **kw: Any) -> str | None:
        result: str | None = self._run(lambda: choice(value, self.path(name), **kw))
        return result

    def instant(self, name: str, value: Any, **kw: Any) -> datetime | None:
        result: datetime | None = self._run(lambda: instant(value, self.path(name), **kw))
        return result

    def check(self) -> None:
        """Raise :class:`Invalid` with every error collected so far, or return."""
        if self.errors:
            raise Invalid(list(self.errors))


# --- inputs --------------------------------------------------------------------------------

# Salesforce Lead field lengths.
FIRST_NAME_MAX = 40
LAST_NAME_MAX = 80
COMPANY_MAX = 255
LEAD_EMAIL_MAX = 80
LEAD_SOURCE_MAX = 40
BRAND_MAX = 64
SUBJECT_MAX = 150
COMMENT_MAX = 65535


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _unknown(v: Validator, data: Mapping[str, Any], known: Collection[str]) -> None:
    for key in sorted(set(data) - set(known)):
        v.errors.append(
            FieldError(v.path(_camel(key)[:64]), UNKNOWN_FIELD, "this field is not accepted here")
        )


_LEAD_FIELDS = ("first_name", "last_name", "company", "email", "phone", "lead_source", "brand")


def validate_new_lead(data: Mapping[str, Any], default_region: str | None) -> dict[str, Any]:
    """A new lead's fields (snake_case keys), validated and normalised.

    Error paths use the GraphQL names (``("input", "lastName")``). The result holds only the
    fields given; raises :class:`Invalid` with every error.
    """
    v = Validator()
    _unknown(v, data, _LEAD_FIELDS)
    out: dict[str, Any] = {
        "first_name": v.text("firstName", data.get("first_name"), max_length=FIRST_NAME_MAX),
        "last_name": v.text(
            "lastName", data.get("last_name"), max_length=LAST_NAME_MAX, required=True
        ),
        "company": v.text("company", data.get("company"), max_length=COMPANY_MAX, required=True),
        "email": v.email("email", data.get("email"), max_length=LEAD_EMAIL_MAX),
        "phone": v.phone("phone", data.get("phone"), default_region=default_region),
        "lead_source": v.text("leadSource", data.get("lead_source"), max_length=LEAD_SOURCE_MAX),
        "brand": v.text("brand", data.get("brand"), max_length=BRAND_MAX),
    }
    if not (_present(data.get("email")) or _present(data.get("phone"))):
        v.add("email", REQUIRED, "email or phone is required: give at least one")
    v.check()
    return {k: value for k, value in out.items() if value is not None}


#: The region a phone number of a record of a brand is read in (``None``: no brand given).
PhoneRegionOf = Callable[[str | None], str | None]


def no_phone_region(_: str | None) -> None:
    """Every phone number must carry its +country code."""
    return None


def given_brand(data: Mapping[str, Any]) -> str | None:
    """The brand an input names (before it is validated), to read its phone number in."""
    brand = data.get("brand")
    return brand.strip() or None if isinstance(brand, str) else None


def _present(value: Any) -> bool:
    return value is not None and (not isinstance(value, str) or bool(value.strip()))


_TICKET_FIELDS = ("subject", "status", "priority", "comment")


def validate_ticket_update(data: Mapping[str, Any]) -> dict[str, Any]:
    """The changed fields of a ticket (snake_case keys), validated and normalised.

    A field that is absent or ``None`` is left unchanged; a field that is given must hold a
    value (an empty subject is an error, not a way to clear it). At least one field is needed.
    """
    v = Validator()
    _unknown(v, data, _TICKET_FIELDS)
    given = {k: data[k] for k in _TICKET_FIELDS if data.get(k) is not None}
    out: dict[str, Any] = {}
    if "subject" in given:
        out["subject"] = v.text("subject", given["subject"], max_length=SUBJECT_MAX, required=True)
    if "status" in given:
        out["status"] = v.choice(
            "status", given["status"], allowed=[s.name for s in TicketStatus], required=True
        )
    if "priority" in given:
        out["priority"] = v.choice(
            "priority", given["priority"], allowed=[p.name for p in TicketPriority], required=True
        )
    if "comment" in given:
        out["comment"] = v.text(
            "comment", given["comment"], max_length=COMMENT_MAX, required=True, multiline=True
        )
    if not given and not v.errors:
        v.add(None, REQUIRED, "give at least one of subject, status, priority or comment")
    v.check()
    return out


def _changes(v: Validator, data: Mapping[str, Any], known: Collection[str]) -> dict[str, Any]:
    """The fields of an update that were given (absent or None: unchanged)."""
    _unknown(v, data, known)
    given = {k: data[k] for k in known if data.get(k) is not None}
    if not given:
        v.add(None, REQUIRED, "give at least one field to change")
    return given


_LEAD_UPDATE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "company",
    "lead_source",
    "status",
)
#: The lead statuses an update may set; CONVERTED comes only from converting the lead.
LEAD_UPDATE_STATUSES = ("NEW", "WORKING", "QUALIFIED", "UNQUALIFIED")


def validate_lead_update(data: Mapping[str, Any], default_region: str | None) -> dict[str, Any]:
    """The changed fields of a lead, validated; a given field must hold a value."""
    v = Validator()
    given = _changes(v, data, _LEAD_UPDATE_FIELDS)
    checks: dict[str, Callable[[Any], Any]] = {
        "first_name": lambda x: v.text("firstName", x, max_length=FIRST_NAME_MAX, required=True),
        "last_name": lambda x: v.text("lastName", x, max_length=LAST_NAME_MAX, required=True),
        "email": lambda x: v.email("email", x, max_length=LEAD_EMAIL_MAX, required=True),
        "phone": lambda x: v.phone("phone", x, default_region=default_region, required=True),
        "company": lambda x: v.text("company", x, max_length=COMPANY_MAX, required=True),
        "lead_source": lambda x: v.text("leadSource", x, max_length=LEAD_SOURCE_MAX, required=True),
        "status": lambda x: v.choice("status", x, allowed=LEAD_UPDATE_STATUSES, required=True),
    }
    out = {k: checks[k](value) for k, value in given.items()}
    v.check()
    return out


_CUSTOMER_UPDATE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "company",
    "lifecycle_stage",
)
CUSTOMER_TEXT_MAX = 255


def validate_customer_update(data: Mapping[str, Any], default_region: str | None) -> dict[str, Any]:
    """The changed fields of a customer, validated; a given field must hold a value."""
    v = Validator()
    given = _changes(v, data, _CUSTOMER_UPDATE_FIELDS)
    checks: dict[str, Callable[[Any], Any]] = {
        "first_name": lambda x: v.text("firstName", x, max_length=CUSTOMER_TEXT_MAX, required=True),
        "last_name": lambda x: v.text("lastName", x, max_length=CUSTOMER_TEXT_MAX, required=True),
        "email": lambda x: v.email("email", x, required=True),
        "phone": lambda x: v.phone("phone", x, default_region=default_region, required=True),
        "company": lambda x: v.text("company", x, max_length=CUSTOMER_TEXT_MAX, required=True),
        "lifecycle_stage": lambda x: v.text("lifecycleStage", x, max_length=64, required=True),
    }
    out = {k: checks[k](value) for k, value in given.items()}
    v.check()
    return out


_NEW_TICKET_FIELDS = (
    "subject",
    "description",
    "requester_email",
    "requester_name",
    "priority",
    "brand",
)


def validate_new_ticket(data: Mapping[str, Any]) -> dict[str, Any]:
    """A new ticket: a subject, a description and the requester's email are required."""
    v = Validator()
    _unknown(v, data, _NEW_TICKET_FIELDS)
    out: dict[str, Any] = {
        "subject": v.text("subject", data.get("subject"), max_length=SUBJECT_MAX, required=True),
        "description": v.text(
            "description",
            data.get("description"),
            max_length=COMMENT_MAX,
            required=True,
            multiline=True,
        ),
        "requester_email": v.email("requesterEmail", data.get("requester_email"), required=True),
        "requester_name": v.text("requesterName", data.get("requester_name"), max_length=255),
        "priority": v.choice(
            "priority", data.get("priority"), allowed=[p.name for p in TicketPriority]
        ),
        "brand": v.text("brand", data.get("brand"), max_length=BRAND_MAX),
    }
    v.check()
    return {k: value for k, value in out.items() if value is not None}


AWARD_MAX = 1_000_000_000
REASON_MAX = 200


def validate_award(data: Mapping[str, Any]) -> dict[str, Any]:
    """Points to award (or take back): a non-zero whole ``delta`` and a ``reason``."""
    v = Validator()
    _unknown(v, data, ("delta", "reason"))
    delta = data.get("delta")
    if isinstance(delta, bool) or not isinstance(delta, int):
        v.add(
            "delta",
            REQUIRED if delta is None else INVALID_VALUE,
            "delta is required and must be a whole number",
        )
    elif delta == 0 or abs(delta) > AWARD_MAX:
        v.add(
            "delta", INVALID_VALUE, f"delta must be non-zero and at most {AWARD_MAX:,} either way"
        )
    reason = v.text("reason", data.get("reason"), max_length=REASON_MAX, required=True)
    v.check()
    return {"delta": delta, "reason": reason}


#: The longest text a custom field takes (CRMs' own limits are often lower: they refuse).
CUSTOM_TEXT_MAX = 2000


def validate_custom(
    given: Mapping[str, Any], fields: Mapping[str, CustomFieldSpec]
) -> dict[str, Any]:
    """The custom fields of a write (the config's, by name; coerced to their types by the
    schema), as the CRM takes them: its path → its value. Each must be declared writable."""
    errors: list[FieldError] = []
    out: dict[str, Any] = {}
    for name, value in given.items():
        path = ("input", "custom", name[:64])
        spec = fields.get(name)
        if spec is None or not spec.writable:
            errors.append(FieldError(path, UNKNOWN_FIELD, "this field is not writable"))
            continue
        if value is None:
            continue
        if isinstance(value, str):
            problem = text_problem(value)
            if problem is None and len(value) > CUSTOM_TEXT_MAX:
                problem = f"must be at most {CUSTOM_TEXT_MAX} characters"
            if problem is not None:
                errors.append(FieldError(path, INVALID_VALUE, f"{name} {problem}"))
                continue
        if isinstance(value, float) and not math.isfinite(value):
            errors.append(FieldError(path, INVALID_VALUE, f"{name} must be a finite number"))
            continue
        out[spec.path] = spec.type.write(value)
    if errors:
        raise Invalid(errors)
    return out

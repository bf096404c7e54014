"""The account's custom ticket fields: ``POST /api/v2/ticket_fields`` makes one, and tickets
then carry its value in ``custom_fields`` (``[{"id", "value"}]``, null while unset).

Values are checked as Zendesk checks them: ``integer`` and ``decimal`` take a number (or its
text), ``checkbox`` a boolean, ``date`` a ``YYYY-MM-DD`` day, ``tagger`` one of its options'
``value`` tags; text fields take any scalar. They are stored as the API returns them: text for
every type but ``checkbox`` (``true``/``false``). As in Zendesk, a tagger's value is also a tag
of the ticket (and a checked checkbox adds its ``tag``). A data reset forgets the fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

#: The custom field types this account can make.
FIELD_TYPES = frozenset({"text", "textarea", "integer", "decimal", "checkbox", "date", "tagger"})
#: Where the account's custom field ids (and their options') start.
FIELD_ID_BASE = 360_010_000_001
OPTION_ID_BASE = 360_020_000_001
_INTEGER = re.compile(r"^[+-]?\d{1,18}$")
_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_TAG = re.compile(r"^[^\s,]+$")


class FieldInvalid(Exception):
    """A field definition Zendesk refuses: ``details`` in its RecordInvalid shape."""

    def __init__(self, details: dict[str, list[dict[str, Any]]]) -> None:
        super().__init__("Record validation errors")
        self.details = details


@dataclass(frozen=True, slots=True)
class FieldOption:
    id: int
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class TicketField:
    id: int
    type: str
    title: str
    description: str
    options: tuple[FieldOption, ...]
    tag: str | None
    created_at: datetime

    def wire(self, base: str, position: int, stamp: str) -> dict[str, Any]:
        """The field as ``GET /api/v2/ticket_fields`` lists it."""
        body: dict[str, Any] = {
            "url": f"{base}api/v2/ticket_fields/{self.id}.json",
            "id": self.id,
            "type": self.type,
            "title": self.title,
            "raw_title": self.title,
            "description": self.description,
            "raw_description": self.description,
            "position": position,
            "active": True,
            "required": False,
            "collapsed_for_agents": False,
            "regexp_for_validation": None,
            "title_in_portal": self.title,
            "raw_title_in_portal": self.title,
            "visible_in_portal": False,
            "editable_in_portal": False,
            "required_in_portal": False,
            "agent_can_edit": True,
            "tag": self.tag,
            "created_at": stamp,
            "updated_at": stamp,
            "removable": True,
        }
        if self.type == "tagger":
            body["custom_field_options"] = [
                {
                    "id": o.id,
                    "name": o.name,
                    "raw_name": o.name,
                    "value": o.value,
                    "position": index,
                    "url": f"{base}api/v2/ticket_fields/{self.id}/options/{o.id}.json",
                    "default": False,
                }
                for index, o in enumerate(self.options)
            ]
        return body

    def read(self, value: Any) -> tuple[Any, str | None]:
        """The stored form of a written ``value`` (None clears it), or why it is refused."""
        if value is None or (value == "" and self.type != "checkbox"):
            return None, None
        if isinstance(value, dict | list):
            return None, "is invalid"
        if self.type == "checkbox":
            if isinstance(value, bool):
                return value, None
            text = str(value).strip().lower()
            if text in ("true", "1", "yes"):
                return True, None
            if text in ("false", "0", "no", ""):
                return False, None
            return None, "is invalid"
        if isinstance(value, bool):
            return None, "is invalid"
        text = str(value).strip()
        if self.type == "integer":
            if isinstance(value, float) and value.is_integer():
                text = str(int(value))
            return (text, None) if _INTEGER.match(text) else (None, "is not a number")
        if self.type == "decimal":
            return (text, None) if _DECIMAL.match(text) else (None, "is not a number")
        if self.type == "date":
            try:
                return date.fromisoformat(text[:10]).isoformat(), None
            except ValueError:
                return None, "is not a valid date"
        if self.type == "tagger":
            if text not in {o.value for o in self.options}:
                return None, f"{text} is not a valid option"
            return text, None
        return str(value), None

    @property
    def tags(self) -> set[str]:
        """Every tag this field can put on a ticket."""
        return {o.value for o in self.options} | ({self.tag} if self.tag else set())

    def tag_for(self, stored: Any) -> str | None:
        """The tag this value puts on its ticket: a tagger's option value, a checkbox's tag."""
        if self.type == "tagger" and isinstance(stored, str):
            return stored
        return self.tag if self.type == "checkbox" and stored is True else None

    def matches(self, stored: Any, wanted: str) -> bool:
        """Whether a ticket's stored value is what a ``custom_field_<id>:`` search names."""
        if wanted.lower() == "none":
            return stored is None
        if stored is None:
            return False
        if isinstance(stored, bool):
            return str(stored).lower() == wanted.lower()
        return str(stored).lower() == wanted.lower()


def _problem(details: dict[str, list[dict[str, Any]]], key: str, message: str, error: str) -> None:
    label = key.replace("_", " ").capitalize()
    details.setdefault(key, []).append({"description": f"{label}: {message}", "error": error})


def parse_field(
    raw: Any, field_id: int, option_ids: list[int], now: datetime, used_tags: set[str]
) -> TicketField:
    """The field a ``{"ticket_field": {...}}`` body makes (``text`` when it names no type).

    ``option_ids`` hands out option ids; ``used_tags`` are the tags other fields already use
    (a tag belongs to one field only)."""
    details: dict[str, list[dict[str, Any]]] = {}
    body = raw if isinstance(raw, dict) else {}
    kind, title = body.get("type", "text"), body.get("title")
    if not isinstance(title, str) or not title.strip():
        _problem(details, "title", "cannot be blank", "BlankValue")
    if kind not in FIELD_TYPES:
        _problem(details, "type", "is invalid", "InvalidValue")
    options: list[FieldOption] = []
    raw_options = body.get("custom_field_options") or []
    if kind == "tagger":
        if not isinstance(raw_options, list) or not raw_options:
            _problem(details, "custom_field_options", "must have at least one option", "BlankValue")
        else:
            seen: set[str] = set()
            for item in raw_options:
                name = item.get("name") if isinstance(item, dict) else None
                value = item.get("value") if isinstance(item, dict) else None
                if not isinstance(name, str) or not name or not isinstance(value, str):
                    _problem(details, "custom_field_options", "is invalid", "InvalidValue")
                    break
                if not _TAG.match(value) or value in seen or value in used_tags:
                    message = f"{value} is not a valid tag or is used by another option"
                    _problem(details, "custom_field_options", message, "InvalidValue")
                    break
                seen.add(value)
                options.append(FieldOption(option_ids[0], name, value))
                option_ids[0] += 1
    tag = body.get("tag") if kind == "checkbox" and isinstance(body.get("tag"), str) else None
    if tag and (not _TAG.match(tag) or tag in used_tags):
        _problem(details, "tag", f"{tag} is not a valid tag or is used by another field", "Invalid")
    if details:
        raise FieldInvalid(details)
    assert isinstance(kind, str)
    assert isinstance(title, str)
    description = body.get("description")
    return TicketField(
        id=field_id,
        type=kind,
        title=title.strip(),
        description=description if isinstance(description, str) else "",
        options=tuple(options),
        tag=tag or None,
        created_at=now,
    )

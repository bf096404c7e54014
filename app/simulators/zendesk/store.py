"""Zendesk Support's records, derived from the seeded world.

Every world customer is an end-user (``external_id`` = their HubSpot contact id) and every world
ticket a Zendesk ticket (ids from 1). A handful of agents, one of them the API user whose
credentials the simulator accepts, are assigned the tickets past ``new``. Whatever the world
does not say (ticket type, channel, assignee) is drawn from ``random.Random(world.seed + 17)``.

Records keep their own JSON: a ticket serialises once per change, so a ``show_many`` of 100
tickets joins cached bytes instead of re-encoding dicts.
"""

from __future__ import annotations

import bisect
import hashlib
import html
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from app.simulators.credentials import ZENDESK_EMAIL
from app.simulators.responses import dumps
from app.simulators.world import WORLD_START, Brand, Person, TicketSeed, World
from app.simulators.zendesk.fields import (
    FIELD_ID_BASE,
    OPTION_ID_BASE,
    FieldInvalid,
    TicketField,
    parse_field,
)

STATUSES: tuple[str, ...] = ("new", "open", "pending", "hold", "solved", "closed")
STATUS_RANK: dict[str, int] = {s: i for i, s in enumerate(STATUSES)}
PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
PRIORITY_RANK: dict[str, int] = {p: i for i, p in enumerate(PRIORITIES)}
TICKET_TYPES: tuple[str, ...] = ("problem", "incident", "question", "task")

AGENT_ID_BASE = 361_000_000_000
END_USER_ID_BASE = 362_000_000_000
SUPPORT_GROUP_ID = 360_000_100_001
#: The account's standard custom statuses, one per status category.
CUSTOM_STATUS_IDS: dict[str, int] = {s: 360_000_200_001 + i for i, s in enumerate(STATUSES)}

#: name, email, role, brand key (None: works every brand). The first is the API user.
AGENTS: tuple[tuple[str, str, str, str | None], ...] = (
    ("CRMGraph Integration", ZENDESK_EMAIL, "admin", None),
    ("Beatriz Lima", "beatriz.lima@support.crmgraph.test", "agent", "luckyspin"),
    ("Daniel Borg", "daniel.borg@support.crmgraph.test", "agent", "goldcoast"),
    ("Olivia Hart", "olivia.hart@support.crmgraph.test", "agent", "northstar"),
    ("Samir Haddad", "samir.haddad@support.crmgraph.test", "agent", None),
)
#: The ticket attributes whose changes an audit records as Change events.
AUDITED = frozenset(
    {"status", "priority", "type", "subject", "assignee_id", "group_id", "requester_id"}
    | {"brand_id", "tags", "external_id", "due_at"}
)
_SEEDED_TYPES: tuple[str | None, ...] = ("question", "incident", "problem", "task", None)
_SEEDED_TYPE_WEIGHTS: tuple[int, ...] = (50, 20, 10, 10, 10)


def iso(moment: datetime) -> str:
    """Zendesk's timestamp form: ``2026-01-01T10:00:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dumps(data: Any) -> bytes:
    return dumps(data)


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class RecordNotFound(Exception):
    """No record has that id."""


class UpdateConflict(Exception):
    """``safe_update`` was asked for and the ticket changed since ``updated_stamp``."""


class RecordInvalid(Exception):
    """The input failed validation; ``details`` is Zendesk's per-field explanation."""

    def __init__(self, details: dict[str, list[dict[str, Any]]]) -> None:
        super().__init__("Record validation errors")
        self.details = details

    def summary(self) -> str:
        return "; ".join(d["description"] for ds in self.details.values() for d in ds)


class Problems:
    """Collects validation problems in Zendesk's ``details`` shape."""

    def __init__(self) -> None:
        self.details: dict[str, list[dict[str, Any]]] = {}

    def add(self, key: str, message: str, error: str = "InvalidValue") -> None:
        label = key.replace("_", " ").capitalize()
        self.details.setdefault(key, []).append(
            {"description": f"{label}: {message}", "error": error}
        )

    def add_field(self, ticket_field: TicketField, message: str) -> None:
        """A custom field's value was refused: Zendesk files it under ``base``."""
        self.details.setdefault("base", []).append(
            {
                "description": f"{ticket_field.title}: {message}",
                "error": "InvalidValue",
                "field_key": ticket_field.id,
            }
        )

    def raise_any(self) -> None:
        if self.details:
            raise RecordInvalid(self.details)


# -- records ---------------------------------------------------------------------------------


@dataclass(slots=True)
class User:
    id: int
    name: str
    email: str | None
    role: str
    created_at: datetime
    updated_at: datetime
    phone: str | None = None
    external_id: str | None = None
    iana_time_zone: str = "Etc/UTC"
    default_group_id: int | None = None
    _json: tuple[str, bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def is_agent(self) -> bool:
        return self.role in ("agent", "admin")

    def wire(self, base: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "url": f"{base}api/v2/users/{self.id}.json",
            "name": self.name,
            "email": self.email,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "time_zone": self.iana_time_zone,
            "iana_time_zone": self.iana_time_zone,
            "phone": self.phone,
            "shared_phone_number": None if self.phone is None else False,
            "photo": None,
            "locale_id": 1,
            "locale": "en-US",
            "organization_id": None,
            "role": self.role,
            "verified": True,
            "external_id": self.external_id,
            "tags": [],
            "alias": "",
            "active": True,
            "shared": False,
            "shared_agent": False,
            "signature": "",
            "details": "",
            "notes": "",
            "role_type": None,
            "custom_role_id": None,
            "moderator": self.is_agent,
            "ticket_restriction": None if self.is_agent else "requested",
            "only_private_comments": False,
            "restricted_agent": not self.is_agent,
            "suspended": False,
            "chat_only": False,
            "report_csv": self.role == "admin",
            "user_fields": {},
        }
        if self.default_group_id is not None:
            data["default_group_id"] = self.default_group_id
        return data

    def json(self, base: str) -> bytes:
        if self._json is None or self._json[0] != base:
            self._json = (base, _dumps(self.wire(base)))
        return self._json[1]


@dataclass(slots=True)
class Comment:
    id: int
    author_id: int
    body: str
    public: bool
    created_at: datetime


@dataclass(slots=True)
class Ticket:
    id: int
    subject: str
    description: str
    status: str
    priority: str | None
    type: str | None
    requester_id: int
    submitter_id: int
    assignee_id: int | None
    group_id: int | None
    brand_id: int
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    channel: str
    external_id: str | None = None
    due_at: datetime | None = None
    custom_fields: list[dict[str, Any]] = field(default_factory=list)
    collaborator_ids: list[int] = field(default_factory=list)
    follower_ids: list[int] = field(default_factory=list)
    email_cc_ids: list[int] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    _json: tuple[str, bytes] | None = field(default=None, repr=False, compare=False)

    def wire(self, base: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "url": f"{base}api/v2/tickets/{self.id}.json",
            "id": self.id,
            "via": {"channel": self.channel, "source": {"from": {}, "to": {}, "rel": None}},
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "generated_timestamp": int(self.updated_at.timestamp()),
            "subject": self.subject,
            "raw_subject": self.subject,
            "description": self.description,
            "status": self.status,
            "custom_status_id": CUSTOM_STATUS_IDS[self.status],
            "requester_id": self.requester_id,
            "submitter_id": self.submitter_id,
            "collaborator_ids": list(self.collaborator_ids),
            "follower_ids": list(self.follower_ids),
            "email_cc_ids": list(self.email_cc_ids),
            "has_incidents": False,
            "is_public": True,
            "due_at": None if self.due_at is None else iso(self.due_at),
            "tags": list(self.tags),
            "custom_fields": list(self.custom_fields),
            "fields": list(self.custom_fields),
            "satisfaction_rating": {"score": "unoffered"},
            "sharing_agreement_ids": [],
            "followup_ids": [],
            "brand_id": self.brand_id,
            "allow_channelback": False,
            "allow_attachments": True,
            "from_messaging_channel": False,
        }
        # The live API sends these as null when empty, but Zendesk's OpenAPI file declares them
        # non-nullable; an empty one is left out rather than sent as null.
        optional = (
            ("external_id", self.external_id),
            ("type", self.type),
            ("priority", self.priority),
            ("assignee_id", self.assignee_id),
            ("group_id", self.group_id),
        )
        data.update((key, value) for key, value in optional if value is not None)
        return data

    def json(self, base: str) -> bytes:
        if self._json is None or self._json[0] != base:
            self._json = (base, _dumps(self.wire(base)))
        return self._json[1]

    def changed(self) -> None:
        self._json = None


@dataclass(slots=True)
class JobStatus:
    """A background job. It is done when queued; the first look at it reports completion."""

    id: str
    job_type: str
    total: int
    results: list[dict[str, Any]]
    finished_at: datetime
    status: str = "queued"

    def wire(self, base: str) -> dict[str, Any]:
        done = self.status == "completed"
        return {
            "id": self.id,
            "job_type": self.job_type,
            "url": f"{base}api/v2/job_statuses/{self.id}.json",
            "total": self.total,
            "progress": self.total if done else None,
            "status": self.status,
            "message": f"Completed at {self.finished_at:%Y-%m-%d %H:%M:%S} +0000" if done else None,
            "results": self.results if done else None,
        }


# -- input parsing -----------------------------------------------------------------------------


@dataclass(slots=True)
class TicketInput:
    """A validated ticket payload: what to set, what to add."""

    values: dict[str, Any] = field(default_factory=dict)
    tags: list[str] | None = None
    additional_tags: list[str] = field(default_factory=list)
    remove_tags: list[str] = field(default_factory=list)
    comment: tuple[str, bool, int | None] | None = None
    new_requester: tuple[str, str] | None = None  # name, email: found or created on apply
    safe_update: bool = False
    custom_values: dict[int, Any] | None = None  # custom field id → stored value
    updated_stamp: datetime | None = None


def normalise_tags(raw: Iterable[str]) -> list[str]:
    """Zendesk's tags are lower case, one word each, without duplicates."""
    seen: dict[str, None] = {}
    for value in raw:
        for word in value.lower().split():
            seen.setdefault(word, None)
    return list(seen)


def parse_instant(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _as_tags(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return normalise_tags([value])
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return normalise_tags(value)
    return None


class _TicketParser:
    """Reads a ``ticket`` object against the store, collecting every problem at once."""

    ENUMS: ClassVar[dict[str, tuple[str, ...]]] = {
        "status": STATUSES,
        "priority": PRIORITIES,
        "type": TICKET_TYPES,
    }

    def __init__(self, store: ZendeskStore, raw: dict[str, Any]) -> None:
        self.store, self.raw = store, raw
        self.problems = Problems()
        self.parsed = TicketInput()

    def parse(self, creating: bool) -> TicketInput:
        self._strings()
        self._enums()
        self._users()
        self._references(creating)
        self._tags()
        self._comment(creating)
        self._extras()
        self.problems.raise_any()
        return self.parsed

    def _strings(self) -> None:
        for key in ("subject", "external_id"):
            if key in self.raw:
                value = self.raw[key]
                if value is not None and not isinstance(value, str):
                    self.problems.add(key, "is not a string")
                else:
                    self.parsed.values[key] = value
        if "subject" in self.parsed.values and self.parsed.values["subject"] is None:
            self.parsed.values["subject"] = ""

    def _enums(self) -> None:
        for key, allowed in self.ENUMS.items():
            if key not in self.raw:
                continue
            value = self.raw[key]
            if value is None and key != "status":
                self.parsed.values[key] = None
            elif isinstance(value, str) and value.lower() in allowed:
                self.parsed.values[key] = value.lower()
            else:
                self.problems.add(key, f"{value!r} is not a valid value")

    def _users(self) -> None:
        store, raw = self.store, self.raw
        for key in ("requester_id", "submitter_id"):
            if key in raw:
                user_id = _as_int(raw[key])
                if user_id is None or user_id not in store.users:
                    self.problems.add(key.removesuffix("_id"), "is invalid")
                else:
                    self.parsed.values[key] = user_id
        if "requester" in raw and "requester_id" not in raw:
            self._requester(raw["requester"])
        if "assignee_email" in raw and "assignee_id" not in raw:
            email = raw["assignee_email"]
            agent = store.user_by_email(email) if isinstance(email, str) else None
            if agent is None or not agent.is_agent:
                self.problems.add("assignee", "is not an agent")
            else:
                self.parsed.values["assignee_id"] = agent.id
        if "assignee_id" in raw:
            value = raw["assignee_id"]
            assignee = store.users.get(_as_int(value) or -1)
            if value is None:
                self.parsed.values["assignee_id"] = None
            elif assignee is None or not assignee.is_agent:
                self.problems.add("assignee", "is not an agent")
            else:
                self.parsed.values["assignee_id"] = assignee.id

    def _requester(self, value: Any) -> None:
        if not isinstance(value, dict):
            self.problems.add("requester", "is invalid")
            return
        email, name = value.get("email"), value.get("name")
        if not isinstance(email, str) or "@" not in email.strip():
            self.problems.add("requester", "Email is invalid")
            return
        if name is not None and not isinstance(name, str):
            self.problems.add("requester", "Name is invalid")
            return
        email = email.strip().lower()
        self.parsed.new_requester = (name.strip() if name and name.strip() else email, email)

    def _references(self, creating: bool) -> None:
        raw = self.raw
        if "group_id" in raw:
            value = raw["group_id"]
            if value is None or _as_int(value) == SUPPORT_GROUP_ID:
                self.parsed.values["group_id"] = None if value is None else SUPPORT_GROUP_ID
            else:
                self.problems.add("group", "is invalid")
        if "brand_id" in raw:
            brand_id = _as_int(raw["brand_id"])
            if brand_id is None or brand_id not in self.store.brand_ids:
                self.problems.add("brand", "is invalid")
            else:
                self.parsed.values["brand_id"] = brand_id
        if "due_at" in raw:
            value = raw["due_at"]
            due = parse_instant(value) if isinstance(value, str) else None
            if value is not None and due is None:
                self.problems.add("due_at", "is not a valid date")
            else:
                self.parsed.values["due_at"] = due
        if "safe_update" in raw and not creating:
            self.parsed.safe_update = raw["safe_update"] is True
            stamp = raw.get("updated_stamp")
            self.parsed.updated_stamp = parse_instant(stamp) if isinstance(stamp, str) else None

    def _tags(self) -> None:
        for key in ("tags", "additional_tags", "remove_tags"):
            if key not in self.raw:
                continue
            tags = _as_tags(self.raw[key])
            if tags is None:
                self.problems.add(key, "must be a list of strings")
            elif key == "tags":
                self.parsed.tags = tags
            else:
                setattr(self.parsed, key, tags)

    def _comment(self, creating: bool) -> None:
        value = self.raw.get("comment")
        if isinstance(value, str):
            value = {"body": value}
        if value is None:
            if creating:
                self.problems.add("description", "cannot be blank", "BlankValue")
            return
        if not isinstance(value, dict):
            self.problems.add("comment", "is invalid")
            return
        body = value.get("body", value.get("html_body"))
        if not isinstance(body, str) or not body.strip():
            if creating:
                self.problems.add("description", "cannot be blank", "BlankValue")
            else:
                self.problems.add("comment", "Body cannot be blank", "BlankValue")
            return
        author = value.get("author_id")
        author_id = _as_int(author) if author is not None else None
        if author is not None and (author_id is None or author_id not in self.store.users):
            self.problems.add("comment", "Author is invalid")
            return
        self.parsed.comment = (body, value.get("public", True) is not False, author_id)

    def _extras(self) -> None:
        raw = self.raw
        for key in ("collaborator_ids", "follower_ids", "email_cc_ids"):
            if key in raw:
                ids = raw[key]
                if not isinstance(ids, list) or any(
                    _as_int(i) not in self.store.users for i in ids
                ):
                    self.problems.add(key.removesuffix("_ids") + "s", "are invalid")
                else:
                    self.parsed.values[key] = [_as_int(i) for i in ids]
        if "custom_fields" in raw:
            self._custom_fields(raw["custom_fields"])

    def _custom_fields(self, entries: Any) -> None:
        """``[{"id", "value"}]``: each known field's value checked; unknown ids are ignored."""
        if not isinstance(entries, list) or not all(
            isinstance(f, dict) and _as_int(f.get("id")) is not None for f in entries
        ):
            self.problems.add("custom_fields", "is invalid")
            return
        written: dict[int, Any] = {}
        for entry in entries:
            ticket_field = self.store.ticket_fields.get(_as_int(entry["id"]) or 0)
            if ticket_field is None:
                continue
            value, problem = ticket_field.read(entry.get("value"))
            if problem is not None:
                self.problems.add_field(ticket_field, problem)
            else:
                written[ticket_field.id] = value
        self.parsed.custom_values = written


# -- the store ---------------------------------------------------------------------------------


class ZendeskStore:
    """Users, tickets and job statuses, indexed for O(1) reads by id, email and external id."""

    def __init__(self, world: World, clock: Callable[[], datetime] = _wall_clock) -> None:
        self.world = world
        self.clock = clock
        self.brand_ids = frozenset(b.zendesk_brand_id for b in world.brands)
        self.default_brand_id = world.brands[0].zendesk_brand_id
        self.reseed()

    # -- seeding --------------------------------------------------------------------------

    def reseed(self) -> None:
        """Restore the seeded records, forgetting every write."""
        self.users: dict[int, User] = {}
        self._by_email: dict[str, int] = {}
        self._by_external_id: dict[str, int] = {}
        self.tickets: dict[int, Ticket] = {}
        self.ticket_ids: list[int] = []  # ascending; ids only ever grow
        self._requested: dict[int, list[int]] = {}
        self.jobs: dict[str, JobStatus] = {}
        self.ticket_fields: dict[int, TicketField] = {}  # the custom ones, in creation order
        self._next_field_id = FIELD_ID_BASE
        self._option_ids = [OPTION_ID_BASE]
        self._counters = {"comment": 0, "audit": 0, "job": 0}
        rng = random.Random(self.world.seed + 17)
        self._seed_agents()
        for person in self.world.customers:
            self._add_user(self._end_user(person))
        self._next_user_id = max(self.users) + 1
        for seed in self.world.tickets:
            self._seed_ticket(seed.idx + 1, seed, rng)
        self._next_ticket_id = len(self.ticket_ids) + 1

    def _seed_agents(self) -> None:
        for i, (name, email, role, _brand) in enumerate(AGENTS):
            self._add_user(
                User(
                    id=AGENT_ID_BASE + i + 1,
                    name=name,
                    email=email,
                    role=role,
                    created_at=WORLD_START,
                    updated_at=WORLD_START,
                    default_group_id=SUPPORT_GROUP_ID,
                )
            )
        self.api_user = self.users[AGENT_ID_BASE + 1]

    @staticmethod
    def _end_user(person: Person) -> User:
        return User(
            id=END_USER_ID_BASE + person.idx + 1,
            name=person.name,
            email=person.email,
            role="end-user",
            created_at=person.created_at,
            updated_at=person.updated_at,
            phone=person.phone,
            external_id=person.hubspot_id,
            iana_time_zone=person.brand.tz,
        )

    def _agents_for(self, brand: Brand) -> list[int]:
        return [
            AGENT_ID_BASE + i + 1
            for i, (_n, _e, role, key) in enumerate(AGENTS)
            if role == "agent" and key in (brand.key, None)
        ]

    def _seed_ticket(self, ticket_id: int, seed: TicketSeed, rng: random.Random) -> None:
        person = seed.requester
        requester = END_USER_ID_BASE + person.idx + 1
        ticket_type = rng.choices(_SEEDED_TYPES, _SEEDED_TYPE_WEIGHTS)[0]
        channel = rng.choice(("email", "web"))
        assignee = None if seed.status == "new" else rng.choice(self._agents_for(person.brand))
        ticket = Ticket(
            id=ticket_id,
            subject=seed.subject,
            description=seed.description,
            status=seed.status,
            priority=seed.priority,
            type=ticket_type,
            requester_id=requester,
            submitter_id=requester,
            assignee_id=assignee,
            group_id=None if assignee is None else SUPPORT_GROUP_ID,
            brand_id=person.brand.zendesk_brand_id,
            tags=list(seed.tags),
            created_at=seed.created_at,
            updated_at=seed.updated_at,
            channel=channel,
        )
        ticket.comments.append(self._comment(requester, seed.description, True, seed.created_at))
        self._add_ticket(ticket)

    # -- indexes --------------------------------------------------------------------------

    def _add_user(self, user: User) -> None:
        self.users[user.id] = user
        if user.email:
            self._by_email[user.email.lower()] = user.id
        if user.external_id:
            self._by_external_id[user.external_id.lower()] = user.id

    def _add_ticket(self, ticket: Ticket) -> None:
        self.tickets[ticket.id] = ticket
        self.ticket_ids.append(ticket.id)
        self._requested.setdefault(ticket.requester_id, []).append(ticket.id)

    def _move_requester(self, ticket: Ticket, requester_id: int) -> None:
        self._requested[ticket.requester_id].remove(ticket.id)
        bisect.insort(self._requested.setdefault(requester_id, []), ticket.id)
        ticket.requester_id = requester_id

    def _next(self, name: str) -> int:
        self._counters[name] += 1
        return self._counters[name]

    def _comment(self, author: int, body: str, public: bool, at: datetime) -> Comment:
        return Comment(self._next("comment"), author, body, public, at)

    def _stamp(self, previous: datetime | None = None) -> datetime:
        # The wall clock, but never at or before the record's last change: a write always
        # moves updated_at forward, even over seeded dates that lie in the future.
        now = self.clock().astimezone(UTC).replace(microsecond=0)
        if previous is not None and now <= previous:
            return previous + timedelta(seconds=1)
        return now

    # -- reads ----------------------------------------------------------------------------

    def ticket(self, ticket_id: int) -> Ticket:
        try:
            return self.tickets[ticket_id]
        except KeyError:
            raise RecordNotFound(ticket_id) from None

    def user(self, user_id: int) -> User:
        try:
            return self.users[user_id]
        except KeyError:
            raise RecordNotFound(user_id) from None

    def user_by_email(self, email: str) -> User | None:
        user_id = self._by_email.get(email.strip().lower())
        return None if user_id is None else self.users[user_id]

    def user_by_external_id(self, external_id: str) -> User | None:
        # "The API treats the id as case insensitive."
        user_id = self._by_external_id.get(external_id.strip().lower())
        return None if user_id is None else self.users[user_id]

    def requested_ids(self, user_id: int) -> list[int]:
        """Ids of the tickets ``user_id`` requested, ascending."""
        return self._requested.get(user_id, [])

    def job(self, job_id: str) -> JobStatus:
        try:
            job = self.jobs[job_id]
        except KeyError:
            raise RecordNotFound(job_id) from None
        job.status = "completed"
        return job

    def iter_tickets(self) -> Iterator[Ticket]:
        return iter(self.tickets.values())

    # -- writes ---------------------------------------------------------------------------

    def find_or_create_end_user(self, name: str, email: str) -> User:
        existing = self.user_by_email(email)
        if existing is not None:
            return existing
        now = self._stamp()
        user = User(self._next_user_id, name, email, "end-user", now, now)
        self._next_user_id += 1
        self._add_user(user)
        return user

    def create_ticket(self, raw: Any, actor: User) -> Ticket:
        parsed = _TicketParser(self, raw if isinstance(raw, dict) else {}).parse(creating=True)
        values = parsed.values
        if parsed.new_requester is not None:
            values["requester_id"] = self.find_or_create_end_user(*parsed.new_requester).id
        requester_id = values.get("requester_id", actor.id)
        assignee_id = values.get("assignee_id")
        status = values.get("status") or ("open" if assignee_id is not None else "new")
        if status in ("solved", "closed") and assignee_id is None and actor.is_agent:
            assignee_id = actor.id
        assert parsed.comment is not None  # the parser insists on one when creating
        body, public, author = parsed.comment
        now = self._stamp()
        ticket = Ticket(
            id=self._next_ticket_id,
            subject=values.get("subject") or "",
            description=body,
            status=status,
            priority=values.get("priority"),
            type=values.get("type"),
            requester_id=requester_id,
            submitter_id=values.get("submitter_id", requester_id),
            assignee_id=assignee_id,
            group_id=values.get("group_id", SUPPORT_GROUP_ID if assignee_id else None),
            brand_id=values.get("brand_id", self.default_brand_id),
            tags=self._field_tags(parsed.tags or [], [], parsed.custom_values or {}),
            created_at=now,
            updated_at=now,
            channel="api",
            external_id=values.get("external_id"),
            due_at=values.get("due_at"),
            custom_fields=self._custom_entries([], parsed.custom_values or {}),
            collaborator_ids=values.get("collaborator_ids", []),
            follower_ids=values.get("follower_ids", []),
            email_cc_ids=values.get("email_cc_ids", []),
        )
        ticket.comments.append(self._comment(author or ticket.submitter_id, body, public, now))
        self._next_ticket_id += 1
        self._add_ticket(ticket)
        return ticket

    def update_ticket(self, ticket_id: int, raw: Any, actor: User) -> tuple[Ticket, dict[str, Any]]:
        """Apply an update; answer the ticket and the audit it produced (events unrendered)."""
        ticket = self.ticket(ticket_id)
        if ticket.status == "closed":
            problems = Problems()
            problems.add("status", "closed prevents ticket update")
            problems.raise_any()
        parsed = _TicketParser(self, raw if isinstance(raw, dict) else {}).parse(creating=False)
        if parsed.safe_update and parsed.updated_stamp != ticket.updated_at:
            raise UpdateConflict(ticket_id)
        values = parsed.values
        if parsed.new_requester is not None:
            values["requester_id"] = self.find_or_create_end_user(*parsed.new_requester).id
        if values.get("status") in ("solved", "closed") and ticket.assignee_id is None:
            values.setdefault("assignee_id", actor.id if actor.is_agent else None)
        tags = self._updated_tags(ticket, parsed)
        if parsed.custom_values:
            entries = self._custom_entries(ticket.custom_fields, parsed.custom_values)
            values["custom_fields"] = entries
            tags = self._field_tags(tags, ticket.custom_fields, parsed.custom_values)
        if tags != ticket.tags:
            values["tags"] = tags
        changes = self._apply(ticket, values)
        now = self._stamp(ticket.updated_at)
        events: list[dict[str, Any]] = []
        if parsed.comment is not None:
            body, public, author = parsed.comment
            comment = self._comment(author or actor.id, body, public, now)
            ticket.comments.append(comment)
            events.append(
                {
                    "id": comment.id,
                    "type": "Comment",
                    "author_id": comment.author_id,
                    "body": body,
                    "html_body": f"<p>{html.escape(body)}</p>",
                    "plain_body": body,
                    "public": public,
                    "attachments": [],
                }
            )
        events += [self._change_event(name, *change) for name, change in changes.items()]
        events = [e for e in events if e]
        if events or changes:
            ticket.updated_at = now
            ticket.changed()
        audit = {
            "id": self._next("audit"),
            "ticket_id": ticket.id,
            "created_at": iso(ticket.updated_at),
            "author_id": actor.id,
            "metadata": {"system": {}, "custom": {}},
            "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
            "events": events,
        }
        return ticket, audit

    def add_ticket_field(self, raw: Any) -> TicketField:
        """Make a custom ticket field; every ticket then carries it (unset)."""
        try:
            used = {tag for known in self.ticket_fields.values() for tag in known.tags}
            made = parse_field(raw, self._next_field_id, self._option_ids, self._stamp(), used)
        except FieldInvalid as exc:
            raise RecordInvalid(exc.details) from None
        self._next_field_id += 1
        self.ticket_fields[made.id] = made
        for ticket in self.tickets.values():
            ticket.custom_fields = [*ticket.custom_fields, {"id": made.id, "value": None}]
            ticket.changed()
        return made

    def _custom_entries(
        self, current: list[dict[str, Any]], written: dict[int, Any]
    ) -> list[dict[str, Any]]:
        """One entry per custom field, in field order: the written value, else the current."""
        held = {entry["id"]: entry["value"] for entry in current}
        return [
            {"id": field_id, "value": written.get(field_id, held.get(field_id))}
            for field_id in self.ticket_fields
        ]

    def _field_tags(
        self, tags: list[str], current: list[dict[str, Any]], written: dict[int, Any]
    ) -> list[str]:
        """``tags`` with the tags of the written custom values in place of the old ones."""
        held = {entry["id"]: entry["value"] for entry in current}
        tags = list(tags)
        for field_id, value in written.items():
            ticket_field = self.ticket_fields[field_id]
            old, new = ticket_field.tag_for(held.get(field_id)), ticket_field.tag_for(value)
            if old is not None and old != new and old in tags:
                tags.remove(old)
            if new is not None and new not in tags:
                tags.append(new)
        return tags

    def _change_event(self, name: str, previous: Any, value: Any) -> dict[str, Any]:
        # Zendesk's AuditObject types a change's value as a string or an integer: lists and
        # instants are written as strings, and a cleared value (null) records no event.
        def scalar(v: Any) -> Any:
            if isinstance(v, list):
                return " ".join(str(x) for x in v)
            return iso(v) if isinstance(v, datetime) else v

        if name not in AUDITED or value is None:
            return {}
        return {
            "id": self._next("comment"),
            "type": "Change",
            "field_name": name,
            "value": scalar(value),
            "previous_value": scalar(previous),
        }

    @staticmethod
    def _updated_tags(ticket: Ticket, parsed: TicketInput) -> list[str]:
        tags = list(ticket.tags) if parsed.tags is None else parsed.tags
        tags += [t for t in parsed.additional_tags if t not in tags]
        return [t for t in tags if t not in parsed.remove_tags]

    def _apply(self, ticket: Ticket, values: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        changes: dict[str, tuple[Any, Any]] = {}
        for name, value in values.items():
            previous = getattr(ticket, name)
            if previous == value:
                continue
            changes[name] = (previous, value)
            if name == "requester_id":
                self._move_requester(ticket, value)
            else:
                setattr(ticket, name, value)
        assigned = "assignee_id" in changes and ticket.assignee_id is not None
        if assigned and ticket.status == "new" and "status" not in values:
            # Assigning a new ticket opens it, as in the agent interface.
            changes["status"] = (ticket.status, "open")
            ticket.status = "open"
        if ticket.assignee_id is not None and ticket.group_id is None:
            ticket.group_id = SUPPORT_GROUP_ID
        return changes

    def create_many(self, items: list[Any], actor: User) -> JobStatus:
        results: list[dict[str, Any]] = []
        for index, raw in enumerate(items):
            try:
                ticket = self.create_ticket(raw, actor)
            except RecordInvalid as exc:
                results.append(
                    {
                        "index": index,
                        "action": "create",
                        "success": False,
                        "error": "RecordInvalid",
                        "details": exc.summary(),
                    }
                )
            else:
                results.append({"id": ticket.id, "index": index})
        number = self._next("job")
        job_id = hashlib.blake2b(f"{self.world.seed}:{number}".encode(), digest_size=16).hexdigest()
        job = JobStatus(job_id, "bulk_create", len(items), results, self._stamp())
        self.jobs[job_id] = job
        return job

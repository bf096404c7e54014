"""Roles: which fields of which types a caller may read, and which mutations it may call.

The shipped defaults are merged under the roles a config declares. The check is made once per
request, against the fields the operation selects, giving the set of (type, field) pairs the
caller may not read; the executor answers each of those ``null`` + ``FORBIDDEN`` at its path
(``schema.execution``), so no resolver carries its own check.

Filtering by a field is reading it: a list that answers ``customers(filter: {email: …})`` tells
who owns the address. :data:`FILTER_REVEALS` says which field each filter reveals, and a role
may filter only by what it may read (the executor refuses the rest, before any upstream call).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from app.config import Role
from app.domain.custom import CustomFieldSpec
from app.domain.entities import BY_TYPE, ENTITIES
from app.domain.fields import Tag

#: The types whose fields roles govern; every other type (connections, Money…) is structure.
GOVERNED = (*BY_TYPE, "Query")


def _not(tag: Tag) -> list[str]:
    """Patterns removing every field tagged ``tag``, of any entity (a name absent from a type
    removes nothing there)."""
    return sorted({f"!{name}" for e in ENTITIES.values() for name in e.tagged(tag)})


PERSONAL = _not("personal")
MONEY = _not("money")
LEAD_WRITES = ["createLead", "updateLead", "convertLead", "importLeads"]
TICKET_WRITES = ["createTicket", "updateTicket"]

DEFAULT_ROLES: dict[str, Role] = {
    "admin": Role(
        read={t: ["*"] for t in GOVERNED},
        mutations=["*"],
        introspection=True,
    ),
    "analyst": Role(
        read={
            "Customer": ["*", *PERSONAL],
            "Lead": ["*", *PERSONAL],
            "Ticket": ["*"],
            "PlayerStats": ["*"],
            "Query": ["*"],
        },
        introspection=True,
    ),
    "marketing": Role(
        read={
            "Customer": ["*", "!tickets"],
            "Lead": ["*"],
            "PlayerStats": ["*", *MONEY],
            "Query": ["*", "!tickets", "!ticket", "!sources", "!cache"],
        },
        mutations=LEAD_WRITES,
        introspection=True,
    ),
    "support": Role(
        read={
            "Customer": ["id", "brand", "name", "firstName", "lastName", "email", "tickets"],
            "Ticket": ["*"],
            "Query": ["customer", "customers", "ticket", "tickets", "node"],
        },
        mutations=TICKET_WRITES,
        introspection=True,
    ),
    # Service accounts name exactly what they read; the default reads nothing.
    "service": Role(read={}, introspection=False),
}

#: Fields every readable type keeps: an object must say what it is.
ALWAYS = {"id", "__typename"}

#: Query fields and the type they answer, so a role that cannot read a type cannot ask for it.
QUERY_TYPES = {
    "customer": "Customer",
    "customers": "Customer",
    "lead": "Lead",
    "leads": "Lead",
    "ticket": "Ticket",
    "tickets": "Ticket",
    "playerStats": "PlayerStats",
}


#: Each filter input's fields → the (type, field) a filter by it reveals: the fields the
#: registry declares filterable, and the requester's email. Every field of every filter input
#: is here (``tests/unit/test_filter_policy.py`` checks it against the schema).
FILTER_REVEALS: dict[str, dict[str, tuple[str, str]]] = {
    f"{e.type_name}Filter": {f: (e.type_name, f) for f in e.filterable()}
    for e in ENTITIES.values()
    if e.filterable()
}
# The requester is a customer: filtering tickets by their email reads Customer.email.
FILTER_REVEALS["TicketFilter"]["requesterEmail"] = ("Customer", "email")


def roles_in_force(configured: Mapping[str, Role]) -> dict[str, Role]:
    return {**DEFAULT_ROLES, **configured}


@dataclass(frozen=True, slots=True)
class Grant:
    """What one role may read of one type."""

    everything: bool
    fields: frozenset[str]
    removed: frozenset[str]

    def allows(self, field: str) -> bool:
        if field in self.removed:
            return False
        return self.everything or field in self.fields or field in ALWAYS

    @property
    def any(self) -> bool:
        return self.everything or bool(self.fields)


def grant(patterns: Iterable[str]) -> Grant:
    patterns = list(patterns)
    return Grant(
        everything="*" in patterns,
        fields=frozenset(p for p in patterns if p != "*" and not p.startswith("!")),
        removed=frozenset(p[1:] for p in patterns if p.startswith("!")),
    )


class Policy:
    """The roles in force, compiled for fast checks. ``custom`` (by entity key) are the
    config's custom fields: a filter by one reveals it, and one that names ``roles`` may be
    read only by those (and only where the role may read the field at all)."""

    def __init__(
        self,
        roles: Mapping[str, Role],
        custom: Mapping[str, Mapping[str, CustomFieldSpec]] | None = None,
    ) -> None:
        self.roles = dict(roles)
        #: Each filter input's fields → the (type, field) a filter by it reveals.
        self.reveals = {name: dict(fields) for name, fields in FILTER_REVEALS.items()}
        #: (type, field) → the only roles that may read it.
        self.only: dict[tuple[str, str], frozenset[str]] = {}
        for key, fields in (custom or {}).items():
            type_name = ENTITIES[key].type_name
            for name, spec in fields.items():
                if spec.filterable:
                    reveals = self.reveals.setdefault(f"{type_name}Filter", {})
                    reveals[f"custom.{name}"] = (type_name, name)
                if spec.roles is not None:
                    self.only[(type_name, name)] = frozenset(spec.roles)
        self._grants = {
            name: {t: grant(role.read.get(t, [])) for t in GOVERNED}
            for name, role in self.roles.items()
        }

    def knows(self, role: str) -> bool:
        return role in self.roles

    def may_read(self, roles: Iterable[str], type_name: str, field: str) -> bool:
        """Whether any of ``roles`` may read ``type_name.field``."""
        if type_name not in GOVERNED:
            return True
        only = self.only.get((type_name, field))
        for role in roles:
            grants = self._grants.get(role)
            if grants is None or (only is not None and role not in only):
                continue
            if type_name == "Query" and not self._query_field(grants, field):
                continue
            if grants[type_name].allows(field):
                return True
        return False

    def _query_field(self, grants: dict[str, Grant], field: str) -> bool:
        answered = QUERY_TYPES.get(field)
        if answered is not None:
            return grants[answered].any
        if field == "node":
            return any(grants[t].any for t in ("Customer", "Lead", "Ticket"))
        return True

    def unreadable_filter(
        self, roles: Iterable[str], input_type: str, field: str
    ) -> tuple[str, str] | None:
        """The (type, field) a filter by ``input_type.field`` reveals, when ``roles`` may not
        read it; None when they may filter by it."""
        revealed = self.reveals.get(input_type, {}).get(field)
        if revealed is None or self.may_read(roles, *revealed):
            return None
        return revealed

    def may_introspect(self, roles: Iterable[str]) -> bool:
        return any(self.roles[r].introspection for r in roles if r in self.roles)

    def may_call(self, roles: Iterable[str], mutation: str) -> bool:
        for role in roles:
            allowed = self.roles[role].mutations if role in self.roles else []
            if "*" in allowed or mutation in allowed:
                return True
        return False

    def denied(
        self, roles: tuple[str, ...], selected: Mapping[str, Iterable[str]]
    ) -> frozenset[tuple[str, str]]:
        """The (type, field) pairs among ``selected`` that ``roles`` may not read."""
        return _denied(
            self, roles, tuple((t, tuple(sorted(f))) for t, f in sorted(selected.items()))
        )

    def __hash__(self) -> int:
        return id(self)


# Bounded: the selections callers send are theirs to vary.
@lru_cache(maxsize=4096)
def _denied(
    policy: Policy, roles: tuple[str, ...], selected: tuple[tuple[str, tuple[str, ...]], ...]
) -> frozenset[tuple[str, str]]:
    introspect = policy.may_introspect(roles)

    def refused(type_name: str, field: str) -> bool:
        if field in ("__schema", "__type"):
            return not introspect
        if type_name == "Mutation":
            return not policy.may_call(roles, field)
        return not field.startswith("__") and not policy.may_read(roles, type_name, field)

    return frozenset(
        (type_name, field)
        for type_name, fields in selected
        for field in fields
        if refused(type_name, field)
    )

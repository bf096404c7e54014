"""The entity registry: every entity of the graph, its fields and what the gateway derives.

One declaration per field — on the domain model, with :func:`~app.domain.fields.attr` — and
the rest is read from here: the cache groups (:mod:`app.cache.groups`), the projection of a
query onto domain fields (:mod:`schema.projection`), the plain fields of each GraphQL type
(:mod:`schema.fields`), the default roles and the filters they govern
(:mod:`app.auth.policy`), and what a changed record makes wrong in the cache
(:mod:`app.live.forget`, the write service). Adding a field to an entity is adding it to
the model and to the connector's field map; nothing else.

``derived`` names the GraphQL fields that are not domain fields of the same name (relations,
figures computed from other fields) and the domain fields each one needs fetched.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from app.domain.custom import CustomFieldSpec
from app.domain.fields import MONEY, Attr, Tag
from app.domain.models import Customer, Lead, PlayerStats, Ticket

R = TypeVar("R", Customer, Lead, Ticket, PlayerStats)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One domain field of an entity: its name, its Python type and its declaration."""

    name: str
    type: Any
    attr: Attr

    @property
    def graphql_name(self) -> str:
        return camel(self.name)

    @property
    def hot(self) -> bool:
        return self.attr.group == "hot"


@dataclass(frozen=True, slots=True)
class Derived:
    """A GraphQL field computed from domain fields, or a relation reached through them."""

    needs: tuple[str, ...] = ()
    tags: frozenset[Tag] = frozenset()


@dataclass(frozen=True)
class EntitySpec:
    """An entity: its key (``customer``), its GraphQL type name and model, its fields (the
    model's, then the config's custom fields, which are fetched and cached alike but shown
    by the schema's own means)."""

    key: str
    type_name: str
    model: type
    fields: Mapping[str, FieldSpec]
    derived: Mapping[str, Derived]
    #: The kinds of cached relation and list answers one of its records can be part of.
    answers: tuple[str, ...]
    custom: Mapping[str, CustomFieldSpec] = dataclasses.field(default_factory=dict)

    @cached_property
    def names(self) -> frozenset[str]:
        return frozenset(self.fields) | frozenset(self.custom)

    @cached_property
    def always(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields.values() if f.attr.always)

    @cached_property
    def hot(self) -> frozenset[str]:
        own = {f.name for f in self.fields.values() if f.hot}
        return frozenset(own | {f.name for f in self.custom.values() if f.hot})

    def with_custom(self, custom: Mapping[str, CustomFieldSpec]) -> EntitySpec:
        return dataclasses.replace(self, custom=dict(custom))

    @cached_property
    def shown(self) -> tuple[FieldSpec, ...]:
        """The fields the GraphQL type shows as plain fields, in declaration order."""
        return tuple(f for f in self.fields.values() if f.attr.graphql)

    def needs(self, graphql_field: str) -> tuple[str, ...]:
        """The domain fields to fetch when a query selects ``graphql_field``."""
        derived = self.derived.get(graphql_field)
        if derived is not None:
            return derived.needs
        if graphql_field in self.custom:
            return (graphql_field,)
        return (snake(graphql_field),)

    def graphql_names(self) -> frozenset[str]:
        """Every name its GraphQL type has (a custom field may take none of them)."""
        return frozenset({f.graphql_name for f in self.shown} | set(self.derived))

    def tagged(self, tag: Tag) -> tuple[str, ...]:
        """The GraphQL fields carrying ``tag``: plain and derived."""
        plain = [f.graphql_name for f in self.shown if tag in f.attr.tags]
        return (*plain, *(n for n, d in self.derived.items() if tag in d.tags))

    def filterable(self) -> tuple[str, ...]:
        return tuple(f.graphql_name for f in self.shown if f.attr.filterable)


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def spec(
    key: str,
    type_name: str,
    model: type,
    derived: Mapping[str, Derived],
    answers: tuple[str, ...],
) -> EntitySpec:
    """The spec of ``model``: its fields declared with ``attr``, in declaration order."""
    hints = typing.get_type_hints(model)
    fields = {
        f.name: FieldSpec(f.name, hints[f.name], f.metadata["crmgraph"])
        for f in dataclasses.fields(model)
        if "crmgraph" in f.metadata
    }
    return EntitySpec(key, type_name, model, fields, dict(derived), answers)


NAME = Derived(("first_name", "last_name"))
BY_EMAIL = Derived(("email",))

ENTITIES: dict[str, EntitySpec] = {
    entity.key: entity
    for entity in (
        spec(
            "customer",
            "Customer",
            Customer,
            {
                "id": Derived(),
                "externalRefs": Derived(),
                "name": NAME,
                "leads": BY_EMAIL,
                "tickets": BY_EMAIL,
                "playerStats": Derived(("player_id", "brand", "email")),
            },
            answers=("customer_by_email", "list_customer", "requester"),
        ),
        spec(
            "lead",
            "Lead",
            Lead,
            {"id": Derived(), "name": NAME, "customer": BY_EMAIL},
            answers=("leads_by_email", "list_lead"),
        ),
        spec(
            "ticket",
            "Ticket",
            Ticket,
            {"id": Derived(), "requester": Derived(("requester_id",))},
            answers=("tickets", "list_ticket"),
        ),
        spec(
            "player",
            "PlayerStats",
            PlayerStats,
            {
                "playerId": Derived(),
                "customer": BY_EMAIL,
                "ggr": Derived(("bets_total", "wins_total"), MONEY),
                "ngr": Derived(("bets_total", "wins_total", "bonus_total"), MONEY),
            },
            answers=(),
        ),
    )
}

#: GraphQL type name → entity.
BY_TYPE: dict[str, EntitySpec] = {e.type_name: e for e in ENTITIES.values()}


def entity(key: str) -> EntitySpec:
    return ENTITIES[key]


def with_custom(custom: Mapping[str, Mapping[str, CustomFieldSpec]]) -> dict[str, EntitySpec]:
    """The registry with a config's custom fields (by entity key) added."""
    return {key: e.with_custom(custom.get(key, {})) for key, e in ENTITIES.items()}


_MODEL_FIELDS: dict[type, frozenset[str]] = {
    e.model: frozenset(f.name for f in dataclasses.fields(e.model)) for e in ENTITIES.values()
}


def value_of(record: Any, name: str) -> Any:
    """A domain field's value in ``record``: a model attribute, or a custom field's."""
    if name in _MODEL_FIELDS[type(record)]:
        return getattr(record, name)
    custom: dict[str, Any] = record.custom
    return custom.get(name)


def make(model: type[R], values: Mapping[str, Any], **identity: Any) -> R:
    """A record of ``model`` from domain ``values`` (custom fields into ``custom``) and its
    identity (id, problems…)."""
    known = _MODEL_FIELDS[model]
    if values.keys() <= known:  # no custom field among them
        return model(**identity, **values, custom={})
    own = {k: v for k, v in values.items() if k in known}
    custom = {k: v for k, v in values.items() if k not in known}
    return model(**identity, **own, custom=custom)

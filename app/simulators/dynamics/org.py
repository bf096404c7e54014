"""The environment's table definitions, and how a test makes them differ from a fresh org's.

By default the environment has the three tables of :mod:`schema` (Dataverse's own columns
plus the operator's ``crmgraph_`` custom columns) with Dataverse's default option sets. A test
plays an org that differs by sending an :class:`OrgShape` to the vendor control route
``PUT /__org``: columns taken away or added, option sets replaced. Queries, writes and the
``EntityDefinitions`` metadata then all see that org (``DELETE /__org`` restores the fresh
one; so does ``POST /__reset?data=true``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.simulators.dynamics.schema import BY_LOGICAL, Column, Kind, Table

_NAME = r"^[a-z][a-z0-9]*_[a-z0-9_]+$"


class Option(BaseModel):
    """One option of a choice column; ``state``: the statecode a status reason belongs to."""

    model_config = ConfigDict(extra="forbid")
    value: int = Field(ge=0, le=2_147_483_647)
    label: str = Field(min_length=1, max_length=100)
    state: int | None = None


class ExtraColumn(BaseModel):
    """A custom column the org has besides a fresh org's."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=_NAME, max_length=50)
    type: Literal["string", "int"] = "string"

    def column(self) -> Column:
        if self.type == "int":
            return Column(self.name, Kind.INT)
        return Column(self.name, Kind.STRING, max_length=100)


class OrgShape(BaseModel):
    """How this org differs from a fresh one (the body of ``PUT /__org``); tables by logical
    name (``contact``, ``lead``, ``incident``)."""

    model_config = ConfigDict(extra="forbid")
    columns_absent: dict[str, list[str]] = Field(default_factory=dict)
    columns_extra: dict[str, list[ExtraColumn]] = Field(default_factory=dict)
    #: table → choice column → its options, in order (replacing a fresh org's).
    option_sets: dict[str, dict[str, list[Option]]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _sound(self) -> OrgShape:
        for logical in (*self.columns_absent, *self.columns_extra, *self.option_sets):
            if logical not in BY_LOGICAL:
                raise ValueError(f"the environment has no table {logical!r}")
        for logical, names in self.columns_absent.items():
            table = BY_LOGICAL[logical]
            for name in names:
                column = table.column(name)
                if column is None:
                    raise ValueError(f"{logical} has no column {name!r} to take away")
                if column.required or name in (table.key, "statecode", "statuscode"):
                    raise ValueError(f"every org has the {logical} column {name}")
        for logical, extras in self.columns_extra.items():
            gone = set(self.columns_absent.get(logical, []))
            seen: set[str] = set()
            for extra in extras:
                taken = BY_LOGICAL[logical].column(extra.name) and extra.name not in gone
                if taken or extra.name in seen:
                    raise ValueError(f"{logical} already has a column {extra.name!r}")
                seen.add(extra.name)
        for logical, sets in self.option_sets.items():
            for name, choices in sets.items():
                _check_options(BY_LOGICAL[logical], name, choices)
        return self


def _check_options(table: Table, name: str, choices: list[Option]) -> None:
    column = table.column(name)
    if column is None or column.kind is not Kind.CHOICE or name == "statecode":
        raise ValueError(f"{table.logical}.{name} is not a picklist or status column")
    values = [o.value for o in choices]
    if not choices or len(set(values)) != len(values):
        raise ValueError(f"{table.logical}.{name}: give distinct options")
    if name != "statuscode":
        if any(o.state is not None for o in choices):
            raise ValueError(f"{table.logical}.{name}: only status options have a state")
        return
    states = table.column("statecode")
    known = set(states.options) if states else set()
    given = {o.state for o in choices}
    if not given <= known or given != known:
        raise ValueError(
            f"{table.logical}.statuscode: each option needs a state of {sorted(known)}, "
            "and each state an option"
        )


class Org:
    """The environment's tables by entity set, as its shape makes them."""

    def __init__(self, shape: OrgShape | None = None) -> None:
        self.shape = shape or OrgShape()
        self.tables: dict[str, Table] = {t.entity_set: self._table(t) for t in BY_LOGICAL.values()}
        self.by_logical = {t.logical: t for t in self.tables.values()}

    def _table(self, table: Table) -> Table:
        gone = set(self.shape.columns_absent.get(table.logical, []))
        sets = self.shape.option_sets.get(table.logical, {})
        columns = []
        for column in table.columns:
            if column.name in gone:
                continue
            if column.name in sets:
                column = replace(column, options={o.value: o.label for o in sets[column.name]})
            columns.append(column)
        columns += [e.column() for e in self.shape.columns_extra.get(table.logical, [])]
        status_state, default_status = table.status_state, table.default_status
        if "statuscode" in sets:
            status_state = {o.value: int(o.state or 0) for o in sets["statuscode"]}
            default_status = {
                state: _default(status_state, state, default)
                for state, default in table.default_status.items()
            }
        return Table(
            table.logical,
            table.entity_set,
            table.key,
            table.primary_name,
            tuple(columns),
            status_state,
            default_status,
        )


def _default(status_state: dict[int, int], state: int, default: int) -> int:
    """A state's default status: a fresh org's if the shape keeps it, else its first."""
    if status_state.get(default) == state:
        return default
    return next(status for status, owner in status_state.items() if owner == state)

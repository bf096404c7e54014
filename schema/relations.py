"""Relations read through a loader, started for every record of a list before any is awaited.

A relation of a record (a customer's leads, tickets, player stats; a ticket's requester) is
two plain functions: ``start`` registers the record's key with its loader and returns the
loader's future, or the answer itself when there is nothing to load; ``finish`` makes the
field's value of what the loader answered. The field's Strawberry resolver is
``Relation.resolve``: start, await (when something loads), finish, one record at a time. The
executor (``schema.execution``) finds the same ``Relation`` in the field's metadata and, for
each record, starts every relation of it at once, awaits their futures in turn and finishes
each: no coroutine, task or resolver call per relation per record, and the same batches,
since every key is registered before any future is awaited.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any

from graphql import GraphQLField
from strawberry.types.field import StrawberryField

from schema.context import Context, Info

#: The key of a relation field's ``Relation`` in its Strawberry metadata.
RELATION = "crmgraph.relation"

Arguments = Mapping[str, Any]


def loaded(value: Any, _arguments: Arguments, _info: Info) -> Any:
    """What the loader answered, as it is."""
    return value


@dataclass(frozen=True, slots=True)
class Relation:
    #: (record, context, arguments) -> the loader's future, or the answer when nothing loads.
    start: Callable[[Any, Context, Arguments], Awaitable[Any] | Any]
    #: (what the loader answered, arguments, info) -> the field's value.
    finish: Callable[[Any, Arguments, Info], Any] = loaded

    def resolve(self, root: Any, info: Info, arguments: Arguments) -> Any:
        """The field's value for one record, or an awaitable of it while it loads (the
        Strawberry resolver's body: answered at once when nothing loads)."""
        try:
            started = self.start(root, info.context, arguments)
            if isawaitable(started):
                return self._finishing(started, arguments, info)
            return self.finish(started, arguments, info)
        except Exception as error:
            # Raised when awaited, as a failed load is: the executor answers the field's empty
            # value for it (``[]``), where an error raised at once would reach the parent.
            return _raising(error)

    async def _finishing(self, started: Awaitable[Any], arguments: Arguments, info: Info) -> Any:
        return self.finish(await started, arguments, info)

    def metadata(self) -> dict[str, Relation]:
        """The field's metadata that names this relation to the executor."""
        return {RELATION: self}


async def _raising(error: Exception) -> Any:
    raise error


def relation_of(field: GraphQLField) -> tuple[Relation, StrawberryField] | None:
    """The ``Relation`` of a schema field, with its Strawberry field, if it has one."""
    definition = field.extensions.get("strawberry-definition")
    if not isinstance(definition, StrawberryField):
        return None
    metadata: Mapping[str, Any] = definition.metadata or {}
    relation = metadata.get(RELATION)
    return (relation, definition) if isinstance(relation, Relation) else None

"""The executor: roles and arguments are enforced here, once, for every field of the schema,
and no failing field ever nulls more than itself.

Before execution the request works out which selected fields its roles may not read
(``app.auth.policy``); each of those is refused with ``FORBIDDEN`` at its own path. Before a
field resolves, its arguments are checked (``schema.arguments``: hostile strings, filters by a
field the caller may not read). Nothing else in the schema checks roles.

A refused field, or one whose resolver fails, answers its *empty* value with the error at its
path: ``null`` when it is nullable, ``[]`` for a non-null list, an empty connection for a
non-null connection. So a failing CRM, a refused filter or a bad cursor costs only that field,
at every level, and the rest of the answer stands.

Most of a dashboard's thousands of fields are *plain*: a scalar or enum read off its record by
the default resolver, with no arguments. Those are answered in one loop per record
(``execute_fields``), without graphql-core's per-field resolve info, path and completion; any
plain field whose value is not simply readable (null where it may not be, unreadable, not
serialisable) goes the ordinary way, which raises the same error at the same path. A field read
the same way whose value is an object, or a list of objects, of one concrete type (a
connection's ``edges`` and ``node``, a ``Money``) is completed in place too (``Nested``): its
subfields are executed straight away, with graphql-core's own error handling at each level.

A relation read through a loader (``schema.relations``: a customer's leads, tickets, player
stats; a ticket's requester) is started in place too (``Batched``): each record's relations
register their keys at once, with no resolver call, coroutine or task per relation per
record; one answered at once (a ticket's requester who is a customer already listed) is
finished there and then. A record that waits on loaders is a ``Later``, not an awaitable; a
list combines its records' into one, so a whole list of customers waits in one coroutine:
every key of a wave registered, their futures awaited, every record finished, then the next
wave (the tickets' requesters, when they are not held). What a loader answered is
completed as graphql-core completes a resolver's result, with the same errors at the same
paths.
"""

from __future__ import annotations

import asyncio
import contextlib
from asyncio import Future
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLID,
    GraphQLLeafType,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLString,
    Undefined,
    get_nullable_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    located_error,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.execution.executor import to_nodes
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField
from strawberry.types.info import Info

from app.domain.ids import NodeId
from schema.arguments import refusal
from schema.common import Connection, attributes, empty_connection, read_attribute
from schema.context import Context
from schema.errors import Forbidden, GatewayError
from schema.relations import Relation, loaded, relation_of

__all__ = ["Forbidden", "PolicyExecutionContext", "empty_answer"]


def empty_answer(return_type: GraphQLOutputType) -> Any:
    """What a non-null field answers instead of an error: ``[]`` for a list, an empty
    connection for a connection; None for a nullable field (it answers ``null``) and for any
    other type, which has no empty value (its error goes to its parent, as GraphQL says)."""
    if not is_non_null_type(return_type):
        return None
    inner = return_type.of_type
    if is_list_type(inner):
        return []
    if is_object_type(inner) and _is_connection(inner):
        return empty_connection()
    return None


def _is_connection(type_: GraphQLObjectType) -> bool:
    definition = type_.extensions.get("strawberry-definition")
    origin = getattr(definition, "origin", None)
    return isinstance(origin, type) and issubclass(origin, Connection)


@dataclass(frozen=True, slots=True)
class Plain:
    """A plain field: read by Strawberry's default resolver, a scalar or enum, no arguments."""

    read: Callable[[Any, str], Any]  # the schema's default resolver (``read_attribute``)
    name: str  # the attribute
    output: Callable[[Any], Any]  # the leaf type's output coercion (``leaf_output``)
    non_null: bool
    #: A String or ID: a ``str`` value is written out as it is, as their coercion does.
    text: bool
    #: Its place among the values its plan's ``read`` gives.
    index: int = -1


def leaf_output(leaf: GraphQLLeafType) -> Callable[[Any], Any]:
    """How a value of ``leaf`` is written out: its own output coercion or, for an enum of
    Python's, its member's name looked up (where Strawberry's coercion scans the enum's
    values for it, first name first)."""
    coerce = leaf.coerce_output_value
    enum = getattr(leaf, "wrapped_cls", None)
    if not isinstance(leaf, GraphQLEnumType) or not (
        isinstance(enum, type) and issubclass(enum, Enum)
    ):
        return coerce
    names: dict[Enum, str] = {}
    for name, value in leaf.values.items():
        for member in enum:
            if member.value == value.value:
                names.setdefault(member, name)

    def output(value: Any) -> Any:
        if type(value) is enum:
            name = names.get(value)
            if name is not None:
                return name
        return coerce(value)

    return output


#: The resolve info given to ``is_type_of`` in place: the schema's (Strawberry's, and those of
#: ``schema/``) look at the object alone.
NO_INFO: Any = None

#: What ``Plain.answer`` returns when the field must go the ordinary way.
ORDINARY = object()


def _default_read(field: GraphQLField, details: FieldDetailsList) -> StrawberryField | None:
    """The Strawberry field of one read by the default resolver, without arguments."""
    if field.args or details[0].node.arguments:
        return None
    # Strawberry marks the resolver of a field it reads with its default resolver.
    if not getattr(field.resolve, "_is_default", False):
        return None
    definition = field.extensions.get("strawberry-definition")
    return definition if isinstance(definition, StrawberryField) else None


def plain_field(field: GraphQLField, details: FieldDetailsList, index: int) -> Plain | None:
    definition = _default_read(field, details)
    leaf = get_nullable_type(field.type)
    if definition is None or not is_leaf_type(leaf):
        return None
    read, name = definition.default_resolver, definition.python_name
    text = leaf is GraphQLString or leaf is GraphQLID
    return Plain(read, name, leaf_output(leaf), is_non_null_type(field.type), text, index)


@dataclass(frozen=True, slots=True)
class Shape:
    """A field's type when it is an object, or a list of objects, of one concrete type."""

    type: GraphQLOutputType  # the field's type
    object_type: GraphQLObjectType
    #: The list's item type, None when the field is one object.
    item_type: GraphQLOutputType | None


def object_shape(type_: GraphQLOutputType) -> Shape | None:
    nullable = get_nullable_type(type_)
    item_type = nullable.of_type if is_list_type(nullable) else None
    inner = get_nullable_type(item_type) if item_type is not None else nullable
    return Shape(type_, inner, item_type) if is_object_type(inner) else None


@dataclass(frozen=True, slots=True)
class Nested:
    """A field read by the default resolver whose value is an object, or a list of objects,
    of one concrete type."""

    read: Callable[[Any, str], Any]
    name: str
    shape: Shape


def nested_field(field: GraphQLField, details: FieldDetailsList) -> Nested | None:
    definition = _default_read(field, details)
    shape = object_shape(field.type)
    if definition is None or shape is None:
        return None
    return Nested(definition.default_resolver, definition.python_name, shape)


@dataclass(frozen=True, slots=True)
class Batched:
    """A relation field (``schema.relations``), started in place, its arguments converted
    once for all the records it is asked of."""

    relation: Relation
    field: GraphQLField
    definition: StrawberryField
    arguments: Mapping[str, Any]
    empty: Any  # what it answers when its relation fails (None: its error is handled)
    info_class: type[Info]  # the schema's, as its resolvers get
    shape: Shape | None  # when its value is completed in place


@dataclass(frozen=True, slots=True)
class Failed:
    """A relation whose start raised."""

    error: Exception


#: A record's relations started in place that wait on a loader: response name, field,
#: relation, the loader's future, path. (One answered at once is finished at once.)
Started = list[tuple[str, FieldDetailsList, Batched, Future[Any], Path]]


@dataclass(slots=True)
class Later:
    """Part of an answer completed in place that waits on loaders: once every one of
    ``futures`` is done, ``resume()`` gives its value, or the ``Later`` of what its values
    started in turn (a ticket's requester, once the customer's tickets are in). Not an
    awaitable: a list combines its records' ``Later`` into one, so the list waits in one
    coroutine (``_run``), wave by wave, instead of a coroutine and a task per record. Errors
    are handled where they arise, as graphql-core handles them; ``resume`` raises only what
    must go to the parent."""

    futures: list[Future[Any]]
    resume: Callable[[], Any]
    #: Where the errors its resuming raises are handled (``_guarded``): its field's or item's
    #: type, field details and path.
    guard: tuple[GraphQLOutputType, FieldDetailsList, Path] | None = None


def answer(plain: Plain, source: Any) -> Any:
    """The field's completed value, or ``ORDINARY`` when anything is not simple."""
    try:
        value = plain.read(source, plain.name)
    except Exception:
        return ORDINARY
    return written(plain, value)


def written(plain: Plain, value: Any) -> Any:
    """The completed value of a plain field whose value was read, or ``ORDINARY``."""
    if value is None:
        return ORDINARY if plain.non_null else None
    if plain.text and type(value) is str:
        return value
    if type(value) is NodeId:
        value = str(value)  # as ``read_attribute`` reads it
    try:
        coerced = plain.output(value)
    except Exception:
        return ORDINARY
    return ORDINARY if coerced is None or coerced is Undefined else coerced


@dataclass(frozen=True, slots=True)
class Plan:
    """A selection of one type: each response name with its fields and, when read or started
    in place (plain, nested, a relation), how."""

    fields: list[tuple[str, FieldDetailsList, Plain | Nested | Batched | None]]
    #: The values of a record's plain fields at once, by their ``index``, or None when the
    #: record needs them read one by one (``schema.common.attributes``); None when there are
    #: no plain fields, or one is read by another resolver than ``read_attribute``.
    read: Callable[[Any], tuple[Any, ...] | None] | None


class PolicyExecutionContext(StrawberryGraphQLCoreExecutionContext):
    #: Plain fields read in place (off only to measure what that saves: ``make bench``).
    plain_fields: ClassVar[bool] = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A field node's arguments are the same for every object it is resolved on.
        self._argument_checks: dict[tuple[int, int], GatewayError | None] = {}
        # graphql-core collects a list's subfields once, so every record of the list shares
        # one grouped field set, and one plan (kept with it, so its id is never reused).
        self._plans: dict[tuple[str, int], tuple[GroupedFieldSet, Plan]] = {}

    def _plan(self, parent_type: GraphQLObjectType, grouped: GroupedFieldSet) -> Plan:
        key = (parent_type.name, id(grouped))
        known = self._plans.get(key)
        if known is not None and known[0] is grouped:
            return known[1]
        denied = getattr(self.context_value, "denied", None) or ()
        fields: list[tuple[str, FieldDetailsList, Plain | Nested | Batched | None]] = []
        plain: list[Plain] = []
        for name, details in grouped.items():
            field_name = details[0].node.name.value
            field = self.schema.get_field(parent_type, field_name)
            fast: Plain | Nested | Batched | None = None
            if self.plain_fields and field and (parent_type.name, field_name) not in denied:
                fast = (
                    plain_field(field, details, len(plain))
                    or nested_field(field, details)
                    or self._batched(parent_type, field, details)
                )
                if type(fast) is Plain:
                    plain.append(fast)
            fields.append((name, details, fast))
        simple = plain and all(p.read is read_attribute for p in plain)
        plan = Plan(fields, attributes([p.name for p in plain]) if simple else None)
        self._plans[key] = (grouped, plan)
        return plan

    def _batched(
        self, parent_type: GraphQLObjectType, field: GraphQLField, details: FieldDetailsList
    ) -> Batched | None:
        """The field as a relation started in place, when it is one and its arguments are
        valid and allowed (else the ordinary path refuses it, at each record's path)."""
        found = relation_of(field)
        if found is None:
            return None
        relation, definition = found
        first = details[0]
        if self._check_arguments(parent_type, field, first) is not None:
            return None
        try:
            values = get_argument_values(
                field, first.node, self.variable_values, first.fragment_variable_values
            )
            strawberry = self.schema._strawberry_schema  # type: ignore[attr-defined]
            arguments = convert_arguments(
                values,
                definition.arguments,
                scalar_registry=strawberry.schema_converter.scalar_registry,
                config=strawberry.config,
            )
        except Exception:
            return None
        empty = empty_answer(field.type)
        info_class = strawberry.config.info_class
        shape = object_shape(field.type)
        return Batched(relation, field, definition, arguments, empty, info_class, shape)

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        """graphql-core's ``execute_fields``, with plain fields read in place."""
        value = self._fields(parent_type, source_value, path, grouped_field_set, position_context)
        return self._run(value) if type(value) is Later else value

    def _fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        """The record's fields: a dict, an awaitable of it, or its ``Later``."""
        results: dict[str, Any] = {}
        pending: list[str] = []
        later: list[str] = []
        started: Started = []
        plan = self._plan(parent_type, grouped_field_set)
        values = plan.read(source_value) if plan.read is not None else None
        try:
            for name, details, fast in plan.fields:
                if type(fast) is Plain:
                    if values is None:
                        value = answer(fast, source_value)
                    else:
                        value = values[fast.index]
                        if fast.text and type(value) is str:
                            results[name] = value
                            continue
                        value = written(fast, value)
                    if value is not ORDINARY:
                        results[name] = value
                        continue
                field_path = Path(path, name, parent_type.name)
                result = ORDINARY
                if type(fast) is Batched and position_context is None:
                    begun = self._start(fast, source_value)
                    if isinstance(begun, Future):
                        started.append((name, details, fast, begun, field_path))
                        results[name] = None  # its place in the answer, until it is finished
                        continue
                    # Answered at once (held, or nothing to load): finished here and now.
                    result = self._finished(parent_type, fast, details, begun, field_path)
                elif type(fast) is Nested and position_context is None:
                    result = self._nested(fast, source_value, details, field_path)
                if result is ORDINARY:
                    result = self.execute_field(
                        parent_type, source_value, details, field_path, position_context
                    )
                if result is not Undefined:
                    results[name] = result
                    if type(result) is Later:
                        later.append(name)
                    elif self.is_awaitable(result):
                        pending.append(name)
        except Exception:
            begun = [entry[3] for entry in started]
            self._abandon([results[name] for name in pending], begun, results, later)
            raise
        if not started:
            return self._combined(results, pending, later)
        finishing = self._record_later(parent_type, results, started, later)
        if pending:  # an ordinary field awaits: the rest waits beside it
            return self._gathered(results, pending, self._run(finishing))
        return finishing

    def _record_later(
        self,
        parent_type: GraphQLObjectType,
        results: dict[str, Any],
        started: Started,
        later: list[str],
    ) -> Later:
        """A record's ``Later``: its relations' futures and those its fields wait on."""
        futures = [entry[3] for entry in started]
        for name in later:
            futures += results[name].futures
        return Later(futures, lambda: self._resume_record(parent_type, results, started, later))

    def _start(self, batched: Batched, source: Any) -> Any:
        """The relation started for one record: its loader's future, its answer, or
        ``Failed``."""
        try:
            begun = batched.relation.start(source, self.context_value, batched.arguments)
        except Exception as error:
            return Failed(error)
        if self.is_awaitable(begun) and not isinstance(begun, Future):
            return asyncio.ensure_future(begun)
        return begun

    def _resume_record(
        self,
        parent_type: GraphQLObjectType,
        results: dict[str, Any],
        started: Started,
        later: list[str],
    ) -> Any:
        """A record whose futures are done: its started relations finished, each put in its
        place, and its ``Later`` fields resumed."""
        pending: list[str] = []
        again: list[str] = []
        try:
            for name, details, batched, begun, path in started:
                value = self._finished(parent_type, batched, details, begun, path)
                results[name] = value
                if type(value) is Later:
                    again.append(name)
                elif self.is_awaitable(value):
                    pending.append(name)
            self._resume(results, later, pending, again)
        except Exception:  # raised to the parent: what was started is settled all the same
            self._abandon([results[name] for name in pending], [], results, again)
            raise
        return self._combined(results, pending, again)

    def _resume(
        self, container: Any, later: list[Any], pending: list[Any], again: list[Any]
    ) -> None:
        """Each entry of ``container`` in ``later`` (its futures done) resumed in its place;
        those that still await go to ``pending`` or, waiting on loaders again, ``again``."""
        for key in later:
            value = self._resumed(container[key])
            container[key] = value
            if type(value) is Later:
                again.append(key)
            elif self.is_awaitable(value):
                pending.append(key)

    def _combined(self, container: Any, pending: list[Any], later: list[Any]) -> Any:
        """``container`` when nothing in it waits; the ``Later`` of it when its entries in
        ``later`` wait only on loaders; else an awaitable of it."""
        if not later:
            return self._gathered(container, pending)
        if pending:
            for key in later:
                container[key] = self._run(container[key])
            return self._gathered(container, pending + later)
        return self._container_later(container, later)

    def _container_later(self, container: Any, later: list[Any]) -> Later:
        futures: list[Future[Any]] = []
        for key in later:
            futures += container[key].futures
        return Later(futures, lambda: self._resume_container(container, later))

    def _resume_container(self, container: Any, later: list[Any]) -> Any:
        pending: list[Any] = []
        again: list[Any] = []
        try:
            self._resume(container, later, pending, again)
        except Exception:
            self._abandon([container[key] for key in pending], [], container, again)
            raise
        return self._combined(container, pending, again)

    async def _run(self, value: Any) -> Any:
        """A ``Later`` awaited: its futures, then what resuming it gives, wave after wave."""
        while type(value) is Later:
            for future in value.futures:
                if not future.done():
                    with contextlib.suppress(Exception):  # its error is read when resumed
                        await future
            value = self._resumed(value)
        if self.is_awaitable(value):
            value = await value
        return value

    def _guarded(
        self, later: Later, return_type: GraphQLOutputType, details: FieldDetailsList, path: Path
    ) -> Later:
        """``later`` with the errors its resuming raises handled at ``path`` (``_settled``'s
        work for an awaitable): marked so, when nothing handles them yet."""
        guard = (return_type, details, path)
        if later.guard is None:
            later.guard = guard
            return later
        return Later(later.futures, lambda: self._resumed(later), guard)

    def _resumed(self, later: Later) -> Any:
        """What resuming ``later`` gives, its errors handled where its guard says."""
        guard = later.guard
        if guard is None:
            return later.resume()
        try:
            value = later.resume()
        except Exception as error:
            self.handle_field_error(error, *guard)
            return None
        if type(value) is Later:
            return self._guarded(value, *guard)
        if self.is_awaitable(value):
            return self._settled(value, *guard)
        return value

    def _abandon(
        self, awaitables: list[Any], futures: list[Any], container: Any, later: list[Any]
    ) -> None:
        """What was started for a part of the answer that failed, settled in the background
        so that no error of it goes unobserved."""
        for key in later:
            futures = futures + container[key].futures
        if awaitables or futures:
            self.settle_in_background([*awaitables, *futures])

    def _finished(
        self,
        parent_type: GraphQLObjectType,
        batched: Batched,
        details: FieldDetailsList,
        begun: Any,
        path: Path,
    ) -> Any:
        """A relation's completed value, as graphql-core completes an awaited resolver result
        (with ``complete_awaitable_value``'s empty answers): null or empty with the error at
        its path, or the error raised to the parent when the field may not be null."""
        field = batched.field
        finish = batched.relation.finish
        try:
            try:
                if type(begun) is Failed:
                    raise begun.error
                value = begun.result() if isinstance(begun, Future) else begun
                if finish is not loaded:  # ``loaded`` reads no info: none is built for it
                    info = self.build_resolve_info(field, to_nodes(details), parent_type, path)
                    value = finish(
                        value,
                        batched.arguments,
                        batched.info_class(_raw_info=info, _field=batched.definition),
                    )
            except Exception as error:
                if batched.empty is None:
                    raise
                self._collect(error, details, path)
                value = batched.empty
        except Exception as error:
            self.handle_field_error(error, field.type, details, path)
            return None
        if batched.shape is not None:
            completed = self._in_place(batched.shape, value, details, path)
            if completed is not ORDINARY:
                return completed
        info = self.build_resolve_info(field, to_nodes(details), parent_type, path)
        try:
            completed = self.complete_value(field.type, details, info, path, value, None)
        except Exception as error:
            self.handle_field_error(error, field.type, details, path)
            return None
        if self.is_awaitable(completed):
            return self._settled(completed, field.type, details, path)
        return completed

    def _nested(self, nested: Nested, source: Any, details: FieldDetailsList, path: Path) -> Any:
        """A nested field completed in place, or ``ORDINARY`` (decided before anything runs)
        when its value is not simply an object, or a list of objects, of its type. An error
        of a subfield is handled as graphql-core handles it: null here, or raised to the
        parent when the field may not be null."""
        try:
            value = nested.read(source, nested.name)
        except Exception:
            return ORDINARY
        return self._in_place(nested.shape, value, details, path)

    def _in_place(self, shape: Shape, value: Any, details: FieldDetailsList, path: Path) -> Any:
        """``value`` completed in place as a field of ``shape``, or ``ORDINARY`` (decided before
        anything runs) when it is not simply an object, or a list of objects, of that type."""
        if value is None:
            return ORDINARY if is_non_null_type(shape.type) else None
        grouped, defers, _ = self.collect_subfields(shape.object_type, details)
        items = value if shape.item_type is not None else (value,)
        if defers or not isinstance(items, (list, tuple)):
            return ORDINARY
        is_type_of = shape.object_type.is_type_of
        for item in items:
            if item is None or (is_type_of is not None and is_type_of(item, NO_INFO) is not True):
                return ORDINARY
        try:
            if shape.item_type is None:
                completed = self._fields(shape.object_type, value, path, grouped, None)
            else:
                completed = self._nested_items(shape, items, details, path, grouped)
        except Exception as error:
            self.handle_field_error(error, shape.type, details, path)
            return None
        if type(completed) is Later:
            return self._guarded(completed, shape.type, details, path)
        if self.is_awaitable(completed):
            return self._settled(completed, shape.type, details, path)
        return completed

    def _nested_items(
        self,
        shape: Shape,
        items: list[Any] | tuple[Any, ...],
        details: FieldDetailsList,
        path: Path,
        grouped: GroupedFieldSet,
    ) -> Any:
        """A list of objects completed in place (graphql-core's ``complete_iterable_value``)."""
        item_type = shape.item_type
        assert item_type is not None
        completed: list[Any] = []
        pending: list[int] = []
        later: list[int] = []
        try:
            for index, item in enumerate(items):
                item_path = path.add_key(index, None)
                try:
                    done = self._fields(shape.object_type, item, item_path, grouped, None)
                except Exception as error:
                    self.handle_field_error(error, item_type, details, item_path)
                    done = None
                if type(done) is Later:
                    done = self._guarded(done, item_type, details, item_path)
                    later.append(index)
                elif self.is_awaitable(done):
                    done = self._settled(done, item_type, details, item_path)
                    pending.append(index)
                completed.append(done)
        except Exception:
            self._abandon([completed[index] for index in pending], [], completed, later)
            raise
        return self._combined(completed, pending, later)

    def _gathered(
        self, container: Any, pending: list[Any], also: Awaitable[Any] | None = None
    ) -> Any:
        """``container`` itself when nothing in it is pending, else an awaitable of it
        with each pending entry (a key or an index) replaced by its awaited value, once
        ``also`` (which fills entries of its own) is done too."""
        if not pending:
            return container

        async def gathered() -> Any:
            if len(pending) == 1 and also is None:
                container[pending[0]] = await container[pending[0]]
            else:
                awaitables = [container[key] for key in pending]
                if also is not None:
                    awaitables.append(also)
                awaited = await gather_with_cancel(*awaitables)
                for key, value in zip(pending, awaited[: len(pending)], strict=True):
                    container[key] = value
            return container

        return gathered()

    async def _settled(
        self,
        completed: Awaitable[Any],
        return_type: GraphQLOutputType,
        details: FieldDetailsList,
        path: Path,
    ) -> Any:
        try:
            return await completed
        except Exception as error:
            self.handle_field_error(error, return_type, details, path)
            return None

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Path,
        position_context: Any,
    ) -> Any:
        details = field_details_list[0]
        name = details.node.name.value
        denied = getattr(self.context_value, "denied", None)
        refused = denied and (parent_type.name, name) in denied
        if refused or details.node.arguments:
            field = self.schema.get_field(parent_type, name)
            if field is None:
                return Undefined
            error: GatewayError | None
            if refused:
                error = Forbidden(f"your role may not read {parent_type.name}.{name}")
            else:
                error = self._check_arguments(parent_type, field, details)
            if error is not None:
                return self._refuse(
                    error, parent_type, field, field_details_list, path, position_context
                )
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

    async def complete_awaitable_value(
        self,
        return_type: GraphQLOutputType,
        field_details_list: Any,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        empty = empty_answer(return_type)
        if empty is not None:
            result = self._or_empty(result, empty, field_details_list, path)
        return await super().complete_awaitable_value(
            return_type, field_details_list, info, path, result, position_context
        )

    async def _or_empty(self, result: Any, empty: Any, field_details_list: Any, path: Path) -> Any:
        try:
            return await result
        except Exception as raw_error:
            self._collect(raw_error, field_details_list, path)
            return empty

    def _check_arguments(
        self, parent_type: GraphQLObjectType, field: GraphQLField, details: Any
    ) -> GatewayError | None:
        context = self.context_value
        if parent_type is self.schema.mutation_type or not isinstance(context, Context):
            return None  # a mutation's input is data: its problems are userErrors
        key = (id(details.node), id(details.fragment_variable_values))
        if key not in self._argument_checks:
            try:
                args = get_argument_values(
                    field, details.node, self.variable_values, details.fragment_variable_values
                )
            except GraphQLError:
                return None  # not valid GraphQL: the field's own execution reports it
            roles = context.principal.roles
            self._argument_checks[key] = refusal(field, args, roles, context.access)
        return self._argument_checks[key]

    def _refuse(
        self,
        error: GatewayError,
        parent_type: GraphQLObjectType,
        field: GraphQLField,
        field_details_list: Any,
        path: Path,
        position_context: Any,
    ) -> Any:
        """``field`` answers its empty value, with ``error`` at its path."""
        empty = empty_answer(field.type)
        if empty is None:
            self.handle_field_error(error, field.type, field_details_list, path)
            return None
        self._collect(error, field_details_list, path)
        info = self.build_resolve_info(field, to_nodes(field_details_list), parent_type, path)
        return self.complete_value(
            field.type, field_details_list, info, path, empty, position_context
        )

    def _collect(self, error: Exception, field_details_list: Any, path: Path) -> None:
        located = located_error(error, to_nodes(field_details_list), path.as_list())
        self.collected_errors.add(located, path)

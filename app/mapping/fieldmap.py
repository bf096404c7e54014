"""Declared field maps: which wire fields feed which domain field, through which converter.

A map is data, so the same declaration answers two questions: which CRM properties a set of
domain fields needs (projection pushed down to the CRM), and how to read a record into domain
values. A value that cannot be read is recorded as a problem of that field; it never stops the
rest of the record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from app.mapping.converters import ConversionError

MISSING = object()


@dataclass(frozen=True, slots=True)
class Wire:
    """A domain field read from ``reads`` (dotted paths into the wire record) by ``convert``,
    which receives their values in that order (``None`` for an absent one)."""

    reads: tuple[str, ...]
    convert: Callable[..., Any]
    #: ``reads`` split at their dots, once (a dashboard reads hundreds of records).
    steps: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(tuple(p.split(".")) for p in self.reads))


def wire(*reads: str, convert: Callable[..., Any]) -> Wire:
    return Wire(tuple(reads), convert)


def dig(record: Mapping[str, Any], path: str | tuple[str, ...]) -> Any:
    """The value at a dotted ``path`` (or its parts). A list of ``{"id", "value"}`` entries
    (Zendesk's ``custom_fields``) is entered by id: ``custom_fields.360001`` is that entry's
    value."""
    node: Any = record
    for part in path.split(".") if isinstance(path, str) else path:
        if type(node) is dict:  # JSON's objects: asked first, and without an ABC check
            node = node.get(part)
            continue
        if isinstance(node, list):
            node = _entry(node, part)
            continue
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _entry(entries: list[Any], key: str) -> Any:
    for entry in entries:
        if isinstance(entry, Mapping) and str(entry.get("id")) == key:
            return entry.get("value")
    return None


@dataclass(frozen=True, slots=True)
class Mapped:
    values: dict[str, Any]
    problems: dict[str, str]


class FieldMap:
    """The map of one entity from one source. ``always`` wire fields are fetched whatever the
    query selects (ids and the properties used for linking and brand scoping)."""

    def __init__(self, fields: Mapping[str, Wire], always: Iterable[str] = ()) -> None:
        self.fields = dict(fields)
        self.always = tuple(always)
        # How to read each set of domain fields asked for, worked out once per set.
        self._steps = lru_cache(maxsize=256)(self._read_steps)

    def with_fields(self, extra: Mapping[str, Wire]) -> FieldMap:
        """This map with more fields (the config's custom fields)."""
        return FieldMap({**self.fields, **extra}, self.always) if extra else self

    def wire_fields(self, domain_fields: Iterable[str] | None = None) -> list[str]:
        """The wire fields to ask for, in a stable order, for ``domain_fields`` (all if None)."""
        wanted = self.fields if domain_fields is None else domain_fields
        found: dict[str, None] = dict.fromkeys(self.always)
        for name in wanted:
            spec = self.fields.get(name)
            if spec is not None:
                found.update(dict.fromkeys(p.split(".")[0] for p in spec.reads))
        return list(found)

    def read(self, record: Mapping[str, Any], domain_fields: Iterable[str] | None = None) -> Mapped:
        """Domain values for ``domain_fields`` (all declared if None) from a wire record."""
        wanted = tuple(self.fields if domain_fields is None else domain_fields)
        values: dict[str, Any] = {}
        problems: dict[str, str] = {}
        plain = type(record) is dict
        for name, convert, steps, key in self._steps(wanted):
            try:
                if key is not None and plain:  # one top-level property of a JSON object
                    values[name] = convert(record.get(key))
                else:
                    values[name] = convert(*[dig(record, path) for path in steps])
            except ConversionError as exc:
                problems[name] = str(exc)
        return Mapped(values, problems)

    def _read_steps(
        self, wanted: tuple[str, ...]
    ) -> list[tuple[str, Callable[..., Any], tuple[tuple[str, ...], ...], str | None]]:
        """Each declared field of ``wanted`` once: its converter, its paths, and the property
        when it reads one top-level property alone."""
        found = []
        for name in dict.fromkeys(wanted):
            spec = self.fields.get(name)
            if spec is not None:
                single = spec.steps[0][0] if len(spec.steps) == 1 == len(spec.steps[0]) else None
                found.append((name, spec.convert, spec.steps, single))
        return found

"""A small, strict OData reader for ``$select``, ``$filter`` and ``$orderby`` over one table.

``$filter`` supports::

    prop eq|ne|gt|ge|lt|le literal-or-prop     and  or  not  ( … )
    contains(prop,'x')  startswith(prop,'x')  endswith(prop,'x')
    Microsoft.Dynamics.CRM.In(PropertyName='prop',PropertyValues=['a','b'])
    literals: 'text' (quote doubled inside)  12  -3.5  true  false  null
              00000000-0000-0000-0000-000000000000  2026-01-31  2026-01-31T10:00:00Z

As in Dataverse: keywords and property names are case-sensitive, text compares ignoring case,
operands must have compatible EDM types, and every refusal is a ``400`` with code ``0x0`` and
the OData library's wording.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.simulators.dynamics.dialect import ApiError, bad_request, no_property
from app.simulators.dynamics.schema import Column, Table
from app.simulators.dynamics.store import Record, parse_guid

Predicate = Callable[[Record], bool]
IN_FUNCTION = "Microsoft.Dynamics.CRM.In"

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
    |(?P<string>'(?:[^']|'')*')
    |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2}))
    |(?P<guid>[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})
    |(?P<date>\d{4}-\d{2}-\d{2})(?![\w:])
    |(?P<number>-?\d+(?:\.\d+)?)(?![\w.])
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    |(?P<punct>[(),\[\]=])
    """,
    re.VERBOSE,
)
_COMPARISONS: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "eq": ("Equal", operator.eq),
    "ne": ("NotEqual", operator.ne),
    "gt": ("GreaterThan", operator.gt),
    "ge": ("GreaterThanOrEqual", operator.ge),
    "lt": ("LessThan", operator.lt),
    "le": ("LessThanOrEqual", operator.le),
}
_STRING_FUNCTIONS: dict[str, Callable[[str, str], bool]] = {
    "contains": lambda value, part: part in value,
    "startswith": str.startswith,
    "endswith": str.endswith,
}
_NUMERIC = frozenset({"Edm.Int32", "Edm.Int64", "Edm.Decimal"})


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    pos: int


@dataclass(frozen=True, slots=True)
class Operand:
    """A property or a literal, with its EDM type (``None`` for the ``null`` literal)."""

    edm: str | None
    column: Column | None = None
    value: Any = None

    def get(self, row: Record) -> Any:
        return row.get(self.column.name) if self.column else self.value


def _tokens(text: str) -> list[Token]:
    out, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _syntax(pos, text)
        kind = match.lastgroup or ""
        if kind != "ws":
            out.append(Token(kind, match.group(), pos))
        pos = match.end()
    return out


def _syntax(pos: int, text: str) -> ApiError:
    return bad_request(f"Syntax error at position {pos} in '{text}'.")


class _Parser:
    def __init__(self, text: str, table: Table) -> None:
        self.text, self.table = text, table
        self.tokens = _tokens(text)
        self.i = 0

    # -- token helpers

    def peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def take(self, text: str | None = None) -> Token:
        token = self.peek()
        if token is None or (text is not None and token.text != text):
            raise _syntax(token.pos if token else len(self.text), self.text)
        self.i += 1
        return token

    def at(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token.kind in ("name", "punct") and token.text == text

    # -- grammar

    def parse(self) -> Predicate:
        if not self.tokens:
            raise bad_request(f"Expression expected at position 0 in '{self.text}'.")
        predicate = self.or_()
        if self.peek() is not None:
            raise _syntax(self.take().pos, self.text)
        return predicate

    def or_(self) -> Predicate:
        parts = [self.and_()]
        while self.at("or"):
            self.take()
            parts.append(self.and_())
        if len(parts) == 1:
            return parts[0]
        return _one_of(parts) or _joined(parts, any)

    def and_(self) -> Predicate:
        parts = [self.unary()]
        while self.at("and"):
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else _joined(parts, all)

    def unary(self) -> Predicate:
        if self.at("not"):
            self.take()
            inner = self.unary()
            return lambda row: not inner(row)
        if self.at("("):
            self.take("(")
            inner = self.or_()
            self.take(")")
            return inner
        token = self.peek()
        if token is not None and token.kind == "name" and self._is_call():
            return self.call()
        left = self.operand()
        op = self.peek()
        if op is None or op.text not in _COMPARISONS:
            raise _syntax(op.pos if op else len(self.text), self.text)
        self.take()
        right = self.operand()
        if op.text == "eq" and left.column and not right.column and right.value is not None:
            _compare(op.text, left, right)  # refuses incompatible types
            return _Equals.of(left.column.name, right.value, "Edm.String" in (left.edm, right.edm))
        return _compare(op.text, left, right)

    def _is_call(self) -> bool:
        following = self.peek(1)
        return following is not None and following.text == "("

    def operand(self) -> Operand:
        token = self.take()
        if token.kind == "name":
            if token.text in ("true", "false"):
                return Operand("Edm.Boolean", value=token.text == "true")
            if token.text == "null":
                return Operand(None)
            column = self.table.column(token.text)
            if column is None:
                raise no_property(token.text, self.table.type_name)
            return Operand(column.kind.edm, column=column)
        if token.kind == "string":
            return Operand("Edm.String", value=token.text[1:-1].replace("''", "'"))
        if token.kind == "number":
            if "." in token.text:
                return Operand("Edm.Decimal", value=float(token.text))
            return Operand("Edm.Int32", value=int(token.text))
        if token.kind == "guid":
            return Operand("Edm.Guid", value=token.text.lower())
        if token.kind in ("datetime", "date"):
            return Operand("Edm.DateTimeOffset", value=_instant(token.text))
        raise _syntax(token.pos, self.text)

    def call(self) -> Predicate:
        name = self.take()
        self.take("(")
        if name.text == IN_FUNCTION:
            return self.in_()
        if name.text not in _STRING_FUNCTIONS:
            raise bad_request(
                f"An unknown function with name '{name.text}' was found. This may also be a "
                "function import or a key lookup on a navigation property, which is not allowed."
            )
        first = self.operand()
        self.take(",")
        second = self.operand()
        self.take(")")
        if first.column is None or first.edm != "Edm.String" or second.edm != "Edm.String":
            raise bad_request(
                f"No function signature for the function with name '{name.text}' matches the "
                f"specified arguments. The function signatures considered are: {name.text}"
                "(Edm.String Nullable=true, Edm.String Nullable=true)."
            )
        test, needle = _STRING_FUNCTIONS[name.text], str(second.value).casefold()

        def check(row: Record) -> bool:
            value = first.get(row)
            return value is not None and test(str(value).casefold(), needle)

        return check

    def in_(self) -> Predicate:
        params: dict[str, Any] = {}
        while True:
            key = self.take()
            self.take("=")
            if self.at("["):
                self.take("[")
                items: list[str] = []
                while not self.at("]"):
                    items.append(self._string())
                    if not self.at("]"):
                        self.take(",")
                self.take("]")
                params[key.text] = items
            else:
                params[key.text] = self._string()
            if self.at(")"):
                self.take(")")
                break
            self.take(",")
        name, values = params.get("PropertyName"), params.get("PropertyValues")
        expected = {"PropertyName", "PropertyValues"}
        if not isinstance(name, str) or not isinstance(values, list) or set(params) != expected:
            raise bad_request(
                f"The function '{IN_FUNCTION}' takes the parameters PropertyName and "
                "PropertyValues."
            )
        column = self.table.column(name)
        if column is None:
            raise no_property(name, self.table.type_name)
        wanted = {v.casefold() for v in values}

        def check(row: Record) -> bool:
            value = row.get(column.name)
            return value is not None and _text(value).casefold() in wanted

        return check

    def _string(self) -> str:
        token = self.take()
        if token.kind != "string":
            raise _syntax(token.pos, self.text)
        return token.text[1:-1].replace("''", "'")


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return format_instant(value)
    return str(value)


def _instant(text: str) -> datetime:
    # Python reads at most six fractional digits; OData allows seven.
    value = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@functools.lru_cache(maxsize=65536)  # rows' times are written on every answer that has them
def format_instant(value: datetime) -> str:
    """``2024-06-12T10:39:39Z``: how the Web API writes an Edm.DateTimeOffset."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _compatible(left: str | None, right: str | None) -> bool:
    if left is None or right is None or left == right:
        return True
    return left in _NUMERIC and right in _NUMERIC


def _joined(parts: list[Predicate], join: Callable[[Iterable[bool]], bool]) -> Predicate:
    """``parts`` joined by ``any`` (or) or ``all`` (and); two of them, the usual case (``<the
    requesters> and <their statuses>``), without a generator a row."""
    if len(parts) == 2:
        a, b = parts
        if join is all:
            return lambda row: a(row) and b(row)
        return lambda row: a(row) or b(row)
    return lambda row: join(p(row) for p in parts)


@dataclass(frozen=True, slots=True)
class _Equals:
    """``column eq literal``: as :func:`_compare` tests it, text ignoring case; ``wanted`` is
    the literal as :meth:`key` makes it."""

    column: str
    wanted: Any
    text: bool

    @staticmethod
    def of(column: str, value: Any, text: bool) -> _Equals:
        return _Equals(column, str(value).casefold() if text else value, text)

    def key(self, value: Any) -> Any:
        return str(value).casefold() if self.text else value

    def __call__(self, row: Record) -> bool:
        value = row.get(self.column)
        return value is not None and self.key(value) == self.wanted


def _one_of(parts: list[Predicate]) -> Predicate | None:
    """``a eq 1 or a eq 2 or …`` as one look-up in a set (a page's 50 requesters' cases
    were 50 comparisons a row); None when ``parts`` are not all such equalities."""
    first = parts[0]
    if not isinstance(first, _Equals) or not all(
        isinstance(p, _Equals) and (p.column, p.text) == (first.column, first.text) for p in parts
    ):
        return None
    wanted = frozenset(p.wanted for p in parts if isinstance(p, _Equals))

    def check(row: Record) -> bool:
        value = row.get(first.column)
        return value is not None and first.key(value) in wanted

    return check


def _compare(op: str, left: Operand, right: Operand) -> Predicate:
    kind, test = _COMPARISONS[op]
    if not _compatible(left.edm, right.edm):
        raise bad_request(
            "A binary operator with incompatible types was detected. Found operand types "
            f"'{left.edm}' and '{right.edm}' for operator kind '{kind}'."
        )
    text = "Edm.String" in (left.edm, right.edm)
    against_null = left.edm is None or right.edm is None

    def check(row: Record) -> bool:
        a, b = left.get(row), right.get(row)
        if a is None or b is None:
            if op == "eq":
                return a is None and b is None
            # ``ne null`` means "has a value"; as in SQL, a null column is neither equal nor
            # unequal to a value, and never greater or less.
            return op == "ne" and against_null and not (a is None and b is None)
        if text:
            a, b = str(a).casefold(), str(b).casefold()
        return test(a, b)

    return check


# -- $filter, $select, $orderby -------------------------------------------------------------------


def parse_filter(text: str, table: Table) -> Predicate:
    return _Parser(text, table).parse()


def parse_select(text: str, table: Table) -> list[Column]:
    columns: list[Column] = []
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            raise _syntax(len(text), text)
        column = table.column(name)
        if column is None:
            raise no_property(name, table.type_name)
        if column not in columns:
            columns.append(column)
    return columns


def parse_orderby(text: str, table: Table) -> list[tuple[Column, bool]]:
    """``[(column, descending), …]``."""
    keys: list[tuple[Column, bool]] = []
    for raw in text.split(","):
        parts = raw.split()
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1] not in ("asc", "desc")):
            raise _syntax(len(text), text)
        column = table.column(parts[0])
        if column is None:
            raise no_property(parts[0], table.type_name)
        keys.append((column, len(parts) == 2 and parts[1] == "desc"))
    return keys


def sort_rows(rows: list[Record], table: Table, keys: list[tuple[Column, bool]]) -> None:
    """Sort in place: by the keys given, then by primary key; nulls sort lowest."""
    rows.sort(key=lambda row: row[table.key])
    for column, descending in reversed(keys):
        rows.sort(key=_by(column.name), reverse=descending)


def _by(name: str) -> Callable[[Record], tuple[bool, Any]]:
    return lambda row: _sort_key(row.get(name))


def _sort_key(value: Any) -> tuple[bool, Any]:
    if isinstance(value, str):
        return (True, value.casefold())
    return (value is not None, value if value is not None else 0)


def guid_key(raw: str, table: Table) -> str:
    """The row key in ``contacts(<guid>)``, or the 400 OData gives for a malformed one."""
    guid = parse_guid(raw)
    if guid is None:
        raise bad_request(
            f"Unrecognized 'Edm.Guid' literal '{raw}' at '0' in '{raw}'."
            if raw
            else f"Bad Request - Error in query syntax. ({table.entity_set})"
        )
    return guid

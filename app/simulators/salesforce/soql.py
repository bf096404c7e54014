"""A small SOQL: the subset the gateway sends, parsed, checked and run over the simulated org.

Supported::

    SELECT field, Relationship.field, … | COUNT()
    FROM Lead | Contact | Account | LeadStatus
    [WHERE cond]   cond: field op literal | field [NOT] IN (literal, …) | field LIKE 'pat%'
                         | NOT cond | (cond) | cond AND cond … | cond OR cond …
                   op: = != <> < > <= >=   literal: 'text' 12 true false null
                   2026-11-01 2026-11-01T00:00:00Z 2026-11-01T00:00:00.000+02:00
    [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], …] [LIMIT n] [OFFSET n]

As in Salesforce: keywords and field names are case-insensitive, text compares ignoring case,
``!=`` and ``NOT IN`` match nulls, nulls sort first unless told otherwise, AND and OR cannot
be mixed without parentheses, and errors point at the offending token
(``ERROR at Row:1:Column:8``) under the error codes the REST API uses.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from app.simulators.salesforce.store import (
    SCHEMA,
    FieldSpec,
    FieldType,
    Record,
    SalesforceStore,
    SObjectType,
    attributes,
    no_such_column,
    normalize_id,
    wire_value,
)

MAX_OFFSET = 2000
Predicate = Callable[[Record], bool]

KEYWORDS = frozenset(
    {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC"}
    | {"NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "TRUE", "FALSE", "NULL"}
)
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
    |(?P<datetime>(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?
        (?:(Z)|([+-])(\d{2}):(\d{2})))
    |(?P<date>(\d{4})-(\d{2})-(\d{2}))(?![\w:])
    |(?P<number>[+-]?\d+(?:\.\d+)?)(?![\w.])
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    |(?P<string>')
    |(?P<op>!=|<>|<=|>=|=|<|>)
    |(?P<punct>[(),])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "N": "\n", "r": "\r", "R": "\r", "t": "\t", "T": "\t", "b": "\b"}
_ESCAPES |= {"B": "\b", "f": "\f", "F": "\f", '"': '"', "'": "'", "\\": "\\"}
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}
_LITERAL_KINDS = {
    FieldType.INT: "number",
    FieldType.DOUBLE: "number",
    FieldType.CURRENCY: "number",
    FieldType.BOOLEAN: "boolean",
    FieldType.DATETIME: "datetime",
    FieldType.DATE: "date",
}
_TYPE_WORDS = {
    FieldType.INT: "int",
    FieldType.DOUBLE: "double",
    FieldType.CURRENCY: "currency",
    FieldType.ID: "id",
    FieldType.REFERENCE: "id",
    FieldType.BOOLEAN: "boolean",
    FieldType.DATETIME: "dateTime",
    FieldType.DATE: "date",
}


class SoqlError(Exception):
    """A query Salesforce would refuse: ``code`` is the REST ``errorCode`` (status 400)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- tokens -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # ident string number datetime date op punct eof
    text: str
    pos: int
    value: Any = None

    def is_keyword(self, *words: str) -> bool:
        return self.kind == "ident" and self.text.upper() in words


def _located(text: str, pos: int, message: str) -> str:
    """Salesforce's way of pointing at a query's mistake: the line, a caret, row and column."""
    row = text.count("\n", 0, pos) + 1
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    line = text[start : end if end != -1 else len(text)]
    column = pos - start + 1
    return f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\n{message}"


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise SoqlError(
                "MALFORMED_QUERY", _located(text, pos, f"unexpected token: '{text[pos]}'")
            )
        kind = match.lastgroup
        assert kind is not None
        if kind == "string":
            value, end = _read_string(text, pos)
            tokens.append(Token("string", text[pos:end], pos, value))
            pos = end
            continue
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos, _literal_value(kind, match, text, pos)))
        pos = match.end()
    tokens.append(Token("eof", "<EOF>", len(text)))
    return tokens


#: The characters of a string literal up to its first quote or backslash.
_PLAIN = re.compile(r"[^'\\]*")


def _read_string(text: str, start: int) -> tuple[str, int]:
    plain = _PLAIN.match(text, start + 1)
    assert plain is not None  # it matches the empty string at least
    pos = plain.end()
    if text[pos : pos + 1] == "'":  # no escape in it: an email in an IN list, say
        return plain.group(), pos + 1
    out: list[str] = [plain.group()]
    while pos < len(text):
        ch = text[pos]
        if ch == "'":
            return "".join(out), pos + 1
        if ch == "\\":
            nxt = text[pos + 1 : pos + 2]
            if nxt in ("%", "_"):  # kept escaped: only LIKE gives them meaning
                out.append("\\" + nxt)
            elif nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            else:
                raise SoqlError(
                    "MALFORMED_QUERY",
                    _located(text, pos, "Invalid string literal: illegal escape sequence"),
                )
            pos += 2
            continue
        out.append(ch)
        pos += 1
    raise SoqlError(
        "MALFORMED_QUERY",
        _located(text, start, "mismatched character '<EOF>' expecting a closing quote"),
    )


def _literal_value(kind: str, match: re.Match[str], text: str, pos: int) -> Any:
    try:
        if kind == "datetime":
            return _datetime(match)
        if kind == "date":
            y, m, d = (int(match.group(i)) for i in (15, 16, 17))
            return date(y, m, d)
    except ValueError:
        raise SoqlError(
            "MALFORMED_QUERY", _located(text, pos, f"unexpected token: '{match.group()}'")
        ) from None
    if kind == "number":
        raw = match.group()
        return float(raw) if "." in raw else int(raw)
    return None


def _datetime(match: re.Match[str]) -> datetime:
    y, mo, d, h, mi, s = (int(match.group(i)) for i in range(3, 9))
    millis = int((match.group(9) or "0").ljust(3, "0"))
    if match.group(10):
        zone: timezone = UTC
    else:
        sign = -1 if match.group(11) == "-" else 1
        hours, minutes = int(match.group(12)), int(match.group(13))
        zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    return datetime(y, mo, d, h, mi, s, millis * 1000, tzinfo=zone)


# -- the checked query --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    """A field path resolved against the schema: references to follow, then a field."""

    hops: tuple[FieldSpec, ...]
    leaf: FieldSpec

    @property
    def path(self) -> str:
        return ".".join([*(h.relationship or "" for h in self.hops), self.leaf.name])

    def getter(self, store: SalesforceStore) -> Callable[[Record], Any]:
        name, default = self.leaf.name, self.leaf.default
        if not self.hops:
            # A custom field made after a record was written reads as its default there.
            return lambda record: record.get(name, default)
        hops = self.hops

        def follow(record: Record) -> Any:
            current: Record | None = record
            for hop in hops:
                target = current[hop.name] if current else None
                current = store.find(target) if target else None
            return current.get(name, default) if current else None

        return follow


@dataclass(frozen=True, slots=True)
class Literal:
    kind: str  # string number boolean null datetime date
    value: Any
    pos: int


@dataclass(frozen=True, slots=True)
class Comparison:
    column: Column
    op: str  # = != < > <= >= in notin like
    values: tuple[Any, ...]  # normalised keys: casefolded text, canonical ids, …


@dataclass(frozen=True, slots=True)
class Junction:
    op: str  # AND OR NOT
    parts: tuple[Condition, ...]


Condition = Comparison | Junction


@dataclass(frozen=True, slots=True)
class OrderItem:
    column: Column
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class Query:
    """A parsed and checked SOQL query; :meth:`execute` runs it over a store."""

    sobject: SObjectType
    columns: tuple[Column, ...] | None  # None: SELECT COUNT()
    where: Condition | None
    order: tuple[OrderItem, ...]
    limit: int | None
    offset: int

    @property
    def is_count(self) -> bool:
        return self.columns is None

    def execute(self, store: SalesforceStore) -> list[Record]:
        """The matching records, ordered, after OFFSET and LIMIT."""
        predicate = _predicate(self.where, store) if self.where else None
        candidates = self._candidates(store)
        rows = [r for r in candidates if predicate(r)] if predicate else list(candidates)
        for item in reversed(self.order):
            _sort(rows, item, store)
        rows = rows[self.offset :]
        return rows if self.limit is None else rows[: self.limit]

    def render(self, record: Record, store: SalesforceStore, version: str) -> dict[str, Any]:
        """One row as the REST API returns it: ``attributes``, then the selected fields, with
        relationship fields nested under the relationship's name (``null`` when it is empty)."""
        out: dict[str, Any] = {"attributes": attributes(self.sobject.name, record["Id"], version)}
        for column in self.columns or ():
            container, current = out, record
            for hop in column.hops:
                rel = hop.relationship or ""
                target = current[hop.name]
                related = store.find(target) if target else None
                if rel not in container:
                    container[rel] = (
                        None
                        if related is None
                        else {"attributes": attributes(_related_type(hop), related["Id"], version)}
                    )
                if container[rel] is None or related is None:
                    break
                container, current = container[rel], related
            else:
                leaf = column.leaf
                container[leaf.name] = wire_value(current.get(leaf.name, leaf.default))
        return out

    def _candidates(self, store: SalesforceStore) -> Iterable[Record]:
        # An equality on Id or Email narrows the scan through the store's indexes, as the org's
        # own indexes would; the full predicate still decides.
        name = self.sobject.name
        for part in _conjuncts(self.where):
            if not isinstance(part, Comparison) or part.column.hops or part.op not in ("=", "in"):
                continue
            if part.column.leaf.type is FieldType.ID:
                found = (store.get(name, i) for i in part.values if i is not None)
                hits = {r["Id"]: r for r in found if r is not None}
            elif part.column.leaf.name == "Email":
                hits = {r["Id"]: r for v in part.values if v for r in store.with_email(name, v)}
            else:
                continue
            return sorted(hits.values(), key=lambda r: store.position(name, r["Id"]))
        return store.all(name)


def _related_type(hop: FieldSpec) -> str:
    assert hop.reference_to is not None
    return hop.reference_to


def _conjuncts(where: Condition | None) -> tuple[Condition, ...]:
    if where is None:
        return ()
    if isinstance(where, Junction) and where.op == "AND":
        return where.parts
    return (where,)


def _sort(rows: list[Record], item: OrderItem, store: SalesforceStore) -> None:
    get = item.column.getter(store)
    text = item.column.leaf.is_text
    # With reverse=True the larger rank comes first, so the null rank flips with the direction.
    null_rank = 0 if item.nulls_first != item.descending else 1

    def key(record: Record) -> tuple[Any, ...]:
        value = get(record)
        if value is None:
            return (null_rank,)
        return (1 - null_rank, value.casefold() if text else value)

    rows.sort(key=key, reverse=item.descending)


def _predicate(cond: Condition, store: SalesforceStore) -> Predicate:
    if isinstance(cond, Junction):
        parts = [_predicate(p, store) for p in cond.parts]
        if cond.op == "NOT":
            inner = parts[0]
            return lambda r: not inner(r)
        if cond.op == "AND":
            return lambda r: all(p(r) for p in parts)
        return lambda r: any(p(r) for p in parts)
    get = cond.column.getter(store)
    norm: Callable[[Any], Any] = str.casefold if cond.column.leaf.is_text else _same
    op, values = cond.op, cond.values
    if op in ("in", "notin"):
        wanted = frozenset(values)
        if op == "in":
            return lambda r: _key(get(r), norm) in wanted
        return lambda r: _key(get(r), norm) not in wanted
    if op == "like":
        pattern: re.Pattern[str] = values[0]
        return lambda r: (v := get(r)) is not None and pattern.fullmatch(v) is not None
    (key,) = values
    if key is None:
        return (lambda r: get(r) is None) if op == "=" else (lambda r: get(r) is not None)
    if op == "!=":
        return lambda r: (v := get(r)) is None or norm(v) != key
    compare = _OPERATORS[op]
    return lambda r: (v := get(r)) is not None and compare(norm(v), key)


def _same(value: Any) -> Any:
    return value


def _key(value: Any, norm: Callable[[Any], Any]) -> Any:
    return None if value is None else norm(value)


# -- parsing ------------------------------------------------------------------------------------


def parse(text: str, schema: Mapping[str, SObjectType] = SCHEMA) -> Query:
    """Parse and check ``text`` against the org's schema (its types by name); raises
    :class:`SoqlError`."""
    try:
        return _Parser(text, schema).query()
    except RecursionError:
        raise SoqlError("MALFORMED_QUERY", "The query is nested too deeply") from None


class _Parser:
    def __init__(self, text: str, schema: Mapping[str, SObjectType]) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.at = 0
        self.schema = {name.lower(): sotype for name, sotype in schema.items()}
        self.sobject = self.schema["lead"]  # replaced once FROM is read

    # token helpers

    @property
    def peek(self) -> Token:
        return self.tokens[self.at]

    def take(self) -> Token:
        token = self.tokens[self.at]
        self.at = min(self.at + 1, len(self.tokens) - 1)
        return token

    def error(
        self, token: Token, message: str | None = None, code: str = "MALFORMED_QUERY"
    ) -> SoqlError:
        shown = token.text if token.kind == "eof" else f"'{token.text}'"
        return SoqlError(
            code, _located(self.text, token.pos, message or f"unexpected token: {shown}")
        )

    def keyword(self, *words: str) -> Token:
        token = self.take()
        if not token.is_keyword(*words):
            raise self.error(token)
        return token

    def accept(self, *words: str) -> bool:
        if self.peek.is_keyword(*words):
            self.take()
            return True
        return False

    def punct(self, char: str) -> None:
        token = self.take()
        if token.kind != "punct" or token.text != char:
            raise self.error(token)

    # grammar

    def query(self) -> Query:
        self.keyword("SELECT")
        fields = self.select_list()
        self.keyword("FROM")
        name = self.take()
        if name.kind != "ident" or name.text.upper() in KEYWORDS:
            raise self.error(name)
        found = self.schema.get(name.text.lower())
        if found is None:
            raise self.error(
                name,
                f"sObject type '{name.text}' is not supported. If you are attempting to use a "
                "custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
                "INVALID_TYPE",
            )
        self.sobject = found
        columns = None if fields is None else self.resolve_select(fields)
        where = self.condition() if self.accept("WHERE") else None
        order: tuple[OrderItem, ...] = ()
        if self.accept("ORDER"):
            self.keyword("BY")
            order = self.order_list()
        limit = self.integer() if self.accept("LIMIT") else None
        offset = 0
        if self.peek.is_keyword("OFFSET"):
            token = self.take()
            offset = self.integer()
            if offset > MAX_OFFSET:
                raise SoqlError(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    _located(self.text, token.pos, f"Maximum SOQL offset allowed is {MAX_OFFSET}"),
                )
        end = self.take()
        if end.kind != "eof":
            raise self.error(end)
        return Query(self.sobject, columns, where, order, limit, offset)

    def select_list(self) -> list[Token] | None:
        if self.peek.text.upper() == "COUNT" and self.tokens[self.at + 1].text == "(":
            self.take()
            self.punct("(")
            self.punct(")")
            return None
        fields = [self.field_token()]
        while self.peek.text == ",":
            self.take()
            fields.append(self.field_token())
        return fields

    def field_token(self) -> Token:
        token = self.take()
        if token.kind != "ident" or token.text.upper() in KEYWORDS:
            raise self.error(token)
        return token

    def resolve_select(self, fields: list[Token]) -> tuple[Column, ...]:
        columns: list[Column] = []
        seen: set[str] = set()
        for token in fields:
            column = self.column(token)
            if column.path.lower() in seen:
                raise self.error(token, f"duplicate field selected: {column.path}")
            seen.add(column.path.lower())
            columns.append(column)
        return tuple(columns)

    def column(self, token: Token) -> Column:
        *relationships, leaf = token.text.split(".")
        current = self.sobject
        hops: list[FieldSpec] = []
        for name in relationships:
            hop = current.relationship(name)
            if hop is None or hop.reference_to is None:
                raise self.error(
                    token,
                    f"Didn't understand relationship '{name}' in field path. If you are "
                    "attempting to use a custom relationship, be sure to append the '__r' after "
                    "the custom relationship name. Please reference your WSDL or the describe "
                    "call for the appropriate names.",
                    "INVALID_FIELD",
                )
            hops.append(hop)
            current = self.schema[hop.reference_to.lower()]
        spec = current.field(leaf)
        if spec is None:
            raise self.error(token, no_such_column(leaf, current.name), "INVALID_FIELD")
        return Column(tuple(hops), spec)

    def condition(self) -> Condition:
        parts = [self.term()]
        joiner: str | None = None
        while self.peek.is_keyword("AND", "OR"):
            token = self.take()
            word = token.text.upper()
            if joiner is not None and word != joiner:
                raise self.error(token)  # AND and OR together need parentheses
            joiner = word
            parts.append(self.term())
        return parts[0] if joiner is None else Junction(joiner, tuple(parts))

    def term(self) -> Condition:
        if self.accept("NOT"):
            return Junction("NOT", (self.term(),))
        if self.peek.text == "(":
            self.take()
            inner = self.condition()
            self.punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        column = self.column(self.field_token())
        token = self.take()
        if token.kind == "op":
            op = "!=" if token.text == "<>" else token.text
            literal = self.literal()
            return Comparison(column, op, (self.key(column, op, literal),))
        negated = token.is_keyword("NOT")
        if negated:
            token = self.take()
        if token.is_keyword("IN"):
            self.punct("(")
            literals = [self.literal()]
            while self.peek.text == ",":
                self.take()
                literals.append(self.literal())
            self.punct(")")
            keys = tuple(self.key(column, "=", lit) for lit in literals)
            return Comparison(column, "notin" if negated else "in", keys)
        if token.is_keyword("LIKE") and not negated:
            return Comparison(column, "like", (self.pattern(column, self.literal()),))
        raise self.error(token)

    def literal(self) -> Literal:
        token = self.take()
        if token.kind in ("string", "number", "datetime", "date"):
            return Literal(token.kind, token.value, token.pos)
        if token.is_keyword("TRUE", "FALSE"):
            return Literal("boolean", token.text.upper() == "TRUE", token.pos)
        if token.is_keyword("NULL"):
            return Literal("null", None, token.pos)
        raise self.error(token)

    def key(self, column: Column, op: str, literal: Literal) -> Any:
        """The literal as the value the column's records are compared with."""
        spec = column.leaf
        if literal.kind == "null":
            if op not in ("=", "!="):
                raise self.located_error(literal, "invalid operator on null", "MALFORMED_QUERY")
            return None
        expected = _LITERAL_KINDS.get(spec.type, "string")
        if literal.kind != expected:
            word = _TYPE_WORDS.get(spec.type, "string")
            quoting = (
                "be enclosed in quotes" if expected == "string" else "not be enclosed in quotes"
            )
            raise self.located_error(
                literal,
                f"value of filter criterion for field '{spec.name}' must be of type {word} "
                f"and should {quoting}",
                "INVALID_FIELD",
            )
        if op not in ("=", "!=") and spec.type is FieldType.BOOLEAN:
            raise self.located_error(
                literal, "invalid operator on boolean field", "INVALID_QUERY_FILTER_OPERATOR"
            )
        if spec.type in (FieldType.ID, FieldType.REFERENCE):
            canonical = normalize_id(literal.value)
            if canonical is None:
                raise self.located_error(
                    literal, f"invalid ID field: {literal.value}", "INVALID_QUERY_FILTER_OPERATOR"
                )
            return canonical
        return literal.value.casefold() if spec.is_text else literal.value

    def pattern(self, column: Column, literal: Literal) -> re.Pattern[str]:
        if not column.leaf.is_text:
            word = _TYPE_WORDS.get(column.leaf.type, "string")
            raise self.located_error(
                literal, f"invalid operator on {word} field", "INVALID_QUERY_FILTER_OPERATOR"
            )
        if literal.kind != "string":
            raise self.located_error(
                literal,
                f"value of filter criterion for field '{column.leaf.name}' must be of type string "
                "and should be enclosed in quotes",
                "INVALID_FIELD",
            )
        parts: list[str] = []
        raw: str = literal.value
        i = 0
        while i < len(raw):
            ch = raw[i]
            if ch == "\\" and raw[i + 1 : i + 2] in ("%", "_"):
                parts.append(re.escape(raw[i + 1]))
                i += 2
                continue
            parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
            i += 1
        return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)

    def located_error(self, literal: Literal, message: str, code: str) -> SoqlError:
        return SoqlError(code, _located(self.text, literal.pos, message))

    def order_list(self) -> tuple[OrderItem, ...]:
        items = [self.order_item()]
        while self.peek.text == ",":
            self.take()
            items.append(self.order_item())
        return tuple(items)

    def order_item(self) -> OrderItem:
        column = self.column(self.field_token())
        descending = False
        if self.peek.is_keyword("ASC", "DESC"):
            descending = self.take().text.upper() == "DESC"
        nulls_first = True
        if self.accept("NULLS"):
            nulls_first = self.keyword("FIRST", "LAST").text.upper() == "FIRST"
        return OrderItem(column, descending, nulls_first)

    def integer(self) -> int:
        token = self.take()
        if token.kind != "number" or not isinstance(token.value, int) or token.value < 0:
            raise self.error(token)
        return token.value

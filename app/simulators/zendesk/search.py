"""A subset of Zendesk's search query syntax, over the simulator's tickets and users.

Understood: ``type:ticket`` / ``type:user``; property keywords with ``:``, ``<``, ``>``,
``<=``, ``>=``; ``-`` to exclude; ``"phrases"``; ``*`` wildcards; ``none`` for an empty
property (``assignee:none``); ``order_by:`` and ``sort:``; and free text (a ticket id, or word
prefixes of a ticket's subject, description and tags, or of a user's name and email).

Terms are ANDed. As Zendesk documents, the same keyword given more than once with ``:`` ORs its
values (``status:open status:pending`` is open *or* pending tickets; ``tags:a tags:b`` has
either tag), while comparisons stay ANDed so that ``created>2024-01-01 created<2024-02-01`` is
a range. Statuses compare in Zendesk's order ``new < open < pending < hold < solved < closed``,
priorities as ``low < normal < high < urgent``. A date is a day (``2024-01-01``, UTC), an
instant (``2024-01-01T10:00:00Z``) or a span back from now (``4hours``, ``2days``, ``3weeks``,
``1month``, ``1year``). ``custom_field_<id>:value`` matches a custom ticket field's value.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from app.simulators.zendesk.store import (
    PRIORITY_RANK,
    STATUS_RANK,
    Ticket,
    User,
    ZendeskStore,
    parse_instant,
)

Record = Ticket | User
R = TypeVar("R", Ticket, User)
Test = Callable[[R], bool]

_TOKEN = re.compile(
    r'(?P<neg>-)?(?:(?P<key>[A-Za-z_][A-Za-z0-9_]*)(?P<op><=|>=|:|<|>))?(?P<value>"[^"]*"?|\S+)'
)
_RELATIVE = re.compile(r"(\d+)(minute|hour|day|week|month|year)s?")
_UNIT_SECONDS = {
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "week": 7 * 86400,
    "month": 30 * 86400,
    "year": 365 * 86400,
}
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_CUSTOM_FIELD = re.compile(r"^custom_field_(\d+)$")
#: ``order_by:`` names and ``sort_by=`` values → the attribute they sort on.
SORTS: dict[str, str] = {
    "created": "created_at",
    "created_at": "created_at",
    "updated": "updated_at",
    "updated_at": "updated_at",
    "commented": "updated_at",
    "priority": "priority",
    "status": "status",
    "ticket_type": "ticket_type",
}


class SearchError(ValueError):
    """The query cannot be run (a malformed date, for one)."""


class Term(NamedTuple):
    keyword: str | None  # None: free text
    op: str
    value: str
    negated: bool = False
    phrase: bool = False


def parse(query: str) -> list[Term]:
    terms: list[Term] = []
    for match in _TOKEN.finditer(query):
        value = match["value"]
        phrase = value.startswith('"')
        value = value.strip('"') if phrase else value
        if not value:
            continue
        key = match["key"].lower() if match["key"] else None
        terms.append(Term(key, match["op"] or ":", value, bool(match["neg"]), phrase))
    return terms


# -- matchers: (context, op, value) → test ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    store: ZendeskStore
    now: datetime


def _never(_record: Any) -> bool:
    return False


def _like(pattern: str, text: str | None) -> bool:
    if text is None:
        return False
    text = text.lower()
    return fnmatch.fnmatchcase(text, pattern) if "*" in pattern else text == pattern


def _words(*texts: str | None) -> list[str]:
    return [w for t in texts if t for w in re.split(r"[^\w@.+-]+", t.lower()) if w]


def _text_hit(value: str, phrase: bool, texts: Iterable[str | None]) -> bool:
    value = value.lower()
    if phrase:
        return any(value in t.lower() for t in texts if t)
    if "*" in value:
        return any(fnmatch.fnmatchcase(w, value) for w in _words(*texts))
    return any(w.startswith(value) for w in _words(*texts))


def ordinal(get: Callable[[R], str | None], ranks: dict[str, int]) -> Callable[..., Test[R]]:
    def make(_ctx: Context, op: str, value: str) -> Test[R]:
        value = value.lower()
        if value == "none":
            return (lambda r: get(r) is None) if op == ":" else _never
        if value not in ranks:
            return _never
        if op == ":":  # the ranks are one per value: equal ranks are the same value
            return Among(get, frozenset({value}))
        wanted = ranks[value]
        compare = _COMPARE[op]

        def test(record: R) -> bool:
            current = get(record)
            return current is not None and compare(ranks[current], wanted)

        return test

    return make


def exact(get: Callable[[R], str | None]) -> Callable[..., Test[R]]:
    def make(_ctx: Context, op: str, value: str) -> Test[R]:
        value = value.lower()
        if op != ":":
            return _never
        if value == "none":
            return lambda r: not get(r)
        return lambda r: _like(value, get(r))

    return make


def integer(get: Callable[[R], int | None]) -> Callable[..., Test[R]]:
    def make(_ctx: Context, op: str, value: str) -> Test[R]:
        if value.lower() == "none":
            return (lambda r: get(r) is None) if op == ":" else _never
        if not value.isdigit():
            return _never
        wanted, compare = int(value), _COMPARE[op]

        def test(record: R) -> bool:
            current = get(record)
            return current is not None and compare(current, wanted)

        return test

    return make


def instant(get: Callable[[R], datetime | None]) -> Callable[..., Test[R]]:
    def make(ctx: Context, op: str, value: str) -> Test[R]:
        start, end = _period(value, ctx.now)
        if op == ":" and start == end:  # "created:4hours": within the last four hours
            op = ">="
        bounds: dict[str, Callable[[datetime], bool]] = {
            ":": lambda m: start <= m < end,
            ">": lambda m: m >= end,
            ">=": lambda m: m >= start,
            "<": lambda m: m < start,
            "<=": lambda m: m < end,
        }
        inside = bounds[op]

        def test(record: R) -> bool:
            moment = get(record)
            return moment is not None and inside(moment)

        return test

    return make


def _period(value: str, now: datetime) -> tuple[datetime, datetime]:
    """The named stretch of time as ``[start, end)``; a relative span is one instant."""
    try:
        relative = _RELATIVE.fullmatch(value.lower())
        if relative:
            moment = now - timedelta(seconds=int(relative[1]) * _UNIT_SECONDS[relative[2]])
            return moment, moment
        if _DAY.fullmatch(value):
            start = datetime.fromisoformat(value).replace(tzinfo=UTC)
            return start, start + timedelta(days=1)
        named = parse_instant(value) if "T" in value else None
        if named is not None:
            return named, named + timedelta(seconds=1)
    except (ValueError, OverflowError):
        pass
    raise SearchError(f"{value!r} is not a date")


def words(*gets: Callable[[R], str | None]) -> Callable[..., Test[R]]:
    def make(_ctx: Context, op: str, value: str, phrase: bool = False) -> Test[R]:
        if op != ":":
            return _never
        return lambda r: _text_hit(value, phrase, (g(r) for g in gets))

    return make


def tag_list(get: Callable[[R], list[str]]) -> Callable[..., Test[R]]:
    def make(_ctx: Context, op: str, value: str) -> Test[R]:
        value = value.lower()
        if op != ":":
            return _never
        if value == "none":
            return lambda r: not get(r)
        return lambda r: any(_like(value, tag) for tag in get(r))

    return make


def people(get: Callable[[Ticket], int | None]) -> Callable[..., Test[Ticket]]:
    """``requester:``/``assignee:``/``submitter:`` by id, email, name or ``none``."""

    def make(ctx: Context, op: str, value: str) -> Test[Ticket]:
        if op != ":":
            return _never
        if value.lower() == "none":
            return lambda t: get(t) is None
        return Among(get, frozenset(resolve_users(ctx, value)))

    return make


@dataclass(frozen=True, slots=True)
class Among:
    """``get(record)`` is one of ``ids`` (user ids, or a keyword's values). The ORed terms of
    one keyword (``requester:a requester:b`` …, ``status:new status:open``) are merged into
    one set, so a search for a hundred requesters tests each ticket once, not a hundred
    times."""

    get: Callable[[Any], Any]
    ids: frozenset[Any]

    def __call__(self, record: Any) -> bool:
        return self.get(record) in self.ids


def resolve_users(ctx: Context, value: str) -> set[int]:
    value = value.lower()
    if value == "me":
        return {ctx.store.api_user.id}
    if value.isdigit():
        return {int(value)}
    if "@" in value and "*" not in value:
        user = ctx.store.user_by_email(value)
        return set() if user is None else {user.id}
    test = _user_text(value, phrase=False)
    return {u.id for u in ctx.store.users.values() if test(u)}


def _brand_id(ticket: Ticket) -> int:
    return ticket.brand_id


def brand(ctx: Context, op: str, value: str) -> Test[Ticket]:
    if value.isdigit():
        by_id: Callable[..., Test[Ticket]] = integer(_brand_id)
        return by_id(ctx, op, value)
    ids = {b.zendesk_brand_id for b in ctx.store.world.brands if _text_hit(value, False, [b.name])}
    return (lambda t: t.brand_id in ids) if op == ":" else _never


def only_none(_ctx: Context, op: str, value: str) -> Test[Any]:
    # A property the simulator never fills (organization): only "none" matches.
    return (lambda _r: True) if op == ":" and value.lower() == "none" else _never


def _phone(_ctx: Context, op: str, value: str) -> Test[User]:
    digits = re.sub(r"\D", "", value)
    if op != ":" or not digits:
        return _never
    return lambda u: u.phone is not None and digits in re.sub(r"\D", "", u.phone)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ":": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}

TICKET_FIELDS: dict[str, Callable[..., Test[Ticket]]] = {
    "status": ordinal(lambda t: t.status, STATUS_RANK),
    "priority": ordinal(lambda t: t.priority, PRIORITY_RANK),
    "ticket_type": exact(lambda t: t.type),
    "requester": people(lambda t: t.requester_id),
    "requester_id": integer(lambda t: t.requester_id),
    "assignee": people(lambda t: t.assignee_id),
    "assignee_id": integer(lambda t: t.assignee_id),
    "submitter": people(lambda t: t.submitter_id),
    "submitter_id": integer(lambda t: t.submitter_id),
    "brand": brand,
    "brand_id": integer(lambda t: t.brand_id),
    "group": integer(lambda t: t.group_id),
    "group_id": integer(lambda t: t.group_id),
    "organization": only_none,
    "created": instant(lambda t: t.created_at),
    "updated": instant(lambda t: t.updated_at),
    "due_date": instant(lambda t: t.due_at),
    "tags": tag_list(lambda t: t.tags),
    "tag": tag_list(lambda t: t.tags),
    "subject": words(lambda t: t.subject),
    "description": words(lambda t: t.description),
    "external_id": exact(lambda t: t.external_id),
}
USER_FIELDS: dict[str, Callable[..., Test[User]]] = {
    "email": exact(lambda u: u.email),
    "name": words(lambda u: u.name),
    "external_id": exact(lambda u: u.external_id),
    "role": exact(lambda u: u.role),
    "phone": _phone,
    "created": instant(lambda u: u.created_at),
    "updated": instant(lambda u: u.updated_at),
    "tags": tag_list(lambda _u: []),
    "tag": tag_list(lambda _u: []),
    "organization": only_none,
}
_PHRASED = {"subject", "description", "name"}


def _custom_field(keyword: str) -> Callable[..., Test[Ticket]] | None:
    """``custom_field_<id>:value``: tickets whose custom field ``id`` holds ``value`` (or, for
    ``none``, holds nothing); ``*`` wildcards as elsewhere."""
    match = _CUSTOM_FIELD.match(keyword)
    if match is None:
        return None
    field_id = int(match[1])

    def make(ctx: Context, op: str, value: str) -> Test[Ticket]:
        made = ctx.store.ticket_fields.get(field_id)
        if made is None or op != ":":
            return _never
        wanted = value.lower()

        def test(ticket: Ticket) -> bool:
            stored = next((e["value"] for e in ticket.custom_fields if e["id"] == field_id), None)
            if "*" in wanted and stored is not None:
                return _like(wanted, str(stored))
            return made.matches(stored, wanted)

        return test

    return make


def _ticket_text(value: str, phrase: bool) -> Test[Ticket]:
    number = int(value) if value.isdigit() else None
    return lambda t: t.id == number or _text_hit(value, phrase, (t.subject, t.description, *t.tags))


def _user_text(value: str, phrase: bool) -> Test[User]:
    lowered = value.lower()
    if "@" in lowered and "*" not in lowered and not phrase:
        return lambda u: u.email is not None and u.email.lower() == lowered
    return lambda u: _text_hit(value, phrase, (u.name, u.email))


# -- compiling and running ----------------------------------------------------------------------


@dataclass
class Query:
    """A parsed query, ready to run over a store."""

    types: set[str] = field(default_factory=lambda: {"ticket", "user"})
    ticket_tests: list[Test[Ticket]] = field(default_factory=list)
    user_tests: list[Test[User]] = field(default_factory=list)
    ticket_candidates: set[int] | None = None
    user_candidates: set[int] | None = None
    order_by: str | None = None
    sort: str | None = None


def _group_test(make: Callable[..., Test[R]], terms: list[Term], ctx: Context) -> Test[R]:
    def build(term: Term) -> Test[R]:
        if term.keyword in _PHRASED:
            return make(ctx, term.op, term.value, term.phrase)
        return make(ctx, term.op, term.value)

    alternatives: list[Test[R]] = _merged(
        [build(t) for t in terms if t.op == ":" and not t.negated]
    )
    required = [build(t) for t in terms if t.op != ":" and not t.negated]
    excluded = [build(t) for t in terms if t.negated]
    if len(alternatives) == 1 and not required and not excluded:
        return alternatives[0]  # one test, or one merged set: no wrapper per record

    def test(record: R) -> bool:
        return (
            (not alternatives or any(f(record) for f in alternatives))
            and all(f(record) for f in required)
            and not any(f(record) for f in excluded)
        )

    return test


def _merged(tests: list[Any]) -> list[Any]:
    """ORed tests, with those that are each a set of one keyword's ids merged into one."""
    among = [t for t in tests if isinstance(t, Among)]
    if len(among) < 2 or len({id(t.get) for t in among}) > 1:
        return tests
    union = Among(among[0].get, frozenset().union(*(t.ids for t in among)))
    return [union, *(t for t in tests if not isinstance(t, Among))]


def compile_query(
    text: str | list[Term], store: ZendeskStore, types: set[str] | None = None
) -> Query:
    """Compile ``text`` (or its terms, parsed already); ``types`` forces the record types
    (``/users/search`` asks for users)."""
    ctx = Context(store, store.clock().astimezone(UTC))
    query = Query()
    grouped: dict[str, list[Term]] = {}
    named: set[str] = set()
    for term in parse(text) if isinstance(text, str) else text:
        if term.keyword == "type" and not term.negated:
            named.add(term.value.lower())
        elif term.keyword == "order_by":
            query.order_by = SORTS.get(term.value.lower())
        elif term.keyword == "sort":
            query.sort = term.value.lower()
        elif term.keyword is None or (
            term.keyword not in TICKET_FIELDS
            and term.keyword not in USER_FIELDS
            and not _CUSTOM_FIELD.match(term.keyword)
        ):
            value = term.value if term.keyword is None else f"{term.keyword}{term.op}{term.value}"
            _add_text(query, Term(None, ":", value, term.negated, term.phrase))
        else:
            grouped.setdefault(term.keyword, []).append(term)
    for keyword, terms in grouped.items():
        ticket_make = TICKET_FIELDS.get(keyword) or _custom_field(keyword)
        user_make = USER_FIELDS.get(keyword)
        query.ticket_tests.append(_group_test(ticket_make, terms, ctx) if ticket_make else _never)
        query.user_tests.append(_group_test(user_make, terms, ctx) if user_make else _never)
    _narrow(query, grouped, ctx)
    query.types = types if types is not None else (named or {"ticket", "user"})
    return query


def _add_text(query: Query, term: Term) -> None:
    ticket_test, user_test = (
        _ticket_text(term.value, term.phrase),
        _user_text(term.value, term.phrase),
    )
    if term.negated:
        query.ticket_tests.append(lambda t: not ticket_test(t))
        query.user_tests.append(lambda u: not user_test(u))
    else:
        query.ticket_tests.append(ticket_test)
        query.user_tests.append(user_test)


def _narrow(query: Query, grouped: dict[str, list[Term]], ctx: Context) -> None:
    """Use the indexes when a query pins the requester or the email: no full scan then."""
    for keyword in ("requester", "requester_id"):
        terms = grouped.get(keyword, [])
        if terms and all(t.op == ":" and not t.negated for t in terms):
            users = set().union(*(resolve_users(ctx, t.value) for t in terms))
            ids = {i for u in users for i in ctx.store.requested_ids(u)}
            query.ticket_candidates = (
                ids if query.ticket_candidates is None else query.ticket_candidates & ids
            )
    terms = grouped.get("email", [])
    if terms and all(t.op == ":" and not t.negated and "*" not in t.value for t in terms):
        found = (ctx.store.user_by_email(t.value) for t in terms)
        query.user_candidates = {u.id for u in found if u is not None}


def _sort_key(attribute: str) -> Callable[[Record], tuple[Any, int]]:
    def key(record: Record) -> tuple[Any, int]:
        if attribute == "priority":
            value: Any = PRIORITY_RANK.get(getattr(record, "priority", None) or "", -1)
        elif attribute == "status":
            value = STATUS_RANK.get(getattr(record, "status", ""), -1)
        elif attribute == "ticket_type":
            value = getattr(record, "type", None) or ""
        else:
            value = getattr(record, attribute)
        return value, record.id

    return key


def _passing(records: Iterable[R], tests: list[Test[R]]) -> list[R]:
    """The records every test passes, one test at a time over those left (the tests are pure:
    the same records as testing each record against all)."""
    left = list(records)
    for test in tests:
        left = [record for record in left if test(record)]
    return left


def run(
    query: Query, store: ZendeskStore, sort_by: str | None = None, sort_order: str | None = None
) -> list[Record]:
    """Every match, in the requested order (by id, tickets first, when none is asked for)."""
    hits: list[Record] = []
    if "ticket" in query.types:
        tickets: Iterable[Ticket] = (
            store.iter_tickets()
            if query.ticket_candidates is None
            else (store.tickets[i] for i in sorted(query.ticket_candidates))
        )
        hits += _passing(tickets, query.ticket_tests)
    if "user" in query.types:
        users: Iterable[User] = (
            store.users.values()
            if query.user_candidates is None
            else (store.users[i] for i in sorted(query.user_candidates))
        )
        hits += _passing(users, query.user_tests)
    attribute = SORTS.get((sort_by or "").lower()) or query.order_by
    if attribute is not None:
        descending = (sort_order or query.sort or "desc").lower() != "asc"
        hits.sort(key=_sort_key(attribute), reverse=descending)
    return hits

"""Query limits: depth, aliases, tokens and an upstream cost estimate, all read from the
parsed document before anything runs, so a refused query never costs an upstream call.

Depth is the longest chain of nested fields, through inline and named fragments; ``__typename``
and introspection fields count like any other. Aliases are the aliased fields the operation
resolves: a fragment's aliases count each time it is spread.

Cost is the number of upstream requests the operation would make *after batching*, read from
:data:`COSTS`, one entry per (type, field) that calls a CRM. The walk carries how many objects
of each type the operation reaches (``first`` records of a list, ``first`` tickets per
customer, :data:`LEADS_PER_CUSTOMER` leads per customer, …) and charges a relation one round
of requests per batch of those parents. A relation read straight back to the record it came
from (:data:`INVERSES`) costs nothing: that record is already loaded. Everything else
(scalars, ``edges``, ``pageInfo``, ``sources``, introspection) costs nothing.

The walks are safe on a document graphql-core has not validated: spreads of unknown fragments
and fields the schema does not have are skipped, and a fragment cycle is cut where it closes
(validation refuses such a document anyway, with its own error). Fragments are measured once
each, so a fragment spread many times over does not multiply the work.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    TokenKind,
    VariableNode,
    get_named_type,
)
from graphql.language import Lexer
from graphql.pyutils import Undefined
from graphql.utilities import value_from_ast_untyped

DEFAULT_MAX_PAGE = 500

#: Counts (aliases, cost) stop growing here, so a fragment bomb reports a number, not a novel.
SATURATION = 1_000_000


@dataclass(frozen=True, slots=True)
class QueryLimits:
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 3000
    max_cost: int = 60
    #: ``first`` is clamped to this for the estimate (the resolvers refuse more themselves).
    max_page: int = DEFAULT_MAX_PAGE


class QueryTooComplex(Exception):
    """A limit is exceeded. ``extensions``: code, limit, max, found.

    ``found`` is the count where the check stopped: for tokens, ``max + 1`` (counting stops
    there); for cost, the running total when it passed ``max`` (a lower bound).
    """

    def __init__(self, limit: str, maximum: int, found: int) -> None:
        super().__init__(
            f"The query is too complex: {limit} over the limit of {maximum} (found {found})."
        )
        self.extensions: dict[str, Any] = {
            "code": "QUERY_TOO_COMPLEX",
            "limit": limit,
            "max": maximum,
            "found": found,
        }


# --- the cost table -------------------------------------------------------------------------

#: ``Fetch.yields`` value meaning "the field's ``first`` argument".
FIRST = -1

#: Leads assumed per customer under ``Customer.leads`` (linked by email). The seeded world has
#: at most one; real orgs have a few duplicates per person. An estimate, not a guarantee: it
#: only multiplies what sits below ``leads``.
LEADS_PER_CUSTOMER = 5

#: Brands the player-stats service is asked in (one ``stats:batchGet`` per brand): the demo's
#: three. A page of customers of one brand costs one call per batch in reality.
PLAYER_BRANDS = 3


@dataclass(frozen=True, slots=True)
class Fetch:
    """What one field costs upstream.

    A relation: ``ceil(parents / batch) * requests``, and each parent yields ``yields``
    records (``FIRST``: the field's ``first`` argument). A paged list (``page`` > 0):
    ``ceil(first / page) * requests`` per parent, and its connection's ``edges`` hold
    ``first`` records.
    """

    batch: int = 1
    requests: int = 1
    yields: int = 1
    page: int = 0


COSTS: dict[tuple[str, str], Fetch] = {
    # Lists: HubSpot search (200 a page), a SOQL query (2,000), Zendesk search/export (1,000).
    ("Query", "customers"): Fetch(page=200),
    ("Query", "leads"): Fetch(page=2000),
    ("Query", "tickets"): Fetch(page=1000),
    # One record by id.
    ("Query", "node"): Fetch(),
    ("Query", "customer"): Fetch(),
    ("Query", "lead"): Fetch(),
    ("Query", "ticket"): Fetch(),
    # A player id without a brand is asked of every brand.
    ("Query", "playerStats"): Fetch(requests=PLAYER_BRANDS),
    # totalCount is a COUNT() query on Salesforce and a count call on Zendesk; HubSpot's search
    # answers its total with the page.
    ("LeadConnection", "totalCount"): Fetch(),
    ("TicketConnection", "totalCount"): Fetch(),
    # Relations, batched per request.
    ("Customer", "leads"): Fetch(batch=150, yields=LEADS_PER_CUSTOMER),  # SOQL Email IN (150)
    ("Customer", "tickets"): Fetch(batch=100, requests=2, yields=FIRST),  # users + export
    ("Customer", "playerStats"): Fetch(batch=500, requests=PLAYER_BRANDS),  # batchGet per brand
    ("Lead", "customer"): Fetch(batch=100),  # HubSpot batch/read by email
    ("PlayerStats", "customer"): Fetch(batch=100),  # HubSpot batch/read by email
    ("Ticket", "requester"): Fetch(batch=100, requests=2),  # Zendesk users + HubSpot batch/read
}

#: (type, field) → the relation it is the way back of. Reached straight through that relation,
#: its record is the parent, already loaded (primed), so it costs nothing. Not
#: ``PlayerStats.customer``: it looks up the player's own email, which need not be the
#: contact's (the two are linked by player id).
INVERSES: dict[tuple[str, str], tuple[str, str]] = {
    ("Ticket", "requester"): ("Customer", "tickets"),
    ("Lead", "customer"): ("Customer", "leads"),
}


# --- the checks -----------------------------------------------------------------------------


def count_tokens(source: str, limit: int) -> int:
    """Lexical tokens of ``source`` (comments not counted), stopping at ``limit + 1``.

    Lexing is lazy, so a flood is refused after reading only ``limit + 1`` tokens of it.
    Raises ``GraphQLSyntaxError`` where the lexer does, before the limit. The counts of
    texts of a usual size are remembered: a dashboard polled again is not lexed again (each
    request counted its ~180 tokens twice, ~0.1 ms each, and left them as cyclic garbage).
    """
    if len(source) <= REMEMBERED_TEXT:
        return _remembered_count(source, limit)
    return _count(source, limit)


#: The longest text whose token count is remembered (512 of them at most).
REMEMBERED_TEXT = 20_000


@functools.lru_cache(maxsize=512)
def _remembered_count(source: str, limit: int) -> int:
    return _count(source, limit)


def _count(source: str, limit: int) -> int:
    lexer = Lexer(Source(source))
    count = 0
    while count <= limit:
        if lexer.advance().kind is TokenKind.EOF:
            break
        count += 1
    return count


def check_tokens(source: str, limits: QueryLimits) -> None:
    """Raise :class:`QueryTooComplex` if ``source`` has more than ``max_tokens`` tokens."""
    found = count_tokens(source, limits.max_tokens)
    if found > limits.max_tokens:
        raise QueryTooComplex("tokens", limits.max_tokens, found)


def check(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    limits: QueryLimits,
) -> int:
    """Check tokens (when the document kept its source), depth, aliases and cost, in that
    order; raise :class:`QueryTooComplex` for the first exceeded. Returns the estimated cost."""
    if document.loc is not None:
        check_tokens(document.loc.source.body, limits)
    plan = _Plan(schema, document, operation_name, variables or {}, limits.max_page)
    depth = plan.depth()
    if depth > limits.max_depth:
        raise QueryTooComplex("depth", limits.max_depth, depth)
    aliases = plan.aliases()
    if aliases > limits.max_aliases:
        raise QueryTooComplex("aliases", limits.max_aliases, aliases)
    try:
        return plan.cost(stop_above=limits.max_cost)
    except _Over as over:
        raise QueryTooComplex("cost", limits.max_cost, over.found) from None


def estimate_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    *,
    max_page: int = DEFAULT_MAX_PAGE,
) -> int:
    """The upstream requests the operation would cost after batching (see :data:`COSTS`).

    Without a limit to stop at, use it on documents within the depth and alias limits."""
    return _Plan(schema, document, operation_name, variables or {}, max_page).cost(None)


# --- the walks ------------------------------------------------------------------------------

Composite = GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType
#: A selection set and the fragment whose definition it is in (``None``: the operation).
Owned = tuple[SelectionSetNode, str | None]


class _Over(Exception):
    def __init__(self, found: int) -> None:
        self.found = found


@dataclass(slots=True)
class _Group:
    parent: Composite
    name: str
    nodes: list[tuple[FieldNode, str | None]]


class _Plan:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation_name: str | None,
        variables: Mapping[str, Any],
        max_page: int,
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.max_page = max(max_page, 1)
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        named = [o for o in operations if o.name and o.name.value == operation_name]
        # The one that will run; when it cannot be told apart, every one of them.
        self.operations = named if operation_name is not None and named else operations
        self.order, self.cut = _fragment_dag(
            self.fragments, (s for o in self.operations for s in _spreads(o.selection_set))
        )
        self.total = 0
        self.stop_above: int | None = None
        self.defaults: dict[str, Any] = {}

    def _follows(self, owner: str | None, spread: str) -> bool:
        return spread in self.fragments and (owner, spread) not in self.cut

    # Depth and aliases: each fragment measured once, in an order where what it spreads is
    # already measured (post-order of the fragment graph without its cycle-closing edges).

    def depth(self) -> int:
        memo: dict[str, int] = {}

        def walk(selection_set: SelectionSetNode, owner: str | None) -> int:
            best = 0
            for node in selection_set.selections:
                if isinstance(node, FieldNode):
                    inner = walk(node.selection_set, owner) if node.selection_set else 0
                    best = max(best, 1 + inner)
                elif isinstance(node, InlineFragmentNode):
                    best = max(best, walk(node.selection_set, owner))
                elif isinstance(node, FragmentSpreadNode) and self._follows(owner, node.name.value):
                    best = max(best, memo[node.name.value])
            return best

        for name in self.order:
            memo[name] = walk(self.fragments[name].selection_set, name)
        return max((walk(o.selection_set, None) for o in self.operations), default=0)

    def aliases(self) -> int:
        memo: dict[str, int] = {}

        def walk(selection_set: SelectionSetNode, owner: str | None) -> int:
            count = 0
            for node in selection_set.selections:
                if isinstance(node, FieldNode):
                    count += 1 if node.alias else 0
                    if node.selection_set:
                        count += walk(node.selection_set, owner)
                elif isinstance(node, InlineFragmentNode):
                    count += walk(node.selection_set, owner)
                elif isinstance(node, FragmentSpreadNode) and self._follows(owner, node.name.value):
                    count += memo[node.name.value]
            return min(count, SATURATION)

        for name in self.order:
            memo[name] = walk(self.fragments[name].selection_set, name)
        return max((walk(o.selection_set, None) for o in self.operations), default=0)

    # Cost: fields are merged by response key as the executor merges them, and walked with the
    # number of objects they are resolved for.

    def cost(self, stop_above: int | None) -> int:
        self.stop_above = stop_above
        worst = 0
        for operation in self.operations:
            root = self.schema.get_root_type(operation.operation)
            if root is None:
                continue
            self.total = 0
            self.defaults = {
                d.variable.name.value: value_from_ast_untyped(d.default_value)
                for d in operation.variable_definitions or ()
                if d.default_value is not None
            }
            self._walk(root, [(operation.selection_set, None)], 1, None, None)
            worst = max(worst, self.total)
        return worst

    def _charge(self, requests: int) -> None:
        self.total = min(self.total + requests, SATURATION)
        if self.stop_above is not None and self.total > self.stop_above:
            raise _Over(self.total)

    def _walk(
        self,
        type_: Composite,
        selections: list[Owned],
        count: int,
        via: tuple[str, str] | None,
        page_first: int | None,
    ) -> None:
        for group in self._collect(type_, selections):
            fields = getattr(group.parent, "fields", None) or {}
            definition: GraphQLField | None = fields.get(group.name)
            if definition is None:
                continue  # introspection, or a field the schema does not have
            here = (group.parent.name, group.name)
            node = group.nodes[0][0]
            fetch = COSTS.get(here)
            children, first = count, None
            if fetch is not None and via is not None and INVERSES.get(here) == via:
                pass  # the parent record itself, already loaded
            elif fetch is not None and fetch.page:
                first = self._first(definition, node)
                self._charge(count * math.ceil(first / fetch.page) * fetch.requests)
            elif fetch is not None:
                self._charge(math.ceil(count / fetch.batch) * fetch.requests)
                per = self._first(definition, node) if fetch.yields == FIRST else fetch.yields
                children = min(count * per, SATURATION)
            elif group.name == "edges" and page_first is not None:
                children = min(count * page_first, SATURATION)
            inner = [(n.selection_set, owner) for n, owner in group.nodes if n.selection_set]
            target = get_named_type(definition.type)
            if inner and isinstance(target, Composite):
                self._walk(target, inner, children, here, first)

    def _collect(self, type_: Composite, selections: list[Owned]) -> Iterable[_Group]:
        groups: dict[tuple[str, str], _Group] = {}
        seen: set[str] = set()  # a fragment is collected once per selection set, as executed
        stack: list[tuple[Composite, SelectionSetNode, str | None]] = [
            (type_, s, owner) for s, owner in reversed(selections)
        ]
        while stack:
            current, selection_set, owner = stack.pop()
            for node in selection_set.selections:
                if isinstance(node, FieldNode):
                    key = (current.name, node.alias.value if node.alias else node.name.value)
                    group = groups.setdefault(key, _Group(current, node.name.value, []))
                    group.nodes.append((node, owner))
                elif isinstance(node, InlineFragmentNode):
                    condition = node.type_condition
                    target = self._type(condition.name.value) if condition else current
                    if target is not None:
                        stack.append((target, node.selection_set, owner))
                elif isinstance(node, FragmentSpreadNode):
                    name = node.name.value
                    if name in seen or not self._follows(owner, name):
                        continue
                    seen.add(name)
                    fragment = self.fragments[name]
                    target = self._type(fragment.type_condition.name.value)
                    if target is not None:
                        stack.append((target, fragment.selection_set, name))
        return groups.values()

    def _type(self, name: str) -> Composite | None:
        found = self.schema.get_type(name)
        return found if isinstance(found, Composite) else None

    def _first(self, definition: GraphQLField, node: FieldNode) -> int:
        """``first`` as the resolver will see it, clamped to [1, max_page]: a request is made
        even for ``first: 0``, and more than ``max_page`` is refused before any."""
        argument = definition.args.get("first")
        value: Any = Undefined
        for given in node.arguments or ():
            if given.name.value != "first":
                continue
            if isinstance(given.value, IntValueNode):
                value = int(given.value.value)
            elif isinstance(given.value, VariableNode):
                name = given.value.name.value
                value = self.variables.get(name, self.defaults.get(name, Undefined))
        if not isinstance(value, int) or isinstance(value, bool):
            default = argument.default_value if argument is not None else Undefined
            value = default if isinstance(default, int) and not isinstance(default, bool) else 1
        found: int = value
        return max(1, min(found, self.max_page))


def _spreads(selection_set: SelectionSetNode) -> list[str]:
    """Names of the fragments spread anywhere in ``selection_set``, in order, once each."""
    found: dict[str, None] = {}
    stack = [selection_set]
    while stack:
        current = stack.pop()
        for node in reversed(current.selections):
            if isinstance(node, FragmentSpreadNode):
                found.setdefault(node.name.value)
            elif isinstance(node, FieldNode | InlineFragmentNode) and node.selection_set:
                stack.append(node.selection_set)
    return list(found)


def _fragment_dag(
    fragments: Mapping[str, FragmentDefinitionNode], roots: Iterable[str]
) -> tuple[list[str], set[tuple[str | None, str]]]:
    """Depth-first over the fragments reachable from ``roots``: their post-order, and the
    spreads (fragment → fragment) that close a cycle. Without those the graph is acyclic."""
    spreads = {name: _spreads(f.selection_set) for name, f in fragments.items()}
    state: dict[str, bool] = {}  # False: on the current path; True: finished
    order: list[str] = []
    cut: set[tuple[str | None, str]] = set()
    for root in roots:
        if root not in fragments or root in state:
            continue
        state[root] = False
        path = [(root, iter(spreads[root]))]
        while path:
            name, pending = path[-1]
            for child in pending:
                if child not in fragments:
                    continue
                if child not in state:
                    state[child] = False
                    path.append((child, iter(spreads[child])))
                    break
                if state[child] is False:
                    cut.add((name, child))
            else:
                path.pop()
                state[name] = True
                order.append(name)
    return order, cut

"""The response cache: whole answers of identical queries, kept until what they read changes.

A poll that the field cache answers with no upstream request still executes the whole
operation (thousands of fields). This cache keeps the encoded ``data`` of an answer instead,
keyed by everything that decides it:

- the normalised document (parsed and printed again: whitespace and comments do not count),
  the operation name and the variables (canonical JSON);
- the schema and policy in force (``salt``: the config's custom fields and roles);
- the caller's scope: its roles and its brands (what a caller may see depends on nothing else;
  its identity only on its rate budget, which a hit is charged as the operation would be).

Each entry is tagged with what the operation read through the field cache (``Served.tags``:
``r:{entity}:{source}:{id}`` per record, ``a:{kind}`` per relation or list kind) and lives until
the first field-cache entry it read stops being fresh (``Served.expires``), so a hot field is
refreshed exactly as often as without it. ``FieldCache.invalidate`` / ``forget_answers`` /
``flush`` (webhooks, the Salesforce poller, writes, ``crmgraph cache flush``) call
:meth:`ResponseCache.forget` with the same tags: entries holding that record, or a list or
relation of that kind, are dropped here and, through Redis pub/sub (:data:`CHANNEL`, heard by
``app.cache.flush.listen_for_flushes``), on every other instance. An answer computed while one
of its tags was forgotten is not kept (it may hold the old value).

Only in-process: there is no shared tier for answers (each instance fills its own).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from graphql import GraphQLError, OperationDefinitionNode, parse, print_ast
from redis.asyncio import Redis

log = logging.getLogger(__name__)

#: Redis pub/sub channel: tags forgotten on one instance, for every other one to forget.
CHANNEL = "crmgraph:cache:responses"

#: Query fields whose answers are records read through the field cache; an operation selecting
#: anything else (sources, cache figures, sync jobs, introspection) is not kept.
CACHEABLE_ROOTS = frozenset(
    {"node", "customer", "customers", "lead", "leads", "ticket", "tickets", "playerStats"}
)
#: Forgotten tag sets remembered, to tell whether an answer being computed read something
#: forgotten meanwhile (older than that: assume it did).
_REMEMBERED = 1024


@dataclass(frozen=True, slots=True)
class Operation:
    """A query document as the cache keys it: its normalised text and the operation's name."""

    text: str
    name: str | None


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer kept: the encoded JSON of its ``data``, and what it is charged and tagged."""

    data: bytes
    stored_at: float
    expires_at: float
    tags: frozenset[str]
    cost: int


class ResponseCache:
    def __init__(
        self,
        *,
        max_entries: int = 1000,
        max_bytes: int = 64 * 2**20,
        salt: str = "",
        redis: Redis | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.salt = salt
        self.redis = redis
        self.clock = clock
        #: Names this instance in what it publishes, so it ignores its own messages.
        self.origin = uuid.uuid4().hex
        self._entries: OrderedDict[str, Answer] = OrderedDict()  # least recently used first
        self._by_tag: dict[str, set[str]] = {}
        self._bytes = 0
        # Parsed and printed once per raw text; None: not a single query.
        self._documents: LRUCache[tuple[str, str | None], Operation | None] = LRUCache(1000)
        self._seq = 0
        self._forgotten: deque[tuple[int, frozenset[str] | None]] = deque(maxlen=_REMEMBERED)
        self.hits = 0
        self.misses = 0
        self.stored = 0
        self.dropped = 0
        self.publish_errors = 0

    def __len__(self) -> int:
        return len(self._entries)

    # -- keys ------------------------------------------------------------------------------------

    def operation(self, query: str, operation_name: str | None) -> Operation | None:
        """The query operation ``operation_name`` picks from ``query``; None for a mutation,
        a subscription, or a document GraphQL would refuse (it is executed as usual)."""
        raw = (query, operation_name)
        if raw in self._documents:
            return self._documents[raw]
        found = _normalised(query, operation_name)
        if len(query) <= 20_000:  # remembered for texts of a usual size only
            self._documents[raw] = found
        return found

    def key(
        self,
        operation: Operation,
        variables: dict[str, Any] | None,
        roles: Iterable[str],
        brands: Collection[str] | None,
    ) -> str:
        scope = [
            self.salt,
            operation.text,
            operation.name,
            variables or {},
            sorted(set(roles)),
            None if brands is None else sorted(brands),
        ]
        text = json.dumps(scope, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    # -- entries ---------------------------------------------------------------------------------

    def get(self, key: str) -> Answer | None:
        answer = self._entries.get(key)
        if answer is not None and answer.expires_at <= self.clock():
            self._remove(key)
            answer = None
        if answer is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return answer

    def begin(self) -> int:
        """A mark to give :meth:`put`: forgets after it make the answer computed since unsafe."""
        return self._seq

    def put(self, key: str, answer: Answer, since: int) -> bool:
        """Keep ``answer`` unless it has expired already, is too large, or read something
        forgotten since ``since``; whether it was kept."""
        if answer.expires_at <= self.clock() or len(answer.data) > self.max_bytes // 4:
            return False
        if self._forgotten_since(since, answer.tags):
            return False
        self._remove(key)
        self._entries[key] = answer
        self._bytes += len(answer.data)
        for tag in answer.tags:
            self._by_tag.setdefault(tag, set()).add(key)
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            self._remove(next(iter(self._entries)))
        self.stored += 1
        return True

    # -- invalidation ----------------------------------------------------------------------------

    async def forget(self, tags: Collection[str] | None) -> None:
        """Drop the answers tagged with any of ``tags`` (None: every answer) here, and tell
        every other instance to do the same."""
        self.drop(tags)
        if self.redis is None:
            return
        message = json.dumps({"origin": self.origin, "tags": None if tags is None else list(tags)})
        try:
            await self.redis.publish(CHANNEL, message)
        except Exception as exc:  # Redis away: other instances' answers expire with their TTL
            self.publish_errors += 1
            if self.publish_errors == 1 or self.publish_errors % 100 == 0:
                log.warning(
                    "response cache: could not tell other instances (%d times): %s",
                    self.publish_errors,
                    type(exc).__name__,
                )

    def heard(self, message: bytes | str) -> bool:
        """A message of :data:`CHANNEL`: another instance's forgotten tags, dropped here too;
        False for this instance's own."""
        body = json.loads(message)
        if not isinstance(body, dict) or body.get("origin") == self.origin:
            return False
        self.drop(body.get("tags"))
        return True

    def drop(self, tags: Collection[str] | None) -> int:
        """Drop, in this process, the answers tagged with any of ``tags`` (None: all)."""
        self._seq += 1
        self._forgotten.append((self._seq, None if tags is None else frozenset(tags)))
        if tags is None:
            doomed: set[str] = set(self._entries)
        else:
            doomed = set().union(*(self._by_tag.get(t, ()) for t in tags))
        for key in doomed:
            self._remove(key)
        self.dropped += len(doomed)
        return len(doomed)

    def _forgotten_since(self, since: int, tags: frozenset[str]) -> bool:
        if self._seq == since:
            return False
        if not self._forgotten or self._forgotten[0][0] > since + 1:
            return True  # more was forgotten than remembered: assume it touched this answer
        for seq, forgotten in reversed(self._forgotten):
            if seq <= since:
                break
            if forgotten is None or not forgotten.isdisjoint(tags):
                return True
        return False

    def _remove(self, key: str) -> None:
        answer = self._entries.pop(key, None)
        if answer is None:
            return
        self._bytes -= len(answer.data)
        for tag in answer.tags:
            keys = self._by_tag.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_tag[tag]


def _normalised(query: str, operation_name: str | None) -> Operation | None:
    try:
        document = parse(query, no_location=True)
    except GraphQLError:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation.value != "query":
        return None
    chosen = operations[0]
    return Operation(print_ast(document), chosen.name.value if chosen.name else None)


def salt(*parts: object) -> str:
    """A fingerprint of what, beside the request, shapes every answer (the schema's custom
    fields, the roles in force): two configs never share a key."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


__all__ = ["CACHEABLE_ROOTS", "CHANNEL", "Answer", "Operation", "ResponseCache", "salt"]

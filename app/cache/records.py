"""The read-through field cache between the loaders and the connectors.

``FieldCache.records`` answers a batch of ids for the field groups a request needs: fresh
entries from this process or Redis, and only what is missing or expired from the CRM, asking
it for those groups' fields alone. Concurrent requests for the same record and group share one
upstream call (single flight), across requests. When the CRM fails, an entry past its TTL but
within ``max_stale`` is served and reported (``Served.stale``), never silently.

``FieldCache.relations`` does the same for relation and list answers (which ids a customer's
tickets are, a page of a list): cached with the TTL of the fastest group they feed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from app.cache.groups import ALWAYS, FieldGroups, Group
from app.cache.stats import CacheStats
from app.cache.tier import Entry, Tier
from app.connectors.errors import UpstreamError
from app.domain.entities import make, value_of
from app.domain.ids import ExternalRef, NodeId
from app.domain.models import Customer, Lead, PlayerStats, Ticket
from app.resilience import breaker

if TYPE_CHECKING:
    from app.cache.responses import ResponseCache

log = logging.getLogger(__name__)

T = TypeVar("T")
Record = Customer | Lead | Ticket | PlayerStats
Fetch = Callable[[list[str], frozenset[str]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class StaleServe:
    entity: str
    source: str
    id: str
    age_seconds: float


@dataclass(slots=True)
class Served:
    """One request's view of the cache: what it was answered past freshness (for extensions),
    and the entries it fetched itself, which stay fresh for the rest of the request however
    short their TTL."""

    stale: list[StaleServe] = field(default_factory=list)
    fetched: set[str] = field(default_factory=set)
    #: This request's fresh hits and misses per (entity, group), for ``extensions.explain``.
    hits: Counter[tuple[str, str]] = field(default_factory=Counter)
    misses: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: What the request read, for the response cache (app.cache.responses): the records
    #: (``r:{entity}:{source}:{id}``) and the kinds of relation and list answers (``a:{kind}``).
    tags: set[str] = field(default_factory=set)
    #: When the first entry the request read stops being fresh (epoch seconds).
    expires: float = math.inf


def build(
    entity: str, source: str, native: str, values: dict[str, Any], problems: dict[str, str]
) -> Any:
    if entity == "customer":
        ref = ExternalRef(source, native)
        node = NodeId(source, native)
        return make(Customer, values, id=node, external_refs=[ref], problems=problems)
    if entity == "lead":
        return make(Lead, values, id=NodeId(source, native), problems=problems)
    if entity == "ticket":
        return make(Ticket, values, id=NodeId(source, native), problems=problems)
    return make(PlayerStats, values, player_id=native, problems=problems)


def native_id(record: Any) -> str:
    return str(record.player_id) if isinstance(record, PlayerStats) else record.id.native


def split(record: Any, group: Group) -> dict[str, Any]:
    """The part of ``record`` one group entry holds."""
    wanted = group.fetched
    return {
        "values": {f: value_of(record, f) for f in wanted},
        "problems": {f: p for f, p in record.problems.items() if f in wanted},
    }


@dataclass(slots=True)
class _Flight(Generic[T]):
    future: asyncio.Future[T]


class FieldCache:
    def __init__(
        self,
        groups: FieldGroups,
        local: Tier,
        shared: Tier | None = None,
        *,
        max_stale: float = 600.0,
        clock: Callable[[], float] = time.time,
        stats: CacheStats | None = None,
    ) -> None:
        self.groups = groups
        self.local = local
        self.shared = shared
        self.max_stale = max_stale
        self.clock = clock
        self.stats = stats or CacheStats()
        self._flights: dict[str, asyncio.Future[Entry | None]] = {}
        #: While Redis keeps failing (down, or not answering within ``redis_timeout``), reads
        #: and writes of entries skip it instead of each waiting out the timeout; one probe
        #: every few seconds finds it back. Forgetting (deletes) always tries.
        self.shared_breaker = breaker.for_redis()
        #: Whole answers built from these entries, forgotten with them (when it is on).
        self.responses: ResponseCache | None = None

    # -- records ---------------------------------------------------------------------------------

    async def records(
        self,
        entity: str,
        source: str,
        ids: Iterable[str],
        fields: Iterable[str],
        fetch: Fetch,
        served: Served,
    ) -> dict[str, Any]:
        """The records of ``ids`` that exist, with every group ``fields`` needs."""
        ids = list(dict.fromkeys(ids))
        groups = self.groups.needed(entity, fields)
        keys = {
            (i, g.name): self.record_key(entity, source, i, g.name) for i in ids for g in groups
        }
        entries: dict[str, Entry | None] = dict(await self._read(list(keys.values())))
        now = self.clock()
        by_name = {g.name: g for g in groups}

        wanted: dict[frozenset[str], list[str]] = {}
        for native in ids:
            missing = frozenset(
                g.name
                for g in groups
                if keys[(native, g.name)] not in served.fetched
                and not _fresh(entries.get(keys[(native, g.name)]), g.ttl, now)
            )
            for g in groups:
                counter = self.stats.misses if g.name in missing else self.stats.hits
                counter[(entity, g.name)] += 1
                mine = served.misses if g.name in missing else served.hits
                mine[(entity, g.name)] += 1
            if missing:
                wanted.setdefault(missing, []).append(native)

        for names, natives in wanted.items():
            needed = [by_name[n] for n in sorted(names)]
            got = await self._fetch_records(entity, source, natives, needed, fetch, keys, served)
            entries.update(got)

        found: dict[str, Any] = {}
        expires = served.expires
        for native in ids:
            parts = [entries.get(keys[(native, g.name)]) for g in groups]
            if any(p is None for p in parts):
                continue
            values: dict[str, Any] = {}
            problems: dict[str, str] = {}
            for g, part in zip(groups, parts, strict=True):
                assert part is not None
                expires = min(expires, part.fetched_at + g.ttl)
                values.update(part.value["values"])
                problems.update(part.value["problems"])
            found[native] = build(entity, source, native, values, problems)
        served.expires = expires
        return found

    async def _fetch_records(
        self,
        entity: str,
        source: str,
        natives: list[str],
        groups: list[Group],
        fetch: Fetch,
        keys: dict[tuple[str, str], str],
        served: Served,
    ) -> dict[str, Entry | None]:
        """Fetch ``groups`` of ``natives``, sharing in-flight fetches of other requests."""
        mine: list[str] = []
        theirs: dict[str, asyncio.Future[Entry | None]] = {}
        for native in natives:
            flights = [self._flights.get(keys[(native, g.name)]) for g in groups]
            if all(f is not None for f in flights):
                for g, f in zip(groups, flights, strict=True):
                    assert f is not None
                    theirs[keys[(native, g.name)]] = f
            else:
                mine.append(native)
        loop = asyncio.get_running_loop()
        started = {keys[(n, g.name)]: loop.create_future() for n in mine for g in groups}
        for key, future in started.items():
            self._flights.setdefault(key, future)
        result: dict[str, Entry | None] = {}
        try:
            if mine:
                fields = frozenset().union(*(g.fetched for g in groups))
                try:
                    records = await fetch(mine, fields)
                except UpstreamError as exc:
                    stale = await self._stale(
                        entity,
                        source,
                        [keys[(n, g.name)] for n in mine for g in groups],
                        groups,
                        served,
                        exc,
                    )
                    result.update(stale)
                else:
                    now = self.clock()
                    fresh = {
                        keys[(n, g.name)]: Entry(split(records[n], g), now)
                        for n in mine
                        if n in records
                        for g in groups
                    }
                    await self._write(fresh, groups)
                    served.fetched.update(fresh)
                    result.update({k: fresh.get(k) for k in started})
            for key, future in started.items():
                if not future.done():
                    future.set_result(result.get(key))
        except BaseException as exc:
            for future in started.values():
                if not future.done():
                    future.set_exception(exc)
                    future.exception()  # retrieved: a flight nobody joined logs nothing
            raise
        finally:
            for key, future in started.items():
                if self._flights.get(key) is future:
                    del self._flights[key]
        for key, future in theirs.items():
            result[key] = await asyncio.shield(future)
        return result

    async def _stale(
        self,
        entity: str,
        source: str,
        keys: list[str],
        groups: list[Group],
        served: Served,
        error: UpstreamError,
    ) -> dict[str, Entry | None]:
        """Entries past their TTL but within max_stale, for a source that just failed; the
        error again if any record has none."""
        entries = await self._read(keys)
        now = self.clock()
        for key in keys:
            entry = entries.get(key)
            if entry is None or now - entry.fetched_at > self.max_stale:
                raise error
        seen: set[str] = set()
        for key in keys:
            entry = entries[key]
            _, _, _, native, group = key.split(":", 4)
            self.stats.stale[(entity, group)] += 1
            if native not in seen:
                seen.add(native)
                served.stale.append(
                    StaleServe(entity, source, native, round(now - entry.fetched_at, 3))
                )
        log.warning(
            "served stale records",
            extra={"entity": entity, "source": source, "records": len(seen), "error": str(error)},
        )
        return dict(entries)

    # -- relations and lists ---------------------------------------------------------------------

    async def relations(
        self,
        kind: str,
        source: str,
        keys: list[str],
        ttl: float,
        compute: Callable[[list[str]], Awaitable[dict[str, Any]]],
        served: Served,
    ) -> dict[str, Any]:
        """Relation answers (plain JSON-able data) for a batch of ``keys``: fresh ones from the
        cache, the rest from one ``compute`` call; a failing source answers from the last
        values within max_stale, reported in ``served``."""
        full = {k: answer_key(kind, source, k) for k in keys}
        entries = await self._read(list(full.values()))
        now = self.clock()
        found: dict[str, Any] = {}
        missing: list[str] = []
        for key in keys:
            entry = entries.get(full[key])
            if _fresh(entry, ttl, now):
                assert entry is not None
                found[key] = entry.value
                served.expires = min(served.expires, entry.fetched_at + ttl)
            else:
                missing.append(key)
        if not missing:
            return found
        # Single flight: a key another request is computing already is awaited, not asked again.
        theirs = {k: self._flights[full[k]] for k in missing if full[k] in self._flights}
        mine = [k for k in missing if k not in theirs]
        loop = asyncio.get_running_loop()
        flights = {k: loop.create_future() for k in mine}
        for key, future in flights.items():
            self._flights[full[key]] = future
        try:
            computed = await compute(mine) if mine else {}
        except UpstreamError:
            for future in flights.values():
                future.set_result(None)
            for key in mine:
                entry = entries.get(full[key])
                if entry is None or now - entry.fetched_at > self.max_stale:
                    raise
            for key in mine:
                entry = entries[full[key]]
                served.stale.append(StaleServe(kind, source, key, round(now - entry.fetched_at, 3)))
                served.expires = min(served.expires, entry.fetched_at + ttl)
                found[key] = entry.value
        except BaseException as exc:
            for future in flights.values():
                future.set_exception(exc)
                future.exception()  # retrieved here, so an unawaited flight logs nothing
            raise
        else:
            stamp = self.clock()
            fresh = {full[k]: Entry(v, stamp) for k, v in computed.items()}
            await self._store(fresh, ttl)
            for key, future in flights.items():
                future.set_result(fresh.get(full[key]))
            found.update(computed)
            if computed:
                served.expires = min(served.expires, stamp + ttl)
        finally:
            for key, future in flights.items():
                if self._flights.get(full[key]) is future:
                    del self._flights[full[key]]
        for key, flight in theirs.items():
            shared = await asyncio.shield(flight)
            if shared is None:  # their computation failed: ours answers the same way
                raise _SharedFlightFailed(kind, source)
            served.expires = min(served.expires, shared.fetched_at + ttl)
            found[key] = shared.value
        return found

    async def put_records(
        self,
        entity: str,
        source: str,
        records: Iterable[Any],
        fields: Iterable[str],
        served: Served,
    ) -> None:
        """Store records fetched by another route (a relation, a list) under the groups whose
        fields they were fetched with."""
        fetched = set(fields)
        groups = [
            g
            for g in self.groups.by_entity[entity].values()
            if g.fetched <= fetched | ALWAYS[entity]
        ]
        if not groups:
            return
        now = self.clock()
        entries = {
            self.record_key(entity, source, native_id(r), g.name): Entry(split(r, g), now)
            for r in records
            for g in groups
        }
        if entries:
            await self._write(entries, groups)
            served.fetched.update(entries)

    async def previous(self, kind: str, source: str, key: str) -> Any:
        """The last answer of a relation or list, fresh or not (None if there is none)."""
        entry = (await self._read([answer_key(kind, source, key)])).get(
            answer_key(kind, source, key)
        )
        return None if entry is None else entry.value

    async def fresh_groups(self, entity: str, source: str, ids: list[str]) -> set[str]:
        """The groups of ``entity`` fresh for every one of ``ids``."""
        groups = list(self.groups.by_entity[entity].values())
        keys = [self.record_key(entity, source, i, g.name) for i in ids for g in groups]
        entries = await self._read(keys)
        now = self.clock()
        return {
            g.name
            for g in groups
            if ids
            and all(
                _fresh(entries.get(self.record_key(entity, source, i, g.name)), g.ttl, now)
                for i in ids
            )
        }

    def fields_for(
        self, entity: str, fields: Iterable[str], skip: Iterable[str] = ()
    ) -> frozenset[str]:
        """The fields to fetch so that whole groups can be cached (less the ``skip`` groups)."""
        skipped = set(skip)
        needed = [g for g in self.groups.needed(entity, fields) if g.name not in skipped]
        return frozenset(ALWAYS[entity]).union(*(g.fetched for g in needed))

    # -- keys, tiers, invalidation ---------------------------------------------------------------

    @staticmethod
    def record_key(entity: str, source: str, native: str, group: str) -> str:
        return f"r:{entity}:{source}:{native}:{group}"

    async def invalidate(
        self, entity: str, source: str, native: str, group: str | None = None
    ) -> None:
        """Forget one record (one group, or all of its groups); used by webhooks and writes."""
        names = [group] if group else list(self.groups.by_entity[entity])
        keys = [self.record_key(entity, source, native, g) for g in names]
        await self.local.delete(keys)
        if self.shared is not None:
            await self._shared(self.shared.delete(keys))
        if self.responses is not None:
            await self.responses.forget({record_tag(entity, source, native)})

    async def forget_answers(self, *kinds: str) -> None:
        """Forget every relation and list answer of ``kinds`` (after a write that may change
        which records they hold: a ticket's new status moves it between filtered lists)."""
        for kind in kinds:
            prefix = f"a:{kind}:"
            await self.local.delete_prefix(prefix)
            if self.shared is not None:
                await self._shared(self.shared.delete_prefix(prefix))
        if self.responses is not None and kinds:
            await self.responses.forget({answers_tag(k) for k in kinds})

    async def flush(self, entity: str | None = None) -> int:
        """Forget every record (of one entity) and every relation and list answer."""
        prefixes = [f"r:{entity}:"] if entity else ["r:"]
        prefixes += ["a:"]
        removed = 0
        for prefix in prefixes:
            removed += await self.local.delete_prefix(prefix)
            if self.shared is not None:
                removed += await self._shared(self.shared.delete_prefix(prefix)) or 0
        if self.responses is not None:
            await self.responses.forget(None)
        return removed

    async def _read(self, keys: list[str]) -> dict[str, Entry]:
        found = await self.local.get_many(keys)
        missing = [k for k in keys if k not in found]
        if missing and self.shared is not None:
            shared = await self._shared(self.shared.get_many(missing), skippable=True) or {}
            if shared:
                found.update(shared)
                await self.local.set_many(shared, self.max_stale)
        return found

    async def _write(self, entries: Mapping[str, Entry | None], groups: list[Group]) -> None:
        present = {k: e for k, e in entries.items() if e is not None}
        if present:
            await self._store(present, max(g.ttl for g in groups))

    async def _store(self, entries: dict[str, Entry], ttl: float) -> None:
        keep = ttl + self.max_stale
        await self.local.set_many(entries, keep)
        if self.shared is not None:
            await self._shared(self.shared.set_many(entries, keep), skippable=True)

    async def _shared(self, call: Coroutine[Any, Any, T], skippable: bool = False) -> T | None:
        """A call to Redis; when it fails the first tier and the CRMs carry on. A
        ``skippable`` one is not made while the breaker is open."""
        if skippable and not self.shared_breaker.allow():
            call.close()
            self.stats.shared_skipped += 1
            return None
        try:
            with self.shared_breaker.attempt((Exception,)):
                return await call
        except Exception as exc:  # TierUnavailable and anything the client raises
            self.stats.shared_errors += 1
            if self.stats.shared_errors == 1 or self.stats.shared_errors % 100 == 0:
                log.warning("shared cache tier unavailable: %s", type(exc).__name__)
            return None


class _SharedFlightFailed(UpstreamError):
    def __init__(self, kind: str, source: str) -> None:
        super().__init__(source, f"the shared {kind} fetch failed")


def _fresh(entry: Entry | None, ttl: float, now: float) -> bool:
    return entry is not None and now - entry.fetched_at < ttl


def answer_key(kind: str, *parts: object) -> str:
    return "a:" + kind + ":" + ":".join(str(p) for p in parts)


def record_tag(entity: str, source: str, native: str) -> str:
    """The tag of a response that read this record (see ``Served.tags``)."""
    return f"r:{entity}:{source}:{native}"


def answers_tag(kind: str) -> str:
    """The tag of a response that read a relation or list answer of ``kind``."""
    return f"a:{kind}"


__all__ = [
    "ALWAYS",
    "FieldCache",
    "Served",
    "StaleServe",
    "answer_key",
    "answers_tag",
    "record_tag",
]

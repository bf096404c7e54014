"""Persisted queries: Apollo's automatic protocol, and a safelist of registered operations.

APQ: a client sends ``extensions.persistedQuery.sha256Hash``; the first time also with the
query, afterwards without it. An unknown hash answers ``PERSISTED_QUERY_NOT_FOUND`` and the
client sends both. In ``safelist`` mode only the operations of the safelist file run, whether
sent by hash or in full.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from cachetools import LRUCache

from app.config import PersistedQueries


class PersistedQueryError(Exception):
    def __init__(self, message: str, code: str = "PERSISTED_QUERY_NOT_FOUND") -> None:
        super().__init__(message)
        self.code = code


def sha256(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


class PersistedQueryStore:
    def __init__(self, settings: PersistedQueries) -> None:
        self.mode = settings.mode
        self.known: MutableMapping[str, str] = LRUCache(maxsize=settings.cache_size)
        self.safelist: dict[str, str] = {}
        if settings.mode == "safelist" and settings.safelist_file is not None:
            self.safelist = load_safelist(settings.safelist_file)

    def resolve(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload with its query in place, or PersistedQueryError."""
        persisted = (payload.get("extensions") or {}).get("persistedQuery")
        query = payload.get("query")
        if self.mode == "off":
            return payload
        if self.mode == "safelist":
            return self._safelisted(payload, persisted, query)
        if not isinstance(persisted, dict):
            return payload
        digest = _digest(persisted)
        if isinstance(query, str):
            if sha256(query) != digest:
                raise PersistedQueryError("provided sha does not match query", "BAD_USER_INPUT")
            self.known[digest] = query
            return payload
        found = self.known.get(digest)
        if found is None:
            raise PersistedQueryError("PersistedQueryNotFound")
        return {**payload, "query": found}

    def _safelisted(self, payload: dict[str, Any], persisted: Any, query: Any) -> dict[str, Any]:
        if isinstance(query, str):
            digest = sha256(query)
        elif isinstance(persisted, dict):
            digest = _digest(persisted)
        else:
            raise PersistedQueryError("only registered operations run here: send its hash")
        found = self.safelist.get(digest)
        if found is None:
            raise PersistedQueryError("only registered operations run here")
        return {**payload, "query": found}


def _digest(persisted: dict[str, Any]) -> str:
    if persisted.get("version") != 1 or not isinstance(persisted.get("sha256Hash"), str):
        raise PersistedQueryError(
            "persistedQuery needs version 1 and a sha256Hash", "BAD_USER_INPUT"
        )
    return str(persisted["sha256Hash"]).lower()


def load_safelist(path: Path) -> dict[str, str]:
    """A JSON object ``{sha256: query}``; every hash is checked against its query."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the safelist must be a JSON object of sha256 → query")
    for digest, query in data.items():
        if not isinstance(query, str) or sha256(query) != digest.lower():
            raise ValueError(f"{path}: the hash {digest[:12]}… does not match its query")
    return {k.lower(): v for k, v in data.items()}

"""Known operations: each distinct operation text is parsed and validated once per schema.

A dashboard polls the same text again and again; parsing and validating it (~1 ms and ~5 ms)
each time is work thrown away. Only what succeeded is kept, so an error is always produced
afresh, with this request's location and wording (``schema.suggestions`` edits messages per
role). An operation over the caller's token limit is never served from here: its parse is
told to stop (``RequestPlan.on_parse``), as if the text were new.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar
from weakref import WeakKeyDictionary

from cachetools import LRUCache
from graphql import DocumentNode
from strawberry.extensions import SchemaExtension

#: Distinct operation texts kept per schema; the least recently used go first.
CAPACITY = 1024


class Known:
    """One schema's parsed documents, and the (text, rules) pairs known to be valid."""

    def __init__(self) -> None:
        self.documents: LRUCache[str, DocumentNode] = LRUCache(CAPACITY)
        self.valid: LRUCache[tuple[str, tuple[Any, ...]], bool] = LRUCache(CAPACITY)


_known: WeakKeyDictionary[Any, Known] = WeakKeyDictionary()


def known_for(schema: Any) -> Known:
    known = _known.get(schema)
    if known is None:
        known = _known[schema] = Known()
    return known


class KnownDocuments(SchemaExtension):
    #: Off only to measure what it saves (``make bench``).
    enabled: ClassVar[bool] = True

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        text = ctx.query
        known = known_for(ctx.schema)
        if not self.enabled:
            text = None
        if text and ctx.graphql_document is None and "max_tokens" not in ctx.parse_options:
            ctx.graphql_document = known.documents.get(text)
        yield
        if text and ctx.graphql_document is not None and "max_tokens" not in ctx.parse_options:
            known.documents[text] = ctx.graphql_document

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        text = ctx.query
        key = (text or "", tuple(ctx.validation_rules))
        known = known_for(ctx.schema)
        if self.enabled and text and ctx.pre_execution_errors is None and key in known.valid:
            ctx.pre_execution_errors = []
        yield
        if text and ctx.pre_execution_errors == []:
            known.valid[key] = True

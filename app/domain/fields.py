"""How a domain model declares each field it fetches: the one place a field is described.

A model's fields declared with :func:`attr` are its domain fields: fetched from the CRM by
name, cached in a group, projected, governed by roles. Everything the gateway knows of a field
(its cache group, whether every fetch carries it, whether the schema shows it, whether it is
personal data) is said here, once; :mod:`app.domain.entities` reads it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

#: Tags that default roles key on: ``personal`` data and ``money`` figures.
Tag = Literal["personal", "money"]


@dataclass(frozen=True, slots=True)
class Attr:
    #: ``hot`` fields change often and are cached briefly; ``cold`` ones for minutes.
    group: Literal["hot", "cold"] = "cold"
    #: Carried in every fetch and every cache group: brand scope and linking need it.
    always: bool = False
    #: Shown in the GraphQL type (a field only used for linking is not).
    graphql: bool = True
    #: Non-null in the schema: every record has it (a missing value is an error there).
    required: bool = False
    #: A list filter takes it (and so reveals it: a role must be able to read it).
    filterable: bool = False
    tags: frozenset[Tag] = frozenset()


def attr(
    *,
    hot: bool = False,
    always: bool = False,
    graphql: bool = True,
    required: bool = False,
    filterable: bool = False,
    tags: frozenset[Tag] = frozenset(),
) -> Any:
    """A domain field (default ``None``: not fetched, or the CRM holds no value)."""
    meta = Attr("hot" if hot else "cold", always, graphql, required, filterable, tags)
    return dataclasses.field(default=None, metadata={"crmgraph": meta})


PERSONAL: frozenset[Tag] = frozenset({"personal"})
MONEY: frozenset[Tag] = frozenset({"money"})

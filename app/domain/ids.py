"""Global ids: ``"<source>:<native id>"``, e.g. ``"hubspot:151"``."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SOURCE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_NATIVE = re.compile(r"^[A-Za-z0-9._@+\-]{1,128}$")


class InvalidId(ValueError):
    """An id that is not ``<source>:<native id>``."""


@dataclass(frozen=True, slots=True, order=True)
class NodeId:
    source: str
    native: str

    @classmethod
    def parse(cls, value: str) -> NodeId:
        source, sep, native = value.partition(":")
        if not sep or not _SOURCE.match(source) or not _NATIVE.match(native):
            raise InvalidId(
                f"{value[:80]!r} is not a valid id: expected '<source>:<id>', e.g. 'hubspot:151'"
            )
        return cls(source, native)

    def __str__(self) -> str:
        return f"{self.source}:{self.native}"


@dataclass(frozen=True, slots=True)
class ExternalRef:
    """Where one record of an entity lives: the source and its native id there."""

    source: str
    id: str

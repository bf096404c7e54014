"""Who is calling: the result of authentication, whatever the credential was."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ALL_BRANDS = "*"


@dataclass(frozen=True, slots=True)
class Principal:
    """A caller. ``subject`` names it in logs and audit events (an API key's id, a token's
    subject); ``brands`` is None when the caller may see every brand."""

    subject: str
    kind: Literal["api_key", "jwt", "anonymous"]
    roles: tuple[str, ...]
    brands: frozenset[str] | None
    #: When the credential stops being valid (epoch seconds; a token's ``exp`` plus leeway).
    expires_at: float | None = None

    def sees_brand(self, brand: str | None) -> bool:
        """A record of no known brand is visible only to callers of every brand."""
        if self.brands is None:
            return True
        return brand is not None and brand in self.brands

    def brand_filter(self, wanted: tuple[str, ...] | None) -> tuple[str, ...] | None:
        """The brands a list may show: the caller's, narrowed by the filter it asked for."""
        if self.brands is None:
            return wanted
        if wanted is None:
            return tuple(sorted(self.brands))
        return tuple(sorted(set(wanted) & self.brands))


def brands_of(values: tuple[str, ...] | list[str]) -> frozenset[str] | None:
    return None if ALL_BRANDS in values else frozenset(values)


#: The principal of the process itself (the demo's simulators, maintenance commands).
SYSTEM = Principal(subject="system", kind="anonymous", roles=("admin",), brands=None)

#: A principal with no role and no brand: reads nothing, sees nothing.
NOBODY = Principal(subject="nobody", kind="anonymous", roles=(), brands=frozenset())

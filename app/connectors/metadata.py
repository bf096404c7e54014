"""What a live check of one source found: a config path, a message, how bad it is.

``error``: something the config or the field maps name that the CRM does not have — reads or
writes that use it fail. ``warning``: something the CRM cannot do that crmgraph refuses
cleanly before calling it (a status of ours the org has no value for).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Finding:
    path: str
    message: str
    severity: Literal["error", "warning"] = "error"

"""Proof that the suite needs nothing outside the repository: an audit hook refusing to open
or list anything in the ``shared`` folder that sits beside the clone on the machines this
project is developed on (a user's clone has no such folder; the specs the tests read are
vendored in ``tests/contract/specs``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

#: The sibling folder, resolved: ``<clone>/../shared``.
SHARED = str((Path(__file__).resolve().parents[2] / "shared").resolve())
_EVENTS = frozenset({"open", "os.listdir", "os.scandir"})
_installed = False


def _refuse_shared(event: str, args: tuple[Any, ...]) -> None:
    if event not in _EVENTS or not args:
        return
    path = args[0]
    if path is None or isinstance(path, int):  # listdir(None) is the cwd; an int is an fd
        return
    real = os.path.realpath(os.fsdecode(path))
    if real == SHARED or real.startswith(SHARED + os.sep):
        raise PermissionError(
            f"the test suite may not read {real}: it lies in {SHARED}, which a user's clone "
            "does not have; vendor what the tests need under tests/ instead"
        )


def install() -> None:
    """Install the hook, once per process (audit hooks cannot be removed)."""
    global _installed
    if not _installed:
        sys.addaudithook(_refuse_shared)
        _installed = True

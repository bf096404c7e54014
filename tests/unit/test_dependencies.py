"""Dependencies whose absence costs nothing but time, so no other test would notice."""

from __future__ import annotations

import asyncio
import sys

from httpcore._synchronization import current_async_library


def test_httpcore_finds_sniffio_instead_of_searching_for_it_on_every_call() -> None:
    """Without sniffio, each of httpcore's locks and events was a failed import that walked
    sys.path (~180 stat calls per dashboard)."""

    async def asked() -> str:
        return current_async_library()

    assert asyncio.run(asked()) == "asyncio"
    assert "sniffio" in sys.modules

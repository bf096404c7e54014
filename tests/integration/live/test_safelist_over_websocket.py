"""A websocket's operations pass the safelist and the token limit as HTTP's do, and a refused
one costs no upstream call."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from app.simulators.server import RunningSimulators
from tests.integration.live.conftest import serve_live
from tests.upstreams import Upstreams

LISTED = "{ sources { name } }"


async def test_an_unlisted_query_over_the_websocket_is_refused_before_any_upstream_call(
    simulators: RunningSimulators,
    keys_file: Path,
    connect_as: Any,
    tmp_path: Path,
    upstreams: Upstreams,
) -> None:
    safelist = tmp_path / "safelist.json"
    safelist.write_text(json.dumps({hashlib.sha256(LISTED.encode()).hexdigest(): LISTED}))
    persisted = {"mode": "safelist", "safelist_file": str(safelist)}
    async with serve_live(simulators.base_url, keys_file, persisted_queries=persisted) as served:
        client = await connect_as(served, "admin")
        await client.subscribe('{ customer(id: "hubspot:1001") { id email } }', id="unlisted")
        refused = await client.next("unlisted")
        assert (await client.receive())["type"] == "complete"
        await client.subscribe(LISTED, id="listed")
        listed = await client.next("listed")
    assert refused["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert refused["data"] is None
    assert listed["data"]["sources"]
    assert await upstreams.total() == 0


async def test_a_token_flood_over_the_websocket_is_too_complex(
    simulators: RunningSimulators, keys_file: Path, connect_as: Any, upstreams: Upstreams
) -> None:
    flood = '{ customer(id: "hubspot:1001") { ' + "id " * 5000 + "} }"
    async with serve_live(simulators.base_url, keys_file) as served:
        client = await connect_as(served, "admin")
        await client.subscribe(flood, id="flood")
        message = await client.receive()
    assert message["type"] == "error", message
    (error,) = message["payload"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["limit"] == "tokens"
    assert await upstreams.total() == 0

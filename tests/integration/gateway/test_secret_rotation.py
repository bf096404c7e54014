"""An upstream credential in a secret file rotates without a restart."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.simulators.credentials import HUBSPOT_TOKEN
from app.simulators.server import RunningSimulators
from tests.integration.gateway.conftest import serve_gateway

QUERY = '{ customer(id: "hubspot:1001") { name } }'


async def test_a_rewritten_secret_file_is_used_at_the_next_request(
    simulators: RunningSimulators, keys_file: Path, keys: dict[str, str], tmp_path: Path
) -> None:
    token_file = tmp_path / "hubspot_token"
    token_file.write_text("a-token-hubspot-does-not-know\n")
    config = _with_token_file(simulators.base_url, token_file)
    with serve_gateway(simulators.base_url, keys_file, sources=config) as url:
        async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": keys["admin"]}) as client:
            before = (await client.post("/graphql", json={"query": QUERY})).json()
            token_file.write_text(HUBSPOT_TOKEN + "\n")
            after = (await client.post("/graphql", json={"query": QUERY})).json()
    assert before["data"] == {"customer": None}
    assert before["errors"][0]["extensions"] == {
        "code": "UPSTREAM_UNAVAILABLE",
        "source": "hubspot",
    }
    assert "a-token-hubspot-does-not-know" not in str(before)
    assert after["data"]["customer"]["name"]


def _with_token_file(simulators_url: str, token_file: Path) -> dict[str, object]:
    from app.demo import demo_config

    sources = dict(demo_config(simulators_url)["sources"])  # type: ignore[call-overload]
    sources["hubspot"] = {**sources["hubspot"], "auth": {"token": {"file": str(token_file)}}}
    return sources

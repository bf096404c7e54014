"""With Redis configured the queue is a Redis Stream: the gateway stores deliveries there,
de-duplicates with a key per event id, and its worker applies them; dead letters are kept in
Redis and `crmgraph dlq` reads them from there."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml
from redis.asyncio import Redis

from app.cli import build_parser
from app.simulators.server import RunningSimulators
from app.webhooks.store import RedisEventStore
from tests.integration.gateway.conftest import gateway_config
from tests.integration.webhooks.conftest import (
    body_of,
    eventually,
    webhook_gateway,
    webhooks_config,
    zendesk_event,
    zendesk_headers,
)


@pytest.fixture
async def stream(prefix: str, redis_url: str) -> AsyncIterator[RedisEventStore]:
    redis = Redis.from_url(redis_url)
    yield RedisEventStore(redis, prefix)
    await redis.aclose()


async def test_deliveries_go_through_the_stream_once_each(
    simulators: RunningSimulators,
    keys_file: Path,
    keys: dict[str, str],
    tmp_path: Path,
    prefix: str,
    stream: RedisEventStore,
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
) -> None:
    on_redis = {"redis_url": redis_url, "redis_prefix": prefix}
    good = zendesk_event(1, event_id="redis-good")
    poisoned = zendesk_event(2, brand_id=360009, event_id="redis-poisoned")
    with webhook_gateway(
        simulators.base_url, keys_file, tmp_path / "unused.sqlite3", on_redis
    ) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            answers = []
            for event in (good, good, poisoned):
                body = body_of(event)
                response = await http.post(
                    "/webhooks/zendesk", content=body, headers=zendesk_headers(body)
                )
                answers.append(response.json())
        assert answers == [
            {"accepted": 1, "duplicates": 0},
            {"accepted": 0, "duplicates": 1},
            {"accepted": 1, "duplicates": 0},
        ]

        async def settled() -> bool:
            return await stream.depth() == 0 and await stream.dead_letter_count() == 1

        await eventually(settled)
    assert await stream.redis.ttl(f"{prefix}seen:zendesk:redis-good") > 0
    assert not (tmp_path / "unused.sqlite3").exists()

    config = gateway_config(simulators.base_url, keys_file)
    config["webhooks"] = webhooks_config(tmp_path / "unused.sqlite3", **on_redis)
    config_file = tmp_path / "crmgraph.yaml"
    config_file.write_text(yaml.safe_dump(config))
    args = build_parser().parse_args(["dlq", "list", "--config", str(config_file)])
    capsys.readouterr()
    assert await asyncio.to_thread(args.handler, args) == 0
    listed = capsys.readouterr().out
    assert "zendesk:redis-poisoned" in listed
    assert "Zendesk brand 360009 is not mapped" in listed

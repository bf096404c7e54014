"""API keys: issued once, stored as hashes in one file, refused alike when not good."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.auth.keys import ApiKey, KeyStore, KeyStoreError, UnknownKeyError

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "secrets" / "api-keys.json"


@pytest.fixture
def store(path: Path, clock: Clock) -> KeyStore:
    return KeyStore(path, clock=clock)


def test_a_created_key_verifies_as_its_record(store: KeyStore) -> None:
    key, record = store.create("analyst", ["luckyspin", "goldcoast"], label="dashboards")
    verified = store.verify(key)
    assert verified == record
    assert (verified.role, verified.brands, verified.label) == (
        "analyst",
        ("luckyspin", "goldcoast"),
        "dashboards",
    )
    assert verified.created_at == START
    assert verified.expires_at is None
    assert not verified.revoked


def test_a_key_is_the_prefix_its_id_and_32_random_bytes(store: KeyStore) -> None:
    key, record = store.create("analyst", ["luckyspin"])
    prefix, key_id, secret = key.split("_", 2)
    assert prefix == "cgk"
    assert key_id == record.id
    assert len(secret) == 43  # 32 bytes, URL-safe base64 without padding


def test_two_keys_differ_in_id_and_secret(store: KeyStore) -> None:
    first, a = store.create("analyst", ["luckyspin"])
    second, b = store.create("analyst", ["luckyspin"])
    assert a.id != b.id
    assert first.split("_", 2)[2] != second.split("_", 2)[2]


def test_a_key_is_accepted_until_just_before_it_expires(store: KeyStore, clock: Clock) -> None:
    key, _ = store.create("analyst", ["luckyspin"], expires_in=timedelta(days=90))
    clock.advance(timedelta(days=90) - timedelta(microseconds=1))
    assert store.verify(key) is not None


def test_an_expired_key_is_refused(store: KeyStore, clock: Clock) -> None:
    key, record = store.create("analyst", ["luckyspin"], expires_in=timedelta(hours=12))
    assert record.expires_at == START + timedelta(hours=12)
    clock.advance(timedelta(hours=12))
    assert store.verify(key) is None


def test_a_revoked_key_is_refused(store: KeyStore) -> None:
    key, record = store.create("analyst", ["luckyspin"])
    store.revoke(record.id)
    assert store.verify(key) is None


def test_a_key_with_an_unknown_id_is_refused(store: KeyStore) -> None:
    key, record = store.create("analyst", ["luckyspin"])
    other_id = "0" * 12 if record.id != "0" * 12 else "1" * 12
    assert store.verify(key.replace(record.id, other_id)) is None


def test_a_known_id_with_the_wrong_secret_is_refused(store: KeyStore) -> None:
    key, _ = store.create("analyst", ["luckyspin"])
    last = key[-1]
    assert store.verify(key[:-1] + ("A" if last != "A" else "B")) is None


def test_the_secret_of_one_key_does_not_open_another(store: KeyStore) -> None:
    first, _ = store.create("analyst", ["luckyspin"])
    _, other = store.create("admin", ["*"])
    assert store.verify(f"cgk_{other.id}_{first.split('_', 2)[2]}") is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda key: "",
        lambda key: "cgk_",
        lambda key: key[:-1],
        lambda key: key + "A",
        lambda key: " " + key,
        lambda key: key + "\n",
        lambda key: key.replace("cgk_", "xyz_", 1),
        lambda key: key.replace("cgk_", "CGK_", 1),
        lambda key: key.split("_", 2)[2],
        lambda key: "cgk_" + key.split("_", 2)[1].upper() + "_" + key.split("_", 2)[2],
        lambda key: key[:-1] + "é",
        lambda key: key[:-1] + "=",
        lambda key: key.replace("_", "-"),
        lambda key: key * 1000,
    ],
    ids=[
        "empty",
        "prefix-only",
        "truncated",
        "one-char-too-long",
        "leading-space",
        "trailing-newline",
        "other-prefix",
        "upper-case-prefix",
        "secret-only",
        "upper-case-id",
        "non-ascii",
        "padding-char",
        "wrong-separators",
        "huge",
    ],
)
def test_a_malformed_key_is_refused(store: KeyStore, mangle: Callable[[str], str]) -> None:
    key, _ = store.create("analyst", ["luckyspin"])
    presented = mangle(key)
    assert presented != key
    assert store.verify(presented) is None


def test_verify_with_no_key_file_refuses_every_key(store: KeyStore, path: Path) -> None:
    assert store.verify("cgk_0123456789ab_" + "a" * 43) is None
    assert not path.exists()


def test_the_file_is_created_on_first_use(store: KeyStore, path: Path) -> None:
    assert store.list() == []
    assert not path.exists()
    store.create("analyst", ["luckyspin"])
    assert path.exists()


def test_the_file_holds_no_key_and_no_secret(store: KeyStore, path: Path) -> None:
    key, record = store.create("analyst", ["luckyspin"])
    rotated, _ = store.rotate(record.id)
    text = path.read_text()
    for issued in (key, rotated):
        assert issued not in text
        assert issued.split("_", 2)[2] not in text
    assert record.id in text


def test_the_file_is_readable_by_its_owner_only(store: KeyStore, path: Path) -> None:
    store.create("analyst", ["luckyspin"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_rewrite_makes_a_widened_file_private_again(store: KeyStore, path: Path) -> None:
    _, record = store.create("analyst", ["luckyspin"])
    path.chmod(0o644)
    store.revoke(record.id)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_file_is_replaced_not_rewritten_in_place(store: KeyStore, path: Path) -> None:
    store.create("analyst", ["luckyspin"])
    before = path.stat().st_ino
    store.create("analyst", ["luckyspin"])
    assert path.stat().st_ino != before
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_rotate_issues_a_key_with_the_same_grant_and_revokes_the_old(
    store: KeyStore, clock: Clock
) -> None:
    old_key, old = store.create("support", ["goldcoast", "northstar"], label="helpdesk")
    clock.advance(timedelta(days=1))
    new_key, new = store.rotate(old.id)
    assert new.id != old.id
    assert (new.role, new.brands, new.label) == (old.role, old.brands, old.label)
    assert new.created_at == START + timedelta(days=1)
    assert store.verify(new_key) == new
    assert store.verify(old_key) is None
    assert store.get(old.id).revoked


def test_rotate_keeps_the_old_keys_lifetime_by_default(store: KeyStore, clock: Clock) -> None:
    _, old = store.create("analyst", ["luckyspin"], expires_in=timedelta(days=90))
    clock.advance(timedelta(days=80))
    _, new = store.rotate(old.id)
    assert new.expires_at == clock.now + timedelta(days=90)


def test_rotate_takes_a_new_lifetime(store: KeyStore, clock: Clock) -> None:
    _, old = store.create("analyst", ["luckyspin"])
    _, new = store.rotate(old.id, expires_in=timedelta(hours=12))
    assert new.expires_at == clock.now + timedelta(hours=12)


def test_an_expired_key_can_be_rotated(store: KeyStore, clock: Clock) -> None:
    _, old = store.create("analyst", ["luckyspin"], expires_in=timedelta(minutes=30))
    clock.advance(timedelta(hours=1))
    new_key, _ = store.rotate(old.id)
    assert store.verify(new_key) is not None


def test_a_revoked_key_cannot_be_rotated(store: KeyStore) -> None:
    _, old = store.create("analyst", ["luckyspin"])
    store.revoke(old.id)
    with pytest.raises(KeyStoreError, match="is revoked"):
        store.rotate(old.id)
    assert len(store.list()) == 1


def test_revoking_an_unknown_id_is_a_key_error(store: KeyStore) -> None:
    store.create("analyst", ["luckyspin"])
    with pytest.raises(KeyError) as caught:
        store.revoke("0123456789ab")
    assert isinstance(caught.value, UnknownKeyError)
    assert str(caught.value) == "no API key has the id 0123456789ab"


def test_rotating_an_unknown_id_is_a_key_error(store: KeyStore) -> None:
    with pytest.raises(UnknownKeyError):
        store.rotate("0123456789ab")


def test_an_error_about_a_whole_key_given_as_an_id_does_not_repeat_it(store: KeyStore) -> None:
    key, _ = store.create("analyst", ["luckyspin"])
    with pytest.raises(UnknownKeyError) as caught:
        store.revoke(key)
    assert key.split("_", 2)[2] not in str(caught.value)


def test_revoking_twice_keeps_the_first_revocation_time(store: KeyStore, clock: Clock) -> None:
    _, record = store.create("analyst", ["luckyspin"])
    first = store.revoke(record.id)
    clock.advance(timedelta(hours=1))
    assert store.revoke(record.id) == first
    assert first.revoked_at == START


def test_list_shows_every_key_oldest_first(store: KeyStore, clock: Clock) -> None:
    _, a = store.create("analyst", ["luckyspin"])
    clock.advance(timedelta(minutes=1))
    _, b = store.create("admin", ["*"], expires_in=timedelta(minutes=1))
    clock.advance(timedelta(minutes=1))
    _, c = store.create("support", ["goldcoast"])
    store.revoke(c.id)
    assert [k.id for k in store.list()] == [a.id, b.id, c.id]
    assert [k.state(clock.now) for k in store.list()] == ["active", "expired", "revoked"]


def test_a_revocation_by_another_store_is_seen_without_restart(path: Path, clock: Clock) -> None:
    server = KeyStore(path, clock=clock)
    key, record = server.create("analyst", ["luckyspin"])
    assert server.verify(key) is not None
    KeyStore(path, clock=clock).revoke(record.id)
    assert server.verify(key) is None


def test_a_key_created_by_another_store_is_accepted_without_restart(
    path: Path, clock: Clock
) -> None:
    server = KeyStore(path, clock=clock)
    assert server.verify("cgk_0123456789ab_" + "a" * 43) is None
    key, _ = KeyStore(path, clock=clock).create("analyst", ["luckyspin"])
    assert server.verify(key) is not None


def test_an_unchanged_file_is_not_read_again(path: Path, clock: Clock) -> None:
    server = KeyStore(path, clock=clock)
    key, _ = server.create("analyst", ["luckyspin"])
    assert server.verify(key) is not None
    # Rewrite the file in place to the same size and put its mtime back: to a reader that
    # only looks at the file's identity, size and mtime, nothing changed.
    before = path.stat()
    text = path.read_text()
    assert '"revoked": false' in text
    with open(path, "r+") as f:
        f.write(text.replace('"revoked": false', '"revoked": true '))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert KeyStore(path, clock=clock).verify(key) is None  # a fresh reader sees the revocation
    assert server.verify(key) is not None  # the running one did not read the file again


def test_keys_created_concurrently_by_two_stores_are_all_kept(path: Path, clock: Clock) -> None:
    stores = [KeyStore(path, clock=clock), KeyStore(path, clock=clock)]

    def create_some(store: KeyStore) -> None:
        for _ in range(5):
            store.create("analyst", ["luckyspin"])

    threads = [threading.Thread(target=create_some, args=(stores[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stores[0].list()) == 40


def test_a_corrupt_file_refuses_every_key(
    store: KeyStore, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key, _ = store.create("analyst", ["luckyspin"])
    assert store.verify(key) is not None
    path.write_text("{not json")
    with caplog.at_level(logging.ERROR, logger="app.auth.keys"):
        assert store.verify(key) is None
    assert f"API key file {path} is not valid" in caplog.text


def test_a_corrupt_file_is_never_overwritten(store: KeyStore, path: Path) -> None:
    store.create("analyst", ["luckyspin"])
    path.write_text('{"format": "crmgraph-api-keys", "version": 1, "keys": [{"id": 1}]}')
    with pytest.raises(KeyStoreError, match="is not valid: an entry has no valid id"):
        store.create("analyst", ["luckyspin"])
    assert '"id": 1' in path.read_text()


def test_a_file_of_another_version_is_refused(store: KeyStore, path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"format": "crmgraph-api-keys", "version": 2, "keys": []}))
    with pytest.raises(KeyStoreError, match="unsupported version 2"):
        store.list()


def test_brands_are_kept_once_each_in_order(store: KeyStore) -> None:
    _, record = store.create("analyst", ["northstar", "luckyspin", "northstar"])
    assert record.brands == ("northstar", "luckyspin")


@pytest.mark.parametrize(
    ("role", "brands", "expires_in", "message"),
    [
        ("", ["luckyspin"], None, "needs a role"),
        ("analyst", [], None, "at least one brand"),
        ("analyst", [""], None, "at least one brand"),
        ("analyst", "luckyspin", None, "not one string"),
        ("analyst", ["luckyspin"], timedelta(0), "must be positive"),
    ],
)
def test_a_key_without_a_sensible_grant_is_not_created(
    store: KeyStore,
    path: Path,
    role: str,
    brands: list[str],
    expires_in: timedelta | None,
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        store.create(role, brands, expires_in)
    assert not path.exists()


def test_every_key_operation_is_one_audit_event_without_the_key(
    store: KeyStore, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="crmgraph.audit"):
        key, created = store.create("marketing", ["luckyspin"])
        rotated_key, rotated = store.rotate(created.id)
        store.revoke(rotated.id)
    events = [r for r in caplog.records if r.name == "crmgraph.audit"]
    assert [(r.__dict__["event"], r.__dict__["key_id"], r.__dict__["role"]) for r in events] == [
        ("key.created", created.id, "marketing"),
        ("key.rotated", rotated.id, "marketing"),
        ("key.revoked", rotated.id, "marketing"),
    ]
    assert events[1].__dict__["previous_key_id"] == created.id
    for record in events:
        dumped = repr(record.__dict__)
        for issued in (key, rotated_key):
            assert issued.split("_", 2)[2] not in dumped


def test_a_record_does_not_show_its_hash(store: KeyStore) -> None:
    _, record = store.create("analyst", ["luckyspin"])
    assert record.secret_hash not in repr(record)
    assert isinstance(record, ApiKey)

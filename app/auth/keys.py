"""API keys: issued once, stored only as hashes in one JSON file, checked on every request.

A key reads ``cgk_<id>_<secret>``: a recognisable prefix (so a leaked key is easy to spot in
logs, tickets and secret scanners), the key's public id (what operators list, revoke and audit)
and 32 bytes from :mod:`secrets`. The file holds the id, a SHA-256 hash of the secret, the
role, the brands, the creation and expiry times, the revoked flag and a label — never a key.

The file is the only shared state: every write replaces it atomically (temp file +
``os.replace``) under an advisory lock, and :meth:`KeyStore.verify` re-reads it when its
identity, size or modification time changes, so ``crmgraph keys revoke`` in another process
takes effect on a running server without a restart, at the cost of one ``stat`` per check.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from app.auth.principal import ALL_BRANDS

PREFIX = "cgk"
ID_HEX_CHARS = 12
SECRET_BYTES = 32
FILE_FORMAT = "crmgraph-api-keys"
FILE_VERSION = 1

# token_urlsafe(32) is 43 characters of the URL-safe base64 alphabet.
_KEY = re.compile(rf"{PREFIX}_([0-9a-f]{{{ID_HEX_CHARS}}})_([A-Za-z0-9_-]{{43}})")
_ID = re.compile(rf"[0-9a-f]{{{ID_HEX_CHARS}}}")

audit = logging.getLogger("crmgraph.audit")
log = logging.getLogger(__name__)

KeyState = Literal["active", "expired", "revoked"]


def now_utc() -> datetime:
    return datetime.now(UTC)


class KeyStoreError(Exception):
    """The key file cannot be read or written, or an operation makes no sense. The message
    names the file or the key id, never a key or a hash."""


class UnknownKeyError(KeyStoreError, KeyError):
    """No key has that id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown key"


def looks_like_key(text: str) -> bool:
    """Whether ``text`` is shaped like a whole key (so it must never be echoed)."""
    return text.startswith(f"{PREFIX}_")


def is_key_id(text: str) -> bool:
    return _ID.fullmatch(text) is not None


def _hash(secret: str) -> str:
    # A plain SHA-256 is enough here: the secret is 256 bits from `secrets`, so there is no
    # dictionary or brute-force attack for a slow, salted password hash (bcrypt, argon2) to
    # slow down, and a fast hash keeps a check on every request cheap.
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


# Compared against when the id is unknown, so that an unknown id costs the same work.
_NO_HASH = _hash("-" * 43)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One key's record, as stored (the hash, not the key)."""

    id: str
    role: str
    brands: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked: bool
    label: str | None
    secret_hash: str = field(repr=False)
    revoked_at: datetime | None = None

    def state(self, now: datetime) -> KeyState:
        if self.revoked:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"

    @property
    def all_brands(self) -> bool:
        return ALL_BRANDS in self.brands


def _to_json(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "sha256": key.secret_hash,
        "role": key.role,
        "brands": list(key.brands),
        "created_at": key.created_at.isoformat(),
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "revoked": key.revoked,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
        "label": key.label,
    }


def _time(value: Any, what: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be an ISO 8601 time")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{what} must name its time zone")
    return parsed


def _from_json(entry: Any) -> ApiKey:
    if not isinstance(entry, dict):
        raise ValueError("an entry is not an object")
    key_id = entry.get("id")
    if not isinstance(key_id, str) or not is_key_id(key_id):
        raise ValueError("an entry has no valid id")
    digest = entry.get("sha256")
    if not isinstance(digest, str) or re.fullmatch(r"[0-9a-f]{64}", digest) is None:
        raise ValueError(f"key {key_id}: sha256 is not a SHA-256 hex digest")
    role = entry.get("role")
    brands = entry.get("brands")
    if not isinstance(role, str) or not role:
        raise ValueError(f"key {key_id}: role must be a non-empty string")
    if not isinstance(brands, list) or not brands or not all(isinstance(b, str) for b in brands):
        raise ValueError(f"key {key_id}: brands must be a non-empty list of strings")
    revoked = entry.get("revoked")
    if not isinstance(revoked, bool):
        raise ValueError(f"key {key_id}: revoked must be true or false")
    label = entry.get("label")
    if label is not None and not isinstance(label, str):
        raise ValueError(f"key {key_id}: label must be a string or null")
    expires = entry.get("expires_at")
    revoked_at = entry.get("revoked_at")
    return ApiKey(
        id=key_id,
        role=role,
        brands=tuple(brands),
        created_at=_time(entry.get("created_at"), f"key {key_id}: created_at"),
        expires_at=None if expires is None else _time(expires, f"key {key_id}: expires_at"),
        revoked=revoked,
        label=label,
        secret_hash=digest,
        revoked_at=None if revoked_at is None else _time(revoked_at, f"key {key_id}: revoked_at"),
    )


def _parse(text: str) -> dict[str, ApiKey]:
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("format") != FILE_FORMAT:
        raise ValueError(f"not a {FILE_FORMAT} file")
    if data.get("version") != FILE_VERSION:
        raise ValueError(f"unsupported version {data.get('version')!r} (expected {FILE_VERSION})")
    entries = data.get("keys")
    if not isinstance(entries, list):
        raise ValueError("'keys' must be a list")
    keys: dict[str, ApiKey] = {}
    for entry in entries:
        key = _from_json(entry)
        if key.id in keys:
            raise ValueError(f"key {key.id} appears twice")
        keys[key.id] = key
    return keys


Signature = tuple[int, int, int]  # inode, size, mtime in ns


def _signature(st: os.stat_result) -> Signature:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class KeyStore:
    """The API keys in one JSON file. Safe to share between threads; several processes may
    use the same file (writes are serialised by an advisory lock on ``<file>.lock``)."""

    def __init__(self, path: Path, clock: Callable[[], datetime] = now_utc) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        # One tuple, swapped whole, so a reader never pairs one version's signature with
        # another's keys. Starts with a signature no file has, so the first check reads.
        self._cache: tuple[Signature | None, dict[str, ApiKey]] = ((-1, -1, -1), {})

    # --- reading -------------------------------------------------------------------------

    def verify(self, presented: str) -> ApiKey | None:
        """The active key ``presented`` is, or None: unknown, malformed, expired and revoked
        keys are refused alike. The secret is compared in constant time."""
        match = _KEY.fullmatch(presented) if isinstance(presented, str) else None
        if match is None:
            return None
        key_id, secret = match.groups()
        key = self._current().get(key_id)
        matches = hmac.compare_digest(_hash(secret), key.secret_hash if key else _NO_HASH)
        if key is None or not matches or key.state(self._now()) != "active":
            return None
        return key

    def is_active(self, key_id: str) -> bool:
        """Whether the key with this id is still active (neither revoked nor expired), as the
        file says now — for a connection that presented it earlier."""
        key = self._current().get(key_id)
        return key is not None and key.state(self._now()) == "active"

    def list(self) -> list[ApiKey]:
        """Every key, revoked and expired ones too, oldest first."""
        return sorted(self._read_strict().values(), key=lambda k: (k.created_at, k.id))

    def get(self, key_id: str) -> ApiKey:
        key = self._read_strict().get(key_id)
        if key is None:
            raise UnknownKeyError(_unknown(key_id))
        return key

    def _current(self) -> dict[str, ApiKey]:
        """The keys, re-read only when the file changed since the last read. A file that
        cannot be read refuses every key (and says so in the log) until it is fixed."""
        try:
            signature: Signature | None = _signature(os.stat(self.path))
        except FileNotFoundError:
            signature = None
        except OSError as exc:
            log.error("API key file %s cannot be read: %s", self.path, exc.strerror)
            return {}
        cached_signature, cached_keys = self._cache
        if signature == cached_signature:
            return cached_keys
        with self._lock:
            try:
                signature, keys = self._load()
            except KeyStoreError as exc:
                log.error("%s; every API key is refused until it is fixed", exc)
                keys = {}
            self._cache = (signature, keys)
            return keys

    def _load(self) -> tuple[Signature | None, dict[str, ApiKey]]:
        """The file's keys with the signature of exactly the version read (the fd's own
        ``fstat``: a writer replaces the file, it never changes one in place)."""
        try:
            with open(self.path, encoding="utf-8") as f:
                signature = _signature(os.fstat(f.fileno()))
                text = f.read()
        except FileNotFoundError:
            return None, {}
        except OSError as exc:
            raise KeyStoreError(f"API key file {self.path} cannot be read: {exc.strerror}") from exc
        except UnicodeDecodeError:
            raise KeyStoreError(f"API key file {self.path} is not UTF-8 text") from None
        try:
            return signature, _parse(text)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            raise KeyStoreError(f"API key file {self.path} is not valid: {exc}") from None

    def _read_strict(self) -> dict[str, ApiKey]:
        return self._load()[1]

    # --- writing -------------------------------------------------------------------------

    def create(
        self,
        role: str,
        brands: Sequence[str],
        expires_in: timedelta | None = None,
        label: str | None = None,
    ) -> tuple[str, ApiKey]:
        """A new key and its record. The key is in no file and no log: show it once."""
        with self._writing() as keys:
            key, record = self._issue(keys, role, brands, expires_in, label)
        audit.info(
            "API key created",
            extra={"event": "key.created", "key_id": record.id, "role": record.role},
        )
        return key, record

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key; :class:`UnknownKeyError` if no key has that id. Revoking a revoked
        key changes nothing and logs nothing."""
        with self._writing() as keys:
            old = keys.get(key_id)
            if old is None:
                raise UnknownKeyError(_unknown(key_id))
            if old.revoked:
                return old
            record = keys[key_id] = replace(old, revoked=True, revoked_at=self._now())
        audit.info(
            "API key revoked",
            extra={"event": "key.revoked", "key_id": record.id, "role": record.role},
        )
        return record

    def rotate(self, key_id: str, expires_in: timedelta | None = None) -> tuple[str, ApiKey]:
        """A new key with the old one's role, brands and label; the old one is revoked.
        ``expires_in`` None keeps the old key's lifetime (a key that never expired gives one
        that never expires). A revoked key cannot be rotated: create a new one."""
        with self._writing() as keys:
            old = keys.get(key_id)
            if old is None:
                raise UnknownKeyError(_unknown(key_id))
            if old.revoked:
                raise KeyStoreError(f"API key {key_id} is revoked; create a new key instead")
            if expires_in is None and old.expires_at is not None:
                expires_in = old.expires_at - old.created_at
            key, record = self._issue(keys, old.role, old.brands, expires_in, old.label)
            keys[key_id] = replace(old, revoked=True, revoked_at=record.created_at)
        audit.info(
            "API key rotated",
            extra={
                "event": "key.rotated",
                "key_id": record.id,
                "role": record.role,
                "previous_key_id": key_id,
            },
        )
        return key, record

    def _issue(
        self,
        keys: dict[str, ApiKey],
        role: str,
        brands: Sequence[str],
        expires_in: timedelta | None,
        label: str | None,
    ) -> tuple[str, ApiKey]:
        if isinstance(brands, str):
            raise ValueError("brands must be a sequence of brand keys, not one string")
        unique = tuple(dict.fromkeys(brands))
        if not role:
            raise ValueError("a key needs a role")
        if not unique or not all(unique):
            raise ValueError("a key needs at least one brand (or '*' for every brand)")
        if expires_in is not None and expires_in <= timedelta(0):
            raise ValueError("expires_in must be positive")
        key_id = secrets.token_hex(ID_HEX_CHARS // 2)
        while key_id in keys:  # pragma: no cover - 48 random bits
            key_id = secrets.token_hex(ID_HEX_CHARS // 2)
        secret = secrets.token_urlsafe(SECRET_BYTES)
        now = self._now()
        record = ApiKey(
            id=key_id,
            role=role,
            brands=unique,
            created_at=now,
            expires_at=None if expires_in is None else now + expires_in,
            revoked=False,
            label=label or None,
            secret_hash=_hash(secret),
        )
        keys[key_id] = record
        return f"{PREFIX}_{key_id}_{secret}", record

    @contextlib.contextmanager
    def _writing(self) -> Iterator[dict[str, ApiKey]]:
        """The file's keys, fresh from disk under the lock; written back if the block ends
        without an exception. A file that cannot be parsed is never overwritten."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with self._lock:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                keys = self._read_strict()
                before = dict(keys)
                yield keys
                if keys != before:
                    self._write(keys)
            finally:
                os.close(fd)  # releases the lock

    def _write(self, keys: dict[str, ApiKey]) -> None:
        document = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "keys": [_to_json(k) for k in sorted(keys.values(), key=lambda k: k.created_at)],
        }
        try:
            existing: os.stat_result | None = os.stat(self.path)
        except FileNotFoundError:
            existing = None
        # mkstemp creates the file 0600, so it is never readable by others, not even briefly.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                os.fchmod(f.fileno(), 0o600)
                if existing is not None:
                    # Keep the owner, so that `sudo crmgraph keys …` leaves the file readable
                    # by the server's user. Only root may change it; others already own it.
                    with contextlib.suppress(PermissionError):
                        os.fchown(f.fileno(), existing.st_uid, existing.st_gid)
                json.dump(document, f, indent=2)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):  # make the rename itself durable
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the key store's clock must return aware datetimes")
        return now


def _unknown(key_id: str) -> str:
    # An id is public; anything else may be a key pasted by mistake and is not repeated.
    if is_key_id(key_id):
        return f"no API key has the id {key_id}"
    return "no API key has that id (an id is the 12 hex digits after 'cgk_')"

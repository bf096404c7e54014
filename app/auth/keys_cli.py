"""``crmgraph keys create|list|revoke|rotate``: API keys, managed from the command line.

Each command reads the deployment's config for ``auth.keys_file``, its brands and its roles,
and works on that file; a running server sees the change on its next request. A new key is
printed once, alone on stdout (so ``KEY=$(crmgraph keys create …)`` captures it), with what
it grants and a warning on stderr.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.auth.keys import (
    ApiKey,
    KeyStore,
    KeyStoreError,
    is_key_id,
    looks_like_key,
    now_utc,
)
from app.auth.policy import roles_in_force
from app.auth.principal import ALL_BRANDS
from app.command import CommandError, reporting, settings_of
from app.config import Settings

#: The roles every deployment has; a config's ``roles`` add to them.

_DURATION = re.compile(r"([1-9][0-9]{0,5})([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h`` or ``30m``."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise CommandError(
            f"--expires-in {text!r} is not a duration: a positive whole number followed by "
            "d (days), h (hours) or m (minutes), e.g. 90d, 12h, 30m"
        )
    amount, unit = match.groups()
    return timedelta(**{_UNITS[unit]: int(amount)})


def _store(settings: Settings, config: Path) -> KeyStore:
    path = settings.auth.keys_file
    if path is None:
        raise CommandError(
            f"{config}: auth.keys_file is not set; name the file that holds the API keys, "
            "e.g.\n  auth:\n    keys_file: api-keys.json   # relative to the config file"
        )
    return KeyStore(path)


def roles_of(settings: Settings) -> list[str]:
    """The default roles and those the config adds."""
    return list(roles_in_force(settings.roles))


def _check_role(settings: Settings, role: str) -> str:
    roles = roles_of(settings)
    if role not in roles:
        raise CommandError(f"--role {role!r} is not a role of this config: {', '.join(roles)}")
    return role


def _check_brands(settings: Settings, brands: list[str]) -> list[str]:
    if ALL_BRANDS in brands:
        if len(set(brands)) > 1:
            raise CommandError(f"--brand '{ALL_BRANDS}' means every brand: give it alone")
        return [ALL_BRANDS]
    unknown = [b for b in brands if b not in settings.brands]
    if unknown:
        raise CommandError(
            f"--brand {', '.join(map(repr, unknown))}: not a brand of this config "
            f"({', '.join(settings.brands)}, or '{ALL_BRANDS}' for every brand)"
        )
    return list(dict.fromkeys(brands))


def _when(moment: datetime | None) -> str:
    return "never" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")


def _show_new_key(verb: str, key: str, record: ApiKey) -> None:
    print(
        f"API key {record.id} {verb}: role {record.role}, brands {', '.join(record.brands)}, "
        f"expires {_when(record.expires_at)}"
        + (f", label {record.label!r}" if record.label else ""),
        file=sys.stderr,
    )
    print(key, flush=True)
    print(
        "Store this key now: it cannot be shown again (only its hash is kept).",
        file=sys.stderr,
    )


def _key_id(text: str) -> str:
    if looks_like_key(text):
        raise CommandError(
            "that is a whole API key, not its id: give the 12 hex digits after 'cgk_' "
            "(and treat the key as exposed: it may be in your shell history)"
        )
    if not is_key_id(text):
        raise CommandError("KEY_ID must be a key id: 12 hex digits, as `keys list` shows")
    return text


def _create(args: argparse.Namespace) -> int:
    settings = settings_of(args.config)
    role = _check_role(settings, args.role)
    brands = _check_brands(settings, args.brand)
    expires_in = parse_duration(args.expires_in) if args.expires_in is not None else None
    key, record = _store(settings, args.config).create(role, brands, expires_in, args.label)
    _show_new_key("created", key, record)
    return 0


def _list(args: argparse.Namespace) -> int:
    settings = settings_of(args.config)
    store = _store(settings, args.config)
    keys = store.list()
    if not keys:
        print(f"no API keys in {store.path}")
        return 0
    now = now_utc()
    header = ("ID", "ROLE", "BRANDS", "CREATED", "EXPIRES", "STATE", "LABEL")
    rows = [header] + [
        (
            k.id,
            k.role,
            ",".join(k.brands),
            _when(k.created_at),
            _when(k.expires_at),
            k.state(now),
            k.label or "",
        )
        for k in keys
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def _revoke(args: argparse.Namespace) -> int:
    settings = settings_of(args.config)
    key_id = _key_id(args.key_id)
    record = _store(settings, args.config).revoke(key_id)
    print(f"API key {record.id} ({record.role}) is revoked; requests with it are refused.")
    return 0


def _rotate(args: argparse.Namespace) -> int:
    settings = settings_of(args.config)
    key_id = _key_id(args.key_id)
    expires_in = parse_duration(args.expires_in) if args.expires_in is not None else None
    key, record = _store(settings, args.config).rotate(key_id, expires_in)
    _show_new_key(f"created to replace {key_id} (now revoked)", key, record)
    return 0


#: Errors to stderr, exit status 1; the messages never hold a key or a hash.
_reported = reporting("keys", KeyStoreError, ValueError)


def add_keys_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``keys create|list|revoke|rotate`` to a parser's sub-commands."""
    keys = commands.add_parser("keys", help="create, list, revoke and rotate API keys")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    config_help = "the deployment's YAML config (names auth.keys_file, the brands and roles)"
    expires_help = "lifetime: a whole number of d(ays), h(ours) or m(inutes), e.g. 90d"

    create = actions.add_parser("create", help="issue a new key (shown once)")
    create.add_argument("--role", required=True, help="the role the key acts as")
    create.add_argument(
        "--brand",
        action="append",
        required=True,
        help=f"a brand the key may see (repeat for several; '{ALL_BRANDS}': every brand)",
    )
    create.add_argument("--expires-in", help=expires_help + " (default: never)")
    create.add_argument("--label", help="a note: who or what uses the key")
    create.add_argument("--config", type=Path, required=True, help=config_help)
    create.set_defaults(handler=_reported(_create))

    listing = actions.add_parser("list", help="every key with its state (never a key or hash)")
    listing.add_argument("--config", type=Path, required=True, help=config_help)
    listing.set_defaults(handler=_reported(_list))

    revoke = actions.add_parser("revoke", help="refuse a key from now on")
    revoke.add_argument("key_id", metavar="KEY_ID", help="the key's id, as `keys list` shows")
    revoke.add_argument("--config", type=Path, required=True, help=config_help)
    revoke.set_defaults(handler=_reported(_revoke))

    rotate = actions.add_parser(
        "rotate", help="issue a key with the same role, brands and label; revoke the old one"
    )
    rotate.add_argument("key_id", metavar="KEY_ID", help="the key's id, as `keys list` shows")
    rotate.add_argument("--expires-in", help=expires_help + " (default: the old key's lifetime)")
    rotate.add_argument("--config", type=Path, required=True, help=config_help)
    rotate.set_defaults(handler=_reported(_rotate))

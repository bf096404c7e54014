"""What the operator commands (``crmgraph keys|outbox|dlq``) share: their error, reading the
config without the upstream secrets, printing errors, and the table cells."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from app.config import ConfigError, Settings, load_config

Handler = Callable[[argparse.Namespace], int]


class CommandError(Exception):
    """A mistake on the command line or in the config; the message is shown as is."""


def settings_of(config: Path) -> Settings:
    """The config a command acts on (the CRMs' secrets are not needed, so not checked)."""
    try:
        return load_config(config, check_secrets=False)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None


def reporting(command: str, *errors: type[Exception]) -> Callable[[Handler], Handler]:
    """``handler`` with ``CommandError`` and ``errors`` printed to stderr as
    ``crmgraph <command>: <message>``, exit status 1."""
    caught: tuple[type[Exception], ...] = (CommandError, *errors)

    def wrap(handler: Handler) -> Handler:
        def run(args: argparse.Namespace) -> int:
            try:
                return handler(args)
            except caught as exc:
                print(f"crmgraph {command}: {exc}", file=sys.stderr)
                return 1

        return run

    return wrap


def when(moment: float | None) -> str:
    """An epoch time as a UTC timestamp for a table cell (``-`` for none)."""
    if moment is None:
        return "-"
    return datetime.fromtimestamp(moment, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def one_line(text: str | None, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"

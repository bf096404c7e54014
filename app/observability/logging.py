"""Structured logs: one JSON object a line, through structlog and the standard library alike.

``configure_logging`` routes every logger (``app.*``, ``crmgraph.*``: the audit log, upstream
calls, errors) through one handler on the root logger that renders structlog's event dicts
and plain ``logging`` records the same way, with the request's context (request id, caller,
operation: :mod:`app.observability.request_id`) and after :func:`redact`, the one processor
that keeps secrets and personal data out of the logs.

A ``logging`` call with ``extra={"event": "request.refused", ...}`` (the audit events) comes
out with that ``event`` and its extras as fields, the formatted message as ``message``.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from app.config import Observability

REDACTED = "[redacted]"

#: Keys whose values are secrets, whatever the value looks like.
_SECRET_KEY = re.compile(
    r"(authori[sz]ation|token|secret|password|passwd|api_?key|cookie|credential|signature"
    r"|private_?key|client_secret|x_brand_key)",
    re.IGNORECASE,
)
#: Keys whose values are personal data of a customer, lead or ticket requester.
_PERSONAL_KEYS = frozenset(
    {
        "email", "emails", "phone", "phones", "mobile", "mobilephone", "name", "names",
        "first_name", "last_name", "firstname", "lastname", "full_name", "fullname",
        "given_name", "family_name", "requester_email", "requester_name", "address",
    }
)  # fmt: skip
#: Secrets and personal data inside free text (messages, exceptions, URLs).
_TEXT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"\b(cgk_[A-Za-z0-9]+)_[A-Za-z0-9_-]+"), r"\1_" + REDACTED),
    (re.compile(r"[A-Za-z0-9._%+-]+(@|%40)[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[email]"),
    (
        re.compile(r"(?i)\b(access_token|api_key|apikey|token|password|secret)=[^&\s\"']+"),
        r"\1=" + REDACTED,
    ),
)
#: What any of ``_TEXT_PATTERNS`` needs to match (a text without it is left as it is, with
#: one search instead of a substitution per pattern).
_MAY_HOLD = re.compile(r"(?i)bearer|basic|eyJ|cgk_|@|%40|api_?key|token|password|secret")
_SKIP = frozenset({"event", "level", "logger", "timestamp", "request_id", "operation"})


def _sensitive(key: str) -> bool:
    """Whether a field of this name holds a secret or personal data. Remembered for names of
    up to 64 characters: a log line has a dozen fields, of a few dozen names in all, and a
    name that comes from outside (a CRM's field, a caller's input) keeps no more than that."""
    return _sensitive_name(key) if len(key) <= 64 else _sensitive_uncached(key)


def _sensitive_uncached(key: str) -> bool:
    norm = key.lower().replace("-", "_")
    return (
        bool(_SECRET_KEY.search(norm))
        or norm in _PERSONAL_KEYS
        or norm.endswith(("_email", "_phone"))
    )


_sensitive_name = lru_cache(maxsize=1024)(_sensitive_uncached)


def scrub(value: Any) -> Any:
    """``value`` with secrets and personal data taken out: by key in mappings, by pattern in
    text. Numbers and booleans are kept (``max_tokens`` is not a token)."""
    if isinstance(value, str):
        if _MAY_HOLD.search(value) is None:
            return value
        for pattern, replacement in _TEXT_PATTERNS:
            value = pattern.sub(replacement, value)
        return value
    if isinstance(value, Mapping):
        return {k: _scrub_item(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(v) for v in value]
    if isinstance(value, bytes):
        return scrub(value.decode("utf-8", "replace"))
    return value


def _scrub_item(key: str, value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    return REDACTED if _sensitive(key) else scrub(value)


def redact(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """The one redaction processor: every field of every event, rendered last."""
    for key, value in list(event_dict.items()):
        if key.startswith("_"):
            continue
        event_dict[key] = scrub(value) if key in _SKIP else _scrub_item(key, value)
    return event_dict


_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
}


def _record_extras(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """A ``logging`` record's ``extra=`` fields; its own ``event`` extra names the event."""
    record: logging.LogRecord | None = event_dict.get("_record")
    if record is None or event_dict.get("_from_structlog"):
        return event_dict
    extras = {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRS}
    if "event" in extras:
        event_dict["message"] = event_dict["event"]
    event_dict.update(extras)
    return event_dict


_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def formatter(fmt: str = "json") -> structlog.stdlib.ProcessorFormatter:
    """The formatter of crmgraph's log lines (also what tests attach to a capture handler)."""
    renderer: Processor = (
        structlog.processors.JSONRenderer(default=str)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED, _record_extras],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )


class _Stderr(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


_HANDLER_MARK = "_crmgraph_handler"


def configure_logging(settings: Observability) -> None:
    """Structlog over the standard library, one handler on the root logger (replacing the
    one a previous call installed), crmgraph's loggers at the configured level."""
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    handler = _Stderr()
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(formatter(settings.log_format))
    root.addHandler(handler)
    for name in ("app", "crmgraph"):
        logging.getLogger(name).setLevel(settings.log_level)
    # httpx logs every request line (URLs carry SOQL and emails) at INFO: keep it quiet.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def get_logger(name: str) -> Any:
    """A structlog logger named ``name`` (for ``logging``'s levels and handlers)."""
    return structlog.stdlib.get_logger(name)


def bind(**values: Any) -> Mapping[str, Any]:
    """Bind ``values`` to every later log event of this request; returns the reset tokens."""
    return structlog.contextvars.bind_contextvars(**values)


def unbind(tokens: Mapping[str, Any]) -> None:
    structlog.contextvars.reset_contextvars(**tokens)


__all__ = [
    "REDACTED",
    "bind",
    "configure_logging",
    "formatter",
    "get_logger",
    "redact",
    "scrub",
    "unbind",
]

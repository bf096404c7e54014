"""The redaction processor, request ids, the metrics API others call, and the alert rules."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.observability import metrics
from app.observability.logging import REDACTED, formatter, redact, scrub
from app.observability.request_id import request_id

ALERTS = Path(__file__).resolve().parents[2] / "ops" / "prometheus" / "alerts.yml"


def redacted(**event: Any) -> dict[str, Any]:
    return redact(None, "info", dict(event))


def test_secret_keys_are_redacted_whatever_their_value() -> None:
    event = redacted(
        event="upstream.call",
        authorization="Bearer abc.def",
        headers={"Authorization": "Basic dXNlcjpwYXNz", "X-API-Key": "k1", "Accept": "json"},
        api_key="k2",
        client_secret="s3",
        password="hunter2",
        refresh_token="t4",
        cookie="session=1",
        max_tokens=3000,  # a number is not a secret
        key_id="abc123",
    )
    assert event["authorization"] == REDACTED
    assert event["headers"] == {
        "Authorization": REDACTED,
        "X-API-Key": REDACTED,
        "Accept": "json",
    }
    for key in ("api_key", "client_secret", "password", "refresh_token", "cookie"):
        assert event[key] == REDACTED, key
    assert event["max_tokens"] == 3000
    assert event["key_id"] == "abc123"


def test_personal_fields_are_redacted_by_key_and_emails_anywhere() -> None:
    event = redacted(
        event="contact ada@example.com not found",
        email="ada@example.com",
        phone="+44 20 7946 0958",
        first_name="Ada",
        last_name="Lovelace",
        name="Ada Lovelace",
        requester_email="x@y.io",
        record={"Email": "ada@example.com", "id": "1001", "brand": "luckyspin"},
        emails=["a@b.co", "c@d.co"],
        url="/search?q=ada%40example.com&token=zzz",
        operation="ObsLeads",
        source="hubspot",
    )
    assert event["event"] == "contact [email] not found"
    for key in ("email", "phone", "first_name", "last_name", "name", "requester_email", "emails"):
        assert event[key] == REDACTED, key
    assert event["record"] == {"Email": REDACTED, "id": "1001", "brand": "luckyspin"}
    assert event["url"] == f"/search?q=[email]&token={REDACTED}"
    assert event["operation"] == "ObsLeads"
    assert event["source"] == "hubspot"


def test_names_are_judged_alike_however_often_and_however_long() -> None:
    # Short names are remembered once judged; long ones (a CRM's field, a caller's input)
    # are judged afresh each time. Either way, the same answer every time.
    long_secret = "x" * 70 + "_api_key"
    long_plain = "y" * 70 + "_count"
    for _ in range(3):
        event = redacted(
            event="e",
            record={"Customer_Email": "q", long_secret: "k", long_plain: "v", "Stage": "lead"},
        )
        assert event["record"] == {
            "Customer_Email": REDACTED,
            long_secret: REDACTED,
            long_plain: "v",
            "Stage": "lead",
        }


def test_tokens_inside_text_are_redacted() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature-1"
    text = scrub(
        f"refused Bearer {jwt}, key cgk_abc123_s3cr3tPart and Authorization: Basic dXNlcg=="
    )
    assert jwt not in text
    assert "s3cr3tPart" not in text
    assert "dXNlcg==" not in text
    assert "cgk_abc123_" + REDACTED in text  # the key id stays: it names the key, not its secret


def test_stdlib_records_render_as_json_events_with_their_extras_redacted() -> None:
    record = logging.LogRecord(
        "crmgraph.audit", logging.WARNING, __file__, 1, "refused %s", ("bob@example.com",), None
    )
    record.event = "request.refused"
    record.code = "UNAUTHENTICATED"
    record.token = "cgk_abc_secret"
    line = json.loads(formatter("json").format(record))
    assert line["event"] == "request.refused"
    assert line["message"] == "refused [email]"
    assert line["code"] == "UNAUTHENTICATED"
    assert line["token"] == REDACTED
    assert line["level"] == "warning"
    assert line["logger"] == "crmgraph.audit"


def test_exceptions_are_rendered_then_redacted() -> None:
    try:
        raise ValueError("bad password=hunter2 for ada@example.com")
    except ValueError:
        record = logging.LogRecord(
            "app.x", logging.ERROR, __file__, 1, "failed", (), exc_info=sys.exc_info()
        )
    line = json.loads(formatter("json").format(record))
    assert "ValueError" in line["exception"]
    assert "hunter2" not in line["exception"]
    assert "ada@example.com" not in line["exception"]


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (b"abc-123", True),
        (b"trace:01.ab_c", True),
        (b"x" * 128, True),
        (b"x" * 129, False),
        (b"has space", False),
        (b"<script>", False),
        (b"", False),
        (None, False),
    ],
)
def test_a_request_id_is_the_callers_only_when_sane(given: bytes | None, kept: bool) -> None:
    made = request_id(given)
    if kept:
        assert given is not None
        assert made == given.decode()
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", made)


def test_webhook_events_and_depths_refuse_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown webhook outcome 'ok'"):
        metrics.webhook_event("zendesk", "ok")
    with pytest.raises(ValueError, match="unknown depth 'queue'"):
        metrics.register_depth("queue", lambda: 1)


def exported_names() -> set[str]:
    """Every sample name crmgraph exports, from the TYPE lines of a scrape."""
    text = asyncio.run(metrics.render()).decode()
    names = set()
    for kind_line in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE):
        name, kind = kind_line
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        else:
            names.add(name)
    return names


def test_the_alert_rules_parse_and_name_only_exported_metrics() -> None:
    rules = [r for group in yaml.safe_load(ALERTS.read_text())["groups"] for r in group["rules"]]
    names = {r["alert"] for r in rules}
    assert {
        "CrmgraphSourceDown",
        "CrmgraphUpstreamErrorRate",
        "CrmgraphRateBudgetExhausted",
        "CrmgraphDeadLettersGrowing",
        "CrmgraphWebhookSignatureFailures",
        "CrmgraphOutboxGrowing",
    } <= names
    exported = exported_names()
    used = set()
    for rule in rules:
        assert rule["expr"].strip()
        assert rule["annotations"]["summary"]
        used |= set(re.findall(r"\bcrmgraph_[a-z_]+\b", rule["expr"]))
    assert used
    assert used <= exported, used - exported

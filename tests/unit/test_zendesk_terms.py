"""A Zendesk search term quotes a value that holds whitespace of any kind, or a double quote
(which it drops: the search syntax cannot escape it)."""

from __future__ import annotations

import pytest

from app.connectors.zendesk.payloads import term


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("ada@example.com", "requester:ada@example.com"),
        ("Ada Lovelace", 'requester:"Ada Lovelace"'),
        ("tab\there", 'requester:"tab\there"'),
        ("no\u00a0break", 'requester:"no\u00a0break"'),  # whitespace to str.isspace
        ("line\u2028break", 'requester:"line\u2028break"'),
        ('say "hi"', 'requester:"say hi"'),
        ('"', 'requester:""'),
    ],
)
def test_a_value_with_whitespace_or_a_quote_is_a_phrase(value: str, written: str) -> None:
    assert term("requester", value) == written

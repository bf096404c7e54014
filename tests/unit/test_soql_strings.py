"""The Salesforce simulator's SOQL string literals: read at once when they hold no escape (a
hundred emails in an ``IN`` list), and escape by escape otherwise, with Salesforce's errors."""

from __future__ import annotations

import pytest

from app.simulators.salesforce.soql import SoqlError, tokenize


def strings(text: str) -> list[tuple[str, str]]:
    return [(t.text, t.value) for t in tokenize(text) if t.kind == "string"]


def test_a_literal_without_escapes_is_read_whole() -> None:
    query = "SELECT Id FROM Lead WHERE Email IN ('ann@example.com', 'bo b@éxample.com', '')"
    assert strings(query) == [
        ("'ann@example.com'", "ann@example.com"),
        ("'bo b@éxample.com'", "bo b@éxample.com"),
        ("''", ""),
    ]


def test_escapes_are_read_and_like_wildcards_stay_escaped() -> None:
    query = r"SELECT Id FROM Lead WHERE Company = 'O\'Hara \\ Sons\n' AND Name LIKE 'a\%b\_'"
    assert [value for _, value in strings(query)] == ["O'Hara \\ Sons\n", r"a\%b\_"]


@pytest.mark.parametrize(
    ("query", "column", "message"),
    [
        ("SELECT Id FROM Lead WHERE Name = 'open", 34, "expecting a closing quote"),
        (r"SELECT Id FROM Lead WHERE Name = 'ab\q'", 37, "illegal escape sequence"),
    ],
)
def test_a_broken_literal_is_refused_where_it_breaks(query: str, column: int, message: str) -> None:
    with pytest.raises(SoqlError) as refused:
        tokenize(query)
    assert refused.value.code == "MALFORMED_QUERY"
    assert f"ERROR at Row:1:Column:{column}" in refused.value.message
    assert message in refused.value.message

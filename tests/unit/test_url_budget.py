"""What a list of keys takes of a GET's URL, and how a batch of them is split to stay within
the CRM's limit (``app.connectors.urls``): Salesforce's ``IN`` lists, Dataverse's ``In``
filters."""

from __future__ import annotations

import itertools

import httpx
import pytest

from app.connectors.dynamics.payloads import in_runs, literal, one_of
from app.connectors.salesforce.payloads import in_list, packed, quote
from app.connectors.urls import wire_length

TEXTS = [
    "ann@example.com",
    "o'neill+news@example.co.uk",
    "back\\slash 'quoted' & spaced=yes?#/%",
    "josé.garcía@ejemplo.es",
    "名前@例え.jp",
    "~-._ unreserved and reserved !*(),;:$",
    "",
]


@pytest.mark.parametrize("text", TEXTS)
def test_wire_length_is_at_least_what_httpx_writes(text: str) -> None:
    written = str(httpx.QueryParams({"q": text}))[len("q=") :]
    assert wire_length(text) >= len(written)
    # and no more than every byte of it percent-encoded
    assert wire_length(text) <= 3 * len(text.encode())


def test_an_in_list_takes_at_most_the_sum_of_its_parts() -> None:
    emails = ["ann@example.com", "o'neill@example.com", "josé@example.es"]
    whole = wire_length(in_list("Email", emails))
    parts = wire_length(in_list("Email", [])) + sum(wire_length(", " + quote(e)) for e in emails)
    assert whole <= parts


def test_runs_keep_the_order_the_room_and_the_count() -> None:
    emails = [f"{'x' * (n % 40)}{n}@example.com" for n in range(500)]
    cost = {e: wire_length(", " + quote(e)) for e in emails}
    runs = packed(emails, room=2_000, most=30)
    assert [e for run in runs for e in run] == emails
    for run in runs:
        assert 1 <= len(run) <= 30
        assert sum(cost[e] for e in run) <= 2_000
    # each run but the last is full: its next value would not have fitted
    for run, following in itertools.pairwise(runs):
        assert len(run) == 30 or sum(cost[e] for e in run) + cost[following[0]] > 2_000


def test_a_value_larger_than_the_room_is_a_run_of_its_own() -> None:
    assert packed(["a@x.io", "b" * 200 + "@x.io", "c@x.io"], room=100) == [
        ["a@x.io"],
        ["b" * 200 + "@x.io"],
        ["c@x.io"],
    ]
    assert packed([], room=100) == []


def test_dataverse_runs_count_odata_literals() -> None:
    keys = ["o'brien@example.com", "é" * 60 + "@exemple.fr", "ann@example.com"]
    cost = [wire_length("," + literal(k)) for k in keys]
    # ",'o''brien@example.com'": 23 characters, six of them percent-encoded (, ' ' ' ' @)
    assert cost[0] == 23 + 2 * 6
    assert in_runs(keys, room=sum(cost)) == [keys]
    assert in_runs(keys, room=sum(cost) - 1) == [keys[:2], keys[2:]]
    # the whole filter takes at most the sum of its parts
    assert wire_length(one_of("emailaddress1", keys)) <= (
        wire_length(one_of("emailaddress1", [])) + sum(cost)
    )

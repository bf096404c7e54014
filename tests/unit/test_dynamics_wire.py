"""The Dynamics connector's pure parts: rate headers, OData literals, cursors, $batch bodies,
option sets."""

from __future__ import annotations

import pytest

from app.connectors.dynamics import batch, payloads
from app.connectors.dynamics.mapping import OptionSet, relabel
from app.connectors.dynamics.ratelimit import DynamicsRates
from app.connectors.errors import UnsupportedQuery
from app.domain.models import TicketStatus
from app.mapping.converters import ConversionError


def test_rate_headers_report_the_scarcer_of_requests_and_execution_time() -> None:
    rates = DynamicsRates()
    plenty = rates.report(
        {
            "x-ms-ratelimit-burst-remaining-xrm-requests": "5990",
            "x-ms-ratelimit-time-remaining-xrm-requests": "1,199,982.00",
        }
    )
    assert plenty is not None
    assert (plenty.limit, plenty.remaining) == (6000, 5990)
    busy = rates.report(
        {
            "x-ms-ratelimit-burst-remaining-xrm-requests": "5990",
            "x-ms-ratelimit-time-remaining-xrm-requests": "120,000.00",
        }
    )
    assert busy is not None
    assert busy.remaining == 600  # a tenth of the execution time left
    assert rates.report({}) is None
    assert rates.report({"x-ms-ratelimit-burst-remaining-xrm-requests": "many"}) is None
    assert rates.refused(429, b"{}")
    assert not rates.refused(503, b"{}")


def test_literals_double_their_quotes_and_in_lists_quote_each_value() -> None:
    assert payloads.literal("O'Brien") == "'O''Brien'"
    assert payloads.one_of("emailaddress1", ["a@x.com", "o'b@x.com"]) == (
        "Microsoft.Dynamics.CRM.In(PropertyName='emailaddress1',"
        "PropertyValues=['a@x.com','o''b@x.com'])"
    )
    assert payloads.any_id("_customerid_value", []) == payloads.NOTHING


def test_only_guids_are_ids() -> None:
    assert payloads.guid("D5026A4D-0000-4000-8000-000000000001") == (
        "d5026a4d-0000-4000-8000-000000000001"
    )
    assert payloads.guid("151") is None
    assert payloads.guid("x" * 36) is None


def test_a_cursor_is_a_paging_cookie_or_refused() -> None:
    link = (
        "https://org.crm.dynamics.com/api/data/v9.2/contacts?$select=fullname&$skiptoken="
        "%3Ccookie%20pagenumber=%222%22%20pagingcookie=%22%253ccookie%2520page%253d%25221%2522"
        "%253e%253c%252fcookie%253e%22%20istracking=%22False%22%20/%3E"
    )
    token = payloads.skiptoken(link)
    assert token is not None
    assert payloads.checked_cursor(token) == token
    assert payloads.skiptoken(None) is None
    for bad in ("https://evil.example/", '<cookie pagenumber="2"/>&$filter=x', ""):
        with pytest.raises(UnsupportedQuery):
            payloads.checked_cursor(bad)


def test_a_batch_answer_is_read_back_part_by_part() -> None:
    body, kind = batch.encode(
        [
            batch.Part("GET", "contacts", {"$select": "fullname", "$filter": "a eq 'b c'"}),
            batch.Part("POST", "leads", body={"lastname": "X"}),
        ]
    )
    text = body.decode()
    assert kind.startswith("multipart/mixed; boundary=batch_")
    assert "GET contacts?$select=fullname&$filter=a%20eq%20'b%20c' HTTP/1.1" in text
    assert '{"lastname":"X"}' in text
    answer = (
        "--batchresponse_1\r\nContent-Type: application/http\r\n"
        "Content-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 200 OK\r\n"
        'Content-Type: application/json\r\n\r\n{"value":[]}\r\n'
        "--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n"
        "--changesetresponse_2\r\nContent-Type: application/http\r\n"
        "Content-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 204 No Content\r\n"
        "OData-EntityId: https://x/api/data/v9.2/leads(00000000-0000-0000-0000-000000000001)"
        "\r\n\r\n--changesetresponse_2--\r\n--batchresponse_1--\r\n"
    )
    first, second = batch.decode("multipart/mixed; boundary=batchresponse_1", answer)
    assert (first.status, first.json()) == (200, {"value": []})
    assert second.status == 204
    assert second.headers["odata-entityid"].endswith("(00000000-0000-0000-0000-000000000001)")
    with pytest.raises(ValueError, match="not multipart"):
        batch.decode("application/json", "{}")


def test_option_sets_read_numbers_and_write_the_first_number_of_a_meaning() -> None:
    words = OptionSet.of(
        "case status",
        {7: TicketStatus.OPEN},
        {1: TicketStatus.NEW, 4: TicketStatus.OPEN, 5: TicketStatus.SOLVED},
    )
    assert words.convert(4) is TicketStatus.OPEN
    assert words.send[TicketStatus.OPEN] == 7  # the config's number wins
    assert words.numbers((TicketStatus.OPEN,)) == [7, 4]
    with pytest.raises(ConversionError, match="unknown case status 99 \\(Escalated\\)"):
        words.convert(99, "Escalated")
    assert words.convert(None) is None


def test_formatted_values_are_renamed_for_the_field_maps() -> None:
    row = {"statuscode": 1, "statuscode@OData.Community.Display.V1.FormattedValue": "New"}
    assert relabel(row) == {"statuscode": 1, "statuscode@label": "New"}

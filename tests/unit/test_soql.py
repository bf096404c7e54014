"""The SOQL subset: parsing, checking against the schema, and evaluation over a small org."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from app.simulators.salesforce.soql import SoqlError, parse, tokenize
from app.simulators.salesforce.store import CONTACT, LEAD, SalesforceStore
from app.simulators.world import build_world

V = "v61.0"


@pytest.fixture(scope="module")
def store() -> SalesforceStore:
    return SalesforceStore(build_world(7, customers=40, leads=90, tickets=0, companies=10))


def run(store: SalesforceStore, soql: str) -> list[dict]:
    query = parse(soql)
    return [query.render(r, store, V) for r in query.execute(store)]


def error(soql: str) -> SoqlError:
    with pytest.raises(SoqlError) as caught:
        parse(soql)
    return caught.value


def some_lead(store: SalesforceStore, **wanted) -> dict:
    return next(r for r in store.all("Lead") if all(r[k] == v for k, v in wanted.items()))


# -- tokens and literals --------------------------------------------------------------------------


def test_string_literals_unescape_quotes_backslashes_and_newlines() -> None:
    (token,) = [t for t in tokenize(r"'O\'Brien \\ a\nb'") if t.kind == "string"]
    assert token.value == "O'Brien \\ a\nb"


def test_an_illegal_escape_is_malformed() -> None:
    assert error(r"SELECT Id FROM Lead WHERE Email = 'a\qb'").code == "MALFORMED_QUERY"


def test_an_unterminated_string_is_malformed() -> None:
    assert error("SELECT Id FROM Lead WHERE Email = 'abc").code == "MALFORMED_QUERY"


def test_datetime_literals_keep_their_offset_and_millis() -> None:
    values = [t.value for t in tokenize("2026-11-01T00:00:00Z 2026-11-01T02:30:00.5+02:30")]
    assert values[0] == datetime(2026, 11, 1, tzinfo=UTC)
    assert values[1] == datetime(
        2026, 11, 1, 2, 30, 0, 500_000, tzinfo=timezone(timedelta(hours=2, minutes=30))
    )
    assert values[1] == datetime(2026, 11, 1, 0, 0, 0, 500_000, tzinfo=UTC)


def test_date_literals_and_numbers() -> None:
    kinds = [(t.kind, t.value) for t in tokenize("2024-02-29 12 3.5")][:-1]
    assert kinds == [("date", date(2024, 2, 29)), ("number", 12), ("number", 3.5)]


def test_an_impossible_date_is_malformed() -> None:
    assert error("SELECT Id FROM Lead WHERE ConvertedDate = 2024-02-30").code == "MALFORMED_QUERY"


# -- parse errors ---------------------------------------------------------------------------------


def test_an_error_points_at_row_and_column() -> None:
    message = error("SELECT Id\nFROM Lead\nWHERE Email = 'a' Phone").message
    assert (
        message
        == "\nWHERE Email = 'a' Phone\n                  ^\nERROR at Row:3:Column:19\n"
        + ("unexpected token: 'Phone'")
    )


def test_a_missing_from_is_unexpected_eof() -> None:
    assert error("SELECT Id").message.endswith("unexpected token: <EOF>")


def test_and_and_or_at_one_level_need_parentheses() -> None:
    failure = error("SELECT Id FROM Lead WHERE IsConverted = true OR Email = 'a' AND Phone = 'b'")
    assert failure.code == "MALFORMED_QUERY"
    assert failure.message.endswith("unexpected token: 'AND'")


def test_an_unknown_object_is_invalid_type() -> None:
    assert error("SELECT Id FROM Opportunity").code == "INVALID_TYPE"


def test_an_unknown_field_is_invalid_field_naming_the_entity() -> None:
    failure = error("SELECT Id FROM Contact WHERE Company = 'x'")
    assert failure.code == "INVALID_FIELD"
    assert "No such column 'Company' on entity 'Contact'" in failure.message


def test_an_unknown_relationship_is_invalid_field() -> None:
    failure = error("SELECT Owner.Name FROM Lead")
    assert failure.code == "INVALID_FIELD"
    assert "Didn't understand relationship 'Owner'" in failure.message


def test_a_field_selected_twice_is_malformed() -> None:
    assert "duplicate field selected: Email" in error("SELECT Email, email FROM Lead").message


def test_a_quoted_datetime_is_refused_as_the_wrong_type() -> None:
    failure = error("SELECT Id FROM Lead WHERE CreatedDate > '2026-01-01T00:00:00Z'")
    assert failure.code == "INVALID_FIELD"
    assert "must be of type dateTime and should not be enclosed in quotes" in failure.message


def test_an_unquoted_number_for_text_is_refused() -> None:
    failure = error("SELECT Id FROM Lead WHERE Phone = 12345")
    assert "must be of type string and should be enclosed in quotes" in failure.message


def test_a_date_for_a_datetime_field_is_refused() -> None:
    assert error("SELECT Id FROM Lead WHERE CreatedDate > 2026-01-01").code == "INVALID_FIELD"


def test_an_id_literal_that_is_not_an_id_is_refused() -> None:
    failure = error("SELECT Id FROM Lead WHERE Id = 'abc'")
    assert failure.code == "INVALID_QUERY_FILTER_OPERATOR"
    assert failure.message.endswith("invalid ID field: abc")


def test_like_on_a_boolean_is_refused() -> None:
    failure = error("SELECT Id FROM Lead WHERE IsConverted LIKE 'true'")
    assert failure.code == "INVALID_QUERY_FILTER_OPERATOR"


def test_an_offset_over_2000_is_outside_the_valid_range() -> None:
    assert error("SELECT Id FROM Lead LIMIT 5 OFFSET 2001").code == "NUMBER_OUTSIDE_VALID_RANGE"


def test_a_negative_limit_is_malformed() -> None:
    assert error("SELECT Id FROM Lead LIMIT -1").code == "MALFORMED_QUERY"


def test_count_cannot_count_a_field() -> None:
    assert error("SELECT COUNT(Id) FROM Lead").code == "MALFORMED_QUERY"


# -- evaluation -----------------------------------------------------------------------------------


def test_keywords_and_names_are_case_insensitive(store) -> None:
    rows = run(store, "select ID, email from lead where ISCONVERTED = TRUE order by EMAIL limit 2")
    assert [list(r) for r in rows] == [["attributes", "Id", "Email"]] * 2


def test_text_equality_ignores_case(store) -> None:
    lead = some_lead(store)
    rows = run(store, f"SELECT Id FROM Lead WHERE Email = '{lead['Email'].upper()}'")
    assert [r["Id"] for r in rows] == [lead["Id"]]


def test_not_equal_matches_nulls(store) -> None:
    nulls = sum(1 for r in store.all("Lead") if r["LeadSource"] is None)
    webs = sum(1 for r in store.all("Lead") if r["LeadSource"] == "Web")
    rows = run(store, "SELECT Id FROM Lead WHERE LeadSource != 'Web'")
    assert nulls > 0
    assert len(rows) == store.count("Lead") - webs


def test_not_in_matches_nulls_and_in_can_ask_for_null(store) -> None:
    nulls = sum(1 for r in store.all("Lead") if r["LeadSource"] is None)
    webs = sum(1 for r in store.all("Lead") if r["LeadSource"] == "Web")
    assert len(run(store, "SELECT Id FROM Lead WHERE LeadSource IN ('web', null)")) == nulls + webs
    not_in = run(store, "SELECT Id FROM Lead WHERE LeadSource NOT IN ('Web')")
    assert len(not_in) == store.count("Lead") - webs


def test_equals_null_and_not_equals_null(store) -> None:
    converted = sum(1 for r in store.all("Lead") if r["IsConverted"])
    assert len(run(store, "SELECT Id FROM Lead WHERE ConvertedContactId != null")) == converted
    missing = run(store, "SELECT Id FROM Lead WHERE ConvertedContactId = null")
    assert len(missing) == store.count("Lead") - converted


def test_like_wildcards_and_escapes(store) -> None:
    lead = some_lead(store)
    local = lead["Email"].split("@")[0]
    rows = run(store, f"SELECT Id FROM Lead WHERE Email LIKE '{local[:-1]}_@%'")
    assert lead["Id"] in {r["Id"] for r in rows}
    assert run(store, r"SELECT Id FROM Lead WHERE Email LIKE '%\%%'") == []


def test_datetime_comparison_honours_the_offset(store) -> None:
    lead = some_lead(store)
    created: datetime = lead["CreatedDate"]
    shifted = created.astimezone(timezone(timedelta(hours=-5))).strftime("%Y-%m-%dT%H:%M:%S-05:00")
    rows = run(store, f"SELECT Id FROM Lead WHERE CreatedDate = {shifted}")
    assert lead["Id"] in {r["Id"] for r in rows}


def test_date_fields_compare_with_date_literals(store) -> None:
    lead = some_lead(store, IsConverted=True)
    day: date = lead["ConvertedDate"]
    rows = run(store, f"SELECT Id, ConvertedDate FROM Lead WHERE ConvertedDate <= {day}")
    assert lead["Id"] in {r["Id"] for r in rows}
    assert all(r["ConvertedDate"] <= day.isoformat() for r in rows)


def test_ids_match_in_15_and_18_character_forms(store) -> None:
    lead = some_lead(store)
    rows = run(store, f"SELECT Id FROM Lead WHERE Id IN ('{lead['Id'][:15]}')")
    assert [r["Id"] for r in rows] == [lead["Id"]]


def test_parentheses_and_not(store) -> None:
    everything = store.count("Lead")
    converted = sum(1 for r in store.all("Lead") if r["IsConverted"])
    rows = run(
        store,
        "SELECT Id FROM Lead WHERE NOT (IsConverted = true OR (Email = null AND Phone = null))",
    )
    assert len(rows) == everything - converted


def test_order_by_puts_nulls_first_by_default_even_descending(store) -> None:
    rows = run(store, "SELECT LeadSource FROM Lead ORDER BY LeadSource DESC")
    sources = [r["LeadSource"] for r in rows]
    nulls = sources.count(None)
    assert nulls > 0
    assert sources[:nulls] == [None] * nulls
    assert sources[nulls:] == sorted(sources[nulls:], key=str.casefold, reverse=True)


def test_order_by_several_fields_and_nulls_last(store) -> None:
    rows = run(store, "SELECT LeadSource, Id FROM Lead ORDER BY LeadSource ASC NULLS LAST, Id DESC")
    keys = [(r["LeadSource"] is None, r["LeadSource"] or "", _neg(r["Id"])) for r in rows]
    assert keys == sorted(keys)


def _neg(text: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in text)


def test_order_by_text_ignores_case(store) -> None:
    rows = run(store, "SELECT LastName FROM Lead ORDER BY LastName")
    names = [r["LastName"] for r in rows]
    assert names == sorted(names, key=str.casefold)


def test_limit_and_offset_cut_the_ordered_rows(store) -> None:
    everything = run(store, "SELECT Id FROM Lead ORDER BY CreatedDate DESC, Id")
    window = run(store, "SELECT Id FROM Lead ORDER BY CreatedDate DESC, Id LIMIT 7 OFFSET 5")
    assert window == everything[5:12]


def test_count_counts_the_matches(store) -> None:
    query = parse("SELECT COUNT() FROM Lead WHERE IsConverted = false")
    assert query.is_count
    assert len(query.execute(store)) == sum(1 for r in store.all("Lead") if not r["IsConverted"])


def test_relationship_fields_nest_under_the_relationship(store) -> None:
    rows = run(store, "SELECT Name, Account.Name, Account.Id FROM Contact")
    with_account = [r for r in rows if r["Account"] is not None]
    assert with_account
    first = with_account[0]["Account"]
    assert list(first) == ["attributes", "Name", "Id"]
    assert first["attributes"] == {
        "type": "Account",
        "url": f"/services/data/{V}/sobjects/Account/{first['Id']}",
    }


def test_an_empty_relationship_is_null() -> None:
    store = SalesforceStore(build_world(7, customers=40, leads=90, tickets=0, companies=10))
    values = store.check_create(CONTACT, {"LastName": "Alone"})
    assert isinstance(values, dict)
    contact = store.insert(CONTACT, values)
    (row,) = run(store, f"SELECT Id, Account.Name FROM Contact WHERE Id = '{contact['Id']}'")
    assert row["Account"] is None


def test_two_hops_reach_the_converted_contacts_account(store) -> None:
    lead = some_lead(store, IsConverted=True)
    contact = store.get("Contact", lead["ConvertedContactId"])
    account = store.get("Account", contact["AccountId"]) if contact["AccountId"] else None
    (row,) = run(store, f"SELECT ConvertedContact.Account.Name FROM Lead WHERE Id = '{lead['Id']}'")
    expected = None if account is None else account["Name"]
    assert (row["ConvertedContact"]["Account"] or {}).get("Name") == expected


def test_where_on_a_relationship_field(store) -> None:
    account = next(iter(store.all("Account")))
    rows = run(store, f"SELECT Id, AccountId FROM Contact WHERE Account.Name = '{account['Name']}'")
    assert rows
    assert {r["AccountId"] for r in rows} == {account["Id"]}


def test_rows_render_wire_formats(store) -> None:
    (row,) = run(
        store, "SELECT CreatedDate, IsConverted FROM Lead WHERE IsConverted = true LIMIT 1"
    )
    assert row["IsConverted"] is True
    assert row["CreatedDate"].endswith(".000+0000")


def test_the_email_index_gives_the_same_rows_as_a_scan(store) -> None:
    emails = [r["Email"] for r in list(store.all("Lead"))[:6]]
    listed = ", ".join(f"'{e}'" for e in emails)
    indexed = run(store, f"SELECT Id FROM Lead WHERE Email IN ({listed}) AND IsConverted = false")
    scanned = run(
        store, f"SELECT Id FROM Lead WHERE IsConverted = false AND NOT (Email NOT IN ({listed}))"
    )
    assert indexed == scanned
    assert indexed == [
        {"attributes": r["attributes"], "Id": r["Id"]}
        for r in run(store, "SELECT Id FROM Lead WHERE IsConverted = false")
        if store.get(LEAD.name, r["Id"])["Email"] in emails
    ]

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from app.domain.models import TicketPriority, TicketStatus
from app.domain.validation import (
    FieldError,
    Invalid,
    Validator,
    choice,
    email,
    instant,
    phone,
    text,
    validate_new_lead,
    validate_ticket_update,
)

P = ("input", "email")


def only_error(exc: pytest.ExceptionInfo[Invalid]) -> FieldError:
    assert len(exc.value.errors) == 1
    return exc.value.errors[0]


# --- email ---------------------------------------------------------------------------------


def test_email_is_trimmed_and_lower_cased() -> None:
    assert email("  Ada.Lovelace@Example.COM \t", P) == "ada.lovelace@example.com"


def test_email_keeps_plus_tags_and_subdomains() -> None:
    assert email("ada+crm@mail.example.co.uk", P) == "ada+crm@mail.example.co.uk"


@pytest.mark.parametrize("missing", [None, "", "   ", "\t\n"])
def test_optional_email_missing_is_none(missing: str | None) -> None:
    assert email(missing, P) is None


@pytest.mark.parametrize("missing", [None, "", "   "])
def test_required_email_missing_says_what_is_expected(missing: str | None) -> None:
    with pytest.raises(Invalid) as exc:
        email(missing, P, required=True)
    assert only_error(exc) == FieldError(
        P, "REQUIRED", "email is required and must be a valid address"
    )


@pytest.mark.parametrize(
    "bad",
    [
        "ada",
        "ada@",
        "@example.com",
        "ada@@example.com",
        "ada@bob@example.com",
        "ada@example",
        "ada@example.com.",
        "ada@.example.com",
        "ada@example..com",
        "ada@-example.com",
        "ada@example-.com",
        "ada@example.c0m",
        "ada@example.c",
        ".ada@example.com",
        "ada.@example.com",
        "a..da@example.com",
        "ada lovelace@example.com",
        "ada@exa mple.com",
        '"ada"@example.com',
        "ada@[127.0.0.1]",
        "ada@example_1.com",
    ],
)
def test_malformed_email_is_refused(bad: str) -> None:
    with pytest.raises(Invalid) as exc:
        email(bad, P)
    error = only_error(exc)
    assert error.code == "INVALID_EMAIL"
    assert error.field == P
    assert error.message.startswith("email must be a valid address")


def test_email_error_never_echoes_the_input() -> None:
    with pytest.raises(Invalid) as exc:
        email("secret-looking-value@nowhere", P)
    assert "secret-looking-value" not in only_error(exc).message


def test_unicode_domain_is_refused_with_a_hint_at_punycode() -> None:
    with pytest.raises(Invalid) as exc:
        email("anna@bücher.de", P)
    error = only_error(exc)
    assert error.code == "INVALID_EMAIL"
    assert "xn--" in error.message


def test_punycode_domain_is_accepted() -> None:
    assert email("Anna@XN--BCHER-KVA.de", P) == "anna@xn--bcher-kva.de"


def test_punycode_top_level_domain_is_accepted() -> None:
    assert email("info@example.xn--p1ai", P) == "info@example.xn--p1ai"


def test_unicode_local_part_is_refused() -> None:
    with pytest.raises(Invalid) as exc:
        email("jürgen@example.com", P)
    assert only_error(exc).code == "INVALID_EMAIL"


def test_local_part_of_64_characters_is_accepted() -> None:
    assert email("a" * 64 + "@example.com", P) == "a" * 64 + "@example.com"


def test_local_part_of_65_characters_is_refused() -> None:
    with pytest.raises(Invalid) as exc:
        email("a" * 65 + "@example.com", P)
    assert "64" in only_error(exc).message


def test_email_longer_than_254_is_too_long() -> None:
    long_domain = ".".join(["d" * 50] * 5) + ".com"
    with pytest.raises(Invalid) as exc:
        email("ada@" + long_domain, P)
    error = only_error(exc)
    assert error.code == "TOO_LONG"
    assert error.message == "email must be at most 254 characters"


def test_email_max_length_can_be_tightened() -> None:
    with pytest.raises(Invalid) as exc:
        email("a" * 60 + "@" + "b" * 20 + ".com", P, max_length=80)
    assert only_error(exc).code == "TOO_LONG"


def test_email_that_is_not_a_string_is_refused() -> None:
    bad: Any = 42
    with pytest.raises(Invalid) as exc:
        email(bad, P)
    assert only_error(exc).code == "INVALID_VALUE"


# --- phone ---------------------------------------------------------------------------------

PH = ("input", "phone")


def test_international_number_becomes_e164() -> None:
    assert phone("+44 20 7946 0958", PH) == "+442079460958"


def test_national_number_is_read_in_the_default_region() -> None:
    assert phone("020 7946 0958", PH, default_region="GB") == "+442079460958"


def test_default_region_is_case_insensitive() -> None:
    assert phone("(650) 253-0000", PH, default_region="us") == "+16502530000"


def test_international_number_ignores_the_default_region() -> None:
    assert phone("+1 650 253 0000", PH, default_region="GB") == "+16502530000"


def test_double_zero_prefix_is_international_in_a_region_that_dials_it() -> None:
    assert phone("0044 20 7946 0958", PH, default_region="DE") == "+442079460958"


def test_bracketed_trunk_zero_after_the_country_code_is_dropped() -> None:
    assert phone("+44 (0)20-7946-0958", PH) == "+442079460958"


def test_national_number_without_a_region_asks_for_a_country_code() -> None:
    with pytest.raises(Invalid) as exc:
        phone("020 7946 0958", PH)
    error = only_error(exc)
    assert error.code == "INVALID_PHONE"
    assert "+country code" in error.message
    assert "no default region" in error.message


def test_invalid_national_number_names_the_region_assumed() -> None:
    with pytest.raises(Invalid) as exc:
        phone("12345", PH, default_region="GB")
    error = only_error(exc)
    assert error.code == "INVALID_PHONE"
    assert "read as a GB number" in error.message


def test_invalid_international_number_does_not_mention_a_region() -> None:
    with pytest.raises(Invalid) as exc:
        phone("+44 12", PH, default_region="GB")
    assert "GB" not in only_error(exc).message


def test_number_valid_elsewhere_but_not_in_the_region_is_refused() -> None:
    with pytest.raises(Invalid) as exc:
        phone("650 253 0000", PH, default_region="GB")
    assert only_error(exc).code == "INVALID_PHONE"


@pytest.mark.parametrize(
    "with_extension", ["+44 20 7946 0958 ext. 12", "+44 20 7946 0958 x12", "+442079460958;ext=12"]
)
def test_extensions_are_refused(with_extension: str) -> None:
    with pytest.raises(Invalid) as exc:
        phone(with_extension, PH)
    error = only_error(exc)
    assert error.code == "INVALID_PHONE"
    assert "extension" in error.message


def test_vanity_letters_are_refused() -> None:
    with pytest.raises(Invalid) as exc:
        phone("1-800-FLOWERS", PH, default_region="US")
    error = only_error(exc)
    assert error.code == "INVALID_PHONE"
    assert "only digits" in error.message


def test_garbage_is_not_a_phone_number() -> None:
    with pytest.raises(Invalid) as exc:
        phone("call me", PH, default_region="GB")
    assert only_error(exc).code == "INVALID_PHONE"


def test_full_width_digits_are_normalised() -> None:
    full_width = "+44 20 7946 0958".translate({d: d + 0xFEE0 for d in range(0x30, 0x3A)})
    assert full_width != "+44 20 7946 0958"
    assert phone(full_width, PH) == "+442079460958"


def test_phone_longer_than_40_characters_is_too_long() -> None:
    with pytest.raises(Invalid) as exc:
        phone("+44 " + "2" * 40, PH)
    error = only_error(exc)
    assert error == FieldError(PH, "TOO_LONG", "phone must be at most 40 characters")


def test_empty_phone_is_missing() -> None:
    assert phone("  ", PH, default_region="GB") is None


def test_required_phone_missing_is_reported() -> None:
    with pytest.raises(Invalid) as exc:
        phone("", PH, required=True)
    assert only_error(exc).code == "REQUIRED"


def test_unknown_default_region_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="unknown phone region"):
        phone("020 7946 0958", PH, default_region="XX")


# --- text ----------------------------------------------------------------------------------

T = ("input", "lastName")


def test_text_is_trimmed() -> None:
    assert text("  Lovelace \n", T, max_length=80) == "Lovelace"


def test_text_keeps_unicode() -> None:
    assert text("Ørsted-Ñúñez 李", T, max_length=80) == "Ørsted-Ñúñez 李"


def test_text_is_nfc_normalised() -> None:
    assert text("Jose\u0301", T, max_length=80) == "Jos\u00e9"


def test_empty_text_counts_as_missing() -> None:
    assert text("", T, max_length=80) is None


def test_required_blank_text_is_reported_with_its_limit() -> None:
    with pytest.raises(Invalid) as exc:
        text("   ", T, max_length=80, required=True)
    assert only_error(exc) == FieldError(
        T, "REQUIRED", "lastName is required and must be text of at most 80 characters"
    )


def test_text_at_the_limit_is_accepted() -> None:
    assert text("x" * 80, T, max_length=80) == "x" * 80


def test_text_over_the_limit_is_too_long_and_not_echoed() -> None:
    with pytest.raises(Invalid) as exc:
        text("y" * 81, T, max_length=80)
    error = only_error(exc)
    assert error == FieldError(T, "TOO_LONG", "lastName must be at most 80 characters")


def test_length_is_measured_after_trimming() -> None:
    assert text("  " + "x" * 80 + "  ", T, max_length=80) == "x" * 80


def test_emoji_counts_as_two_characters_as_in_salesforce() -> None:
    with pytest.raises(Invalid) as exc:
        text("😀" * 41, T, max_length=80)
    assert only_error(exc).code == "TOO_LONG"


def test_single_line_text_refuses_a_line_break() -> None:
    with pytest.raises(Invalid) as exc:
        text("Ada\nLovelace", T, max_length=80)
    assert only_error(exc).code == "INVALID_VALUE"


def test_single_line_text_refuses_a_nul_byte() -> None:
    with pytest.raises(Invalid) as exc:
        text("Ada\x00", T, max_length=80)
    assert only_error(exc).code == "INVALID_VALUE"


def test_multiline_text_keeps_line_breaks_and_tabs() -> None:
    assert text("line 1\r\n\tline 2", T, max_length=80, multiline=True) == "line 1\r\n\tline 2"


def test_multiline_text_still_refuses_other_control_characters() -> None:
    with pytest.raises(Invalid) as exc:
        text("bell\x07", T, max_length=80, multiline=True)
    assert only_error(exc).code == "INVALID_VALUE"


# --- choice --------------------------------------------------------------------------------

C = ("input", "status")
STATUSES = [s.name for s in TicketStatus]


def test_choice_returns_the_allowed_spelling() -> None:
    assert choice(" on_hold ", C, STATUSES) == "ON_HOLD"


def test_choice_accepts_an_enum_member_by_name() -> None:
    assert choice(TicketStatus.SOLVED, C, STATUSES) == "SOLVED"


def test_choice_outside_the_allowed_values_lists_them() -> None:
    with pytest.raises(Invalid) as exc:
        choice("reopened", C, STATUSES)
    assert only_error(exc) == FieldError(
        C, "INVALID_VALUE", "status must be one of CLOSED, NEW, ON_HOLD, OPEN, PENDING, SOLVED"
    )


def test_choice_among_many_values_does_not_list_them_all() -> None:
    with pytest.raises(Invalid) as exc:
        choice("zz", C, [f"V{i}" for i in range(50)])
    assert only_error(exc).message == "status must be one of 50 allowed values"


def test_empty_choice_is_missing() -> None:
    assert choice("", C, STATUSES) is None


# --- instant -------------------------------------------------------------------------------

D = ("input", "since")


def test_instant_with_z_is_read_as_utc() -> None:
    assert instant("2024-05-01T12:00:00Z", D) == datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_instant_with_an_offset_is_converted_to_utc() -> None:
    assert instant("2024-05-01T14:00:00+02:00", D) == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert instant("2024-05-01T14:00:00+02:00", D).tzinfo is UTC  # type: ignore[union-attr]


def test_aware_datetime_is_accepted() -> None:
    moment = datetime(2024, 5, 1, 9, tzinfo=timezone(timedelta(hours=-3)))
    assert instant(moment, D) == datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("naive", ["2024-05-01T12:00:00", "2024-05-01"])
def test_naive_instant_text_is_refused(naive: str) -> None:
    with pytest.raises(Invalid) as exc:
        instant(naive, D)
    error = only_error(exc)
    assert error.code == "INVALID_DATE"
    assert "time zone" in error.message


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(Invalid) as exc:
        instant(datetime(2024, 5, 1, 12), D)
    assert only_error(exc).code == "INVALID_DATE"


@pytest.mark.parametrize("bad", ["yesterday", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z"])
def test_unreadable_instant_is_refused(bad: str) -> None:
    with pytest.raises(Invalid) as exc:
        instant(bad, D)
    assert only_error(exc).code == "INVALID_DATE"


def test_missing_required_instant_is_reported() -> None:
    with pytest.raises(Invalid) as exc:
        instant(None, D, required=True)
    assert only_error(exc).code == "REQUIRED"


# --- Validator -----------------------------------------------------------------------------


def test_validator_collects_every_error_before_raising() -> None:
    v = Validator()
    v.email("email", "nope")
    v.phone("phone", "nope", default_region="GB")
    v.text("company", "", max_length=10, required=True)
    assert len(v.errors) == 3
    with pytest.raises(Invalid) as exc:
        v.check()
    assert [(e.field, e.code) for e in exc.value.errors] == [
        (("input", "email"), "INVALID_EMAIL"),
        (("input", "phone"), "INVALID_PHONE"),
        (("input", "company"), "REQUIRED"),
    ]


def test_validator_returns_values_and_passes_the_check_when_all_is_well() -> None:
    v = Validator(root="lead")
    assert v.email("email", "A@B.io") == "a@b.io"
    assert v.instant("at", "2024-01-01T00:00:00Z") == datetime(2024, 1, 1, tzinfo=UTC)
    v.check()


def test_validator_uses_its_root_in_paths() -> None:
    v = Validator(root="patch")
    v.choice("priority", "meh", allowed=["LOW"])
    assert v.errors[0].field == ("patch", "priority")


def test_invalid_field_gives_none_from_the_validator() -> None:
    v = Validator()
    assert v.email("email", "nope") is None


# --- new lead ------------------------------------------------------------------------------

LEAD: dict[str, Any] = {
    "first_name": " Ada ",
    "last_name": "Lovelace",
    "company": "Analytical Engines Ltd",
    "email": "Ada@Example.com",
    "phone": "020 7946 0958",
    "lead_source": "Web",
    "brand": "acme",
}


def lead_errors(data: dict[str, Any], region: str | None = "GB") -> list[tuple[Any, str]]:
    with pytest.raises(Invalid) as exc:
        validate_new_lead(data, region)
    return [(e.field, e.code) for e in exc.value.errors]


def test_new_lead_is_normalised() -> None:
    assert validate_new_lead(LEAD, "GB") == {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company": "Analytical Engines Ltd",
        "email": "ada@example.com",
        "phone": "+442079460958",
        "lead_source": "Web",
        "brand": "acme",
    }


def test_new_lead_with_only_an_email_is_accepted_and_omits_what_was_not_given() -> None:
    data = {"last_name": "Lovelace", "company": "AE", "email": "ada@example.com"}
    assert validate_new_lead(data, None) == data


def test_new_lead_with_only_a_phone_is_accepted() -> None:
    data = {"last_name": "Lovelace", "company": "AE", "phone": "+44 20 7946 0958"}
    assert validate_new_lead(data, None)["phone"] == "+442079460958"


def test_new_lead_without_email_or_phone_is_refused() -> None:
    data = {"last_name": "Lovelace", "company": "AE", "email": " ", "phone": None}
    with pytest.raises(Invalid) as exc:
        validate_new_lead(data, "GB")
    assert only_error(exc) == FieldError(
        ("input", "email"), "REQUIRED", "email or phone is required: give at least one"
    )


def test_new_lead_with_a_bad_email_and_no_phone_reports_only_the_email() -> None:
    data = {"last_name": "Lovelace", "company": "AE", "email": "nope"}
    assert lead_errors(data) == [(("input", "email"), "INVALID_EMAIL")]


def test_new_lead_reports_all_errors_at_once_with_graphql_paths() -> None:
    data = {
        "first_name": "x" * 41,
        "last_name": "",
        "email": "ada@",
        "phone": "12",
        "lead_source": "s" * 41,
        "brand": "b" * 65,
    }
    assert lead_errors(data) == [
        (("input", "firstName"), "TOO_LONG"),
        (("input", "lastName"), "REQUIRED"),
        (("input", "company"), "REQUIRED"),
        (("input", "email"), "INVALID_EMAIL"),
        (("input", "phone"), "INVALID_PHONE"),
        (("input", "leadSource"), "TOO_LONG"),
        (("input", "brand"), "TOO_LONG"),
    ]


def test_new_lead_email_is_limited_to_salesforces_80_characters() -> None:
    data = {**LEAD, "email": "a" * 64 + "@" + "b" * 12 + ".com"}
    assert lead_errors(data) == [(("input", "email"), "TOO_LONG")]


def test_new_lead_last_name_is_limited_to_80_and_company_to_255() -> None:
    assert validate_new_lead({**LEAD, "last_name": "l" * 80, "company": "c" * 255}, "GB")
    data = {**LEAD, "last_name": "l" * 81, "company": "c" * 256}
    assert lead_errors(data) == [
        (("input", "lastName"), "TOO_LONG"),
        (("input", "company"), "TOO_LONG"),
    ]


def test_new_lead_national_phone_without_a_region_is_refused() -> None:
    data = {**LEAD, "email": None}
    assert lead_errors(data, region=None) == [(("input", "phone"), "INVALID_PHONE")]


def test_new_lead_refuses_unknown_fields() -> None:
    assert lead_errors({**LEAD, "lastname": "x"}) == [(("input", "lastname"), "UNKNOWN_FIELD")]


def test_new_lead_refuses_a_number_where_text_is_expected() -> None:
    assert lead_errors({**LEAD, "company": 7}) == [(("input", "company"), "INVALID_VALUE")]


# --- ticket update -------------------------------------------------------------------------


def ticket_errors(data: dict[str, Any]) -> list[tuple[Any, str]]:
    with pytest.raises(Invalid) as exc:
        validate_ticket_update(data)
    return [(e.field, e.code) for e in exc.value.errors]


def test_ticket_update_is_normalised() -> None:
    data = {"subject": " Login fails ", "status": "open", "priority": "Urgent", "comment": "a\nb"}
    assert validate_ticket_update(data) == {
        "subject": "Login fails",
        "status": "OPEN",
        "priority": "URGENT",
        "comment": "a\nb",
    }


def test_ticket_update_holds_only_the_fields_given() -> None:
    assert validate_ticket_update({"status": "SOLVED", "subject": None}) == {"status": "SOLVED"}


def test_ticket_update_accepts_enum_members() -> None:
    data = {"status": TicketStatus.PENDING, "priority": TicketPriority.LOW}
    assert validate_ticket_update(data) == {"status": "PENDING", "priority": "LOW"}


def test_ticket_update_with_nothing_to_change_is_refused() -> None:
    assert ticket_errors({"comment": None}) == [(("input",), "REQUIRED")]


def test_ticket_update_refuses_an_empty_subject() -> None:
    assert ticket_errors({"subject": "  "}) == [(("input", "subject"), "REQUIRED")]


def test_ticket_update_reports_all_errors_at_once() -> None:
    data = {"subject": "s" * 151, "status": "REOPENED", "priority": "P1", "comment": "c" * 65536}
    assert ticket_errors(data) == [
        (("input", "subject"), "TOO_LONG"),
        (("input", "status"), "INVALID_VALUE"),
        (("input", "priority"), "INVALID_VALUE"),
        (("input", "comment"), "TOO_LONG"),
    ]


def test_ticket_comment_at_65535_characters_is_accepted() -> None:
    assert validate_ticket_update({"comment": "c" * 65535}) == {"comment": "c" * 65535}


def test_ticket_update_refuses_unknown_fields_only() -> None:
    assert ticket_errors({"status": "OPEN", "assignee": "bob"}) == [
        (("input", "assignee"), "UNKNOWN_FIELD")
    ]


def test_invalid_message_joins_every_error() -> None:
    with pytest.raises(Invalid, match="subject must be at most 150 characters; status must be"):
        validate_ticket_update({"subject": "s" * 151, "status": "nope"})

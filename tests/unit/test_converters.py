from datetime import UTC, datetime
from decimal import Decimal

import pytest

from app.domain.models import LeadStatus, TicketPriority, TicketStatus
from app.domain.money import Money
from app.mapping import converters as c


class TestText:
    def test_empty_and_blank_strings_are_no_value(self) -> None:
        assert c.text("") is None
        assert c.text("   ") is None
        assert c.text(None) is None

    def test_surrounding_space_is_trimmed(self) -> None:
        assert c.text("  Ada ") == "Ada"

    def test_email_is_lower_cased(self) -> None:
        assert c.email(" Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"


class TestNumbers:
    @pytest.mark.parametrize(("raw", "expected"), [("17", 17), (17, 17), ("-3", -3), ("", None)])
    def test_integers_from_strings_and_numbers(self, raw: object, expected: int | None) -> None:
        assert c.integer(raw) == expected

    @pytest.mark.parametrize("raw", ["1.5", "abc", True])
    def test_non_integers_are_refused(self, raw: object) -> None:
        with pytest.raises(c.ConversionError):
            c.integer(raw)

    def test_booleans_accept_only_true_and_false(self) -> None:
        assert c.boolean("TRUE") is True
        assert c.boolean(False) is False
        with pytest.raises(c.ConversionError):
            c.boolean("yes")


class TestInstants:
    def test_epoch_milliseconds_are_utc(self) -> None:
        assert c.epoch_ms(1572480000000) == datetime(2019, 10, 31, 0, 0, tzinfo=UTC)
        assert c.epoch_ms("1572480000123").microsecond == 123000

    def test_hubspot_accepts_iso_and_epoch_strings(self) -> None:
        iso = c.hubspot_datetime("2019-10-31T00:00:00.000Z")
        assert iso == c.hubspot_datetime("1572480000000")

    def test_hubspot_empty_string_is_no_value(self) -> None:
        assert c.hubspot_datetime("") is None

    def test_salesforce_offset_without_colon(self) -> None:
        assert c.salesforce_datetime("2013-05-20T20:49:32.000+0000") == datetime(
            2013, 5, 20, 20, 49, 32, tzinfo=UTC
        )

    def test_salesforce_non_utc_offset_is_normalised_to_utc(self) -> None:
        assert c.salesforce_datetime("2013-05-20T20:49:32.000-0700") == datetime(
            2013, 5, 21, 3, 49, 32, tzinfo=UTC
        )

    def test_salesforce_refuses_other_shapes(self) -> None:
        with pytest.raises(c.ConversionError):
            c.salesforce_datetime("20/05/2013")

    def test_zendesk_z_times(self) -> None:
        assert c.iso_datetime("2026-01-01T10:00:00Z") == datetime(2026, 1, 1, 10, tzinfo=UTC)

    def test_a_time_without_zone_is_refused_not_guessed(self) -> None:
        with pytest.raises(c.ConversionError, match="no time zone"):
            c.iso_datetime("2026-01-01T10:00:00")


class TestLocalTimes:
    def test_sao_paulo_is_three_hours_behind_utc(self) -> None:
        assert c.local_datetime("28/11/2026 21:05", "America/Sao_Paulo") == datetime(
            2026, 11, 29, 0, 5, tzinfo=UTC
        )

    def test_london_summer_time_is_an_hour_ahead(self) -> None:
        assert c.local_datetime("01/07/2026 12:00", "Europe/London") == datetime(
            2026, 7, 1, 11, 0, tzinfo=UTC
        )

    def test_an_ambiguous_autumn_time_is_its_first_occurrence(self) -> None:
        # 25 Oct 2026, clocks in London go back from 02:00 BST to 01:00 GMT: 01:30 happens twice.
        assert c.local_datetime("25/10/2026 01:30", "Europe/London") == datetime(
            2026, 10, 25, 0, 30, tzinfo=UTC
        )

    def test_a_skipped_spring_time_keeps_the_offset_before_the_change(self) -> None:
        # 29 Mar 2026, London skips 01:00-02:00; 01:30 is read as GMT.
        assert c.local_datetime("29/03/2026 01:30", "Europe/London") == datetime(
            2026, 3, 29, 1, 30, tzinfo=UTC
        )

    def test_an_unknown_zone_is_an_error(self) -> None:
        with pytest.raises(c.ConversionError, match="unknown time zone"):
            c.local_datetime("01/07/2026 12:00", "Mars/Olympus")

    def test_the_us_order_is_refused(self) -> None:
        with pytest.raises(c.ConversionError):
            c.local_datetime("07/31/2026 12:00", "Europe/London")

    def test_a_missing_zone_is_an_error(self) -> None:
        with pytest.raises(c.ConversionError):
            c.local_datetime("01/07/2026 12:00", None)

    @pytest.mark.parametrize(
        "raw",
        [
            "20/05/2024 13:45",
            "5/1/2024 1:05",
            "20/05/2024   13:45",
            "2/3/2024\t7:8",
            " 20/05/2024 13:45\n",
            "31/02/2024 10:00",
            "29/02/2024 23:59",
            "20-05-2024 13:45",
            "20/05/24 13:45",
            "20/05/2024 24:00",
            "20/05/2024 13:60",
            "0/05/2024 13:45",
            "001/05/2024 13:45",
            "20/05/2024 13:45:10",
            "٢٠/05/2024 13:45",
        ],
    )
    def test_read_as_strptime_reads_the_documented_format(self, raw: str) -> None:
        try:
            naive: datetime | None = datetime.strptime(raw.strip(), "%d/%m/%Y %H:%M")
        except ValueError:
            naive = None
        if naive is None:
            with pytest.raises(c.ConversionError, match="expected DD/MM/YYYY HH:mm"):
                c.local_datetime(raw, "UTC")
        else:
            assert c.local_datetime(raw, "UTC") == naive.replace(tzinfo=UTC)


class TestMoney:
    def test_minor_units_become_exact_decimals(self) -> None:
        assert c.money(12345, "EUR") == Money(Decimal("123.45"), "EUR")
        assert c.money(12345, "EUR").text == "123.45"  # type: ignore[union-attr]

    def test_zero_and_three_decimal_currencies(self) -> None:
        assert c.money(500, "JPY").text == "500"  # type: ignore[union-attr]
        assert c.money(1234, "KWD").text == "1.234"  # type: ignore[union-attr]

    def test_large_amounts_lose_nothing(self) -> None:
        assert c.money(123456789012345678, "BRL").text == "1234567890123456.78"  # type: ignore[union-attr]

    def test_missing_amount_is_no_value_and_bad_currency_an_error(self) -> None:
        assert c.money(None, "EUR") is None
        with pytest.raises(c.ConversionError):
            c.money(100, "euro")

    def test_derived_revenue_subtracts_exactly(self) -> None:
        assert (Money.from_minor(1000, "GBP") - Money.from_minor(1, "GBP")).text == "9.99"


class TestVocabularies:
    def test_zendesk_hold_is_on_hold(self) -> None:
        assert c.vocabulary("hold", c.ZENDESK_TICKET_STATUSES, "status") is TicketStatus.ON_HOLD

    def test_lookup_ignores_case(self) -> None:
        assert c.vocabulary("URGENT", c.ZENDESK_TICKET_PRIORITIES, "p") is TicketPriority.URGENT

    def test_an_unknown_value_is_an_error_naming_it(self) -> None:
        with pytest.raises(c.ConversionError, match="'escalated'"):
            c.vocabulary("escalated", c.ZENDESK_TICKET_STATUSES, "ticket status")

    def test_a_converted_lead_is_converted_whatever_its_status(self) -> None:
        assert c.lead_status("Working - Contacted", "true") is LeadStatus.CONVERTED
        assert c.lead_status("Working - Contacted", False) is LeadStatus.WORKING

    def test_salesforce_default_picklist(self) -> None:
        assert c.lead_status("Open - Not Contacted", False) is LeadStatus.NEW
        assert c.lead_status("Closed - Not Converted", False) is LeadStatus.UNQUALIFIED

"""How an org's Lead Status values are read into ours, and what the live check says of them
(``app/connectors/salesforce/describe.py``): pure functions over what describe and LeadStatus
answer."""

from __future__ import annotations

from app.connectors.salesforce.describe import LeadMetadata, StatusValue, problems, vocabulary
from app.domain.models import LeadStatus


def org(*values: tuple[str, str], restricted: bool = True) -> LeadMetadata:
    """Statuses as (value, flags): ``d`` default, ``c`` converted, ``i`` inactive."""
    statuses = tuple(
        StatusValue(value, value, "i" not in flags, "d" in flags, "c" in flags)
        for value, flags in values
    )
    return LeadMetadata(frozenset({"id", "email", "status"}), statuses, restricted)


FRESH = org(
    ("Open - Not Contacted", "d"),
    ("Working - Contacted", ""),
    ("Closed - Converted", "c"),
    ("Closed - Not Converted", ""),
)


def test_a_fresh_org_has_no_value_for_qualified() -> None:
    words = vocabulary(FRESH, {})
    assert words.send == {
        LeadStatus.NEW: "Open - Not Contacted",
        LeadStatus.WORKING: "Working - Contacted",
        LeadStatus.CONVERTED: "Closed - Converted",
        LeadStatus.UNQUALIFIED: "Closed - Not Converted",
    }
    assert words.default == "Open - Not Contacted"
    [finding] = problems("sources.sf", FRESH, None, ["Id", "Email"], {})
    assert finding.severity == "warning"
    assert finding.message.startswith("lead status QUALIFIED: the org's Lead.Status picklist")


def test_the_org_says_which_is_converted_and_which_is_new_whatever_they_are_called() -> None:
    custom = org(("Inbox", "d"), ("Won", "c"), ("Sales Accepted", ""), ("Archived", "i"))
    words = vocabulary(custom, {"Sales Accepted": LeadStatus.QUALIFIED})
    assert words.read == {
        "inbox": LeadStatus.NEW,
        "won": LeadStatus.CONVERTED,
        "sales accepted": LeadStatus.QUALIFIED,
    }
    assert words.unmapped == ("Archived",)
    assert LeadStatus.QUALIFIED in words.send


def test_an_inactive_value_is_read_but_never_sent() -> None:
    custom = org(("New", "d"), ("Converted", "c"), ("Qualified", "i"))
    words = vocabulary(custom, {})
    assert words.read["qualified"] is LeadStatus.QUALIFIED
    assert LeadStatus.QUALIFIED not in words.send


def test_missing_fields_and_a_wrong_override_are_errors_at_their_paths() -> None:
    found = problems(
        "sources.sf",
        FRESH,
        "Brand__c",
        ["Id", "Email", "Brand__c", "Rating"],
        {"Hot": LeadStatus.NEW},
    )
    errors = [(f.path, f.message) for f in found if f.severity == "error"]
    assert [path for path, _ in errors] == [
        "sources.sf.brand_field",
        "sources.sf",
        "sources.sf.lead_statuses.Hot",
    ]
    assert "no field Brand__c" in errors[0][1]
    assert "no field Rating" in errors[1][1]

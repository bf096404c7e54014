"""Where a HubSpot customers list goes on: HubSpot's own ``after``, or by id past the 10,000
results one search gives."""

from __future__ import annotations

import pytest

from app.connectors.errors import UnsupportedQuery
from app.connectors.hubspot import payloads
from app.domain.ids import NodeId
from app.domain.models import Customer


def _contact(native: str) -> Customer:
    return Customer(id=NodeId("hubspot", native), email=None, first_name=None, last_name=None)


def test_hubspots_own_cursor_is_followed_while_it_gives_one() -> None:
    assert payloads.next_position("200", False, 50_000, _contact("1200")) == "200"
    assert payloads.resume("200") == ("200", None)
    assert payloads.resume(None) == (None, None)


def test_a_query_that_stops_at_the_cap_goes_on_past_its_last_id() -> None:
    position = payloads.next_position(None, False, 10_001, _contact("123456"))
    assert position == "~id~123456"
    assert payloads.resume(position) == (None, "123456")
    email = {"propertyName": "email", "operator": "EQ", "value": "a@example.com"}
    assert payloads.and_above([email], "123456") == [
        email, {"propertyName": "hs_object_id", "operator": "GT", "value": "123456"}
    ]  # fmt: skip


def test_by_id_needs_a_filter_of_its_own_within_hubspots_ten() -> None:
    nine = [{"propertyName": f"p{n}", "operator": "EQ", "value": "x"} for n in range(9)]
    assert len(payloads.and_above(nine, "7")) == payloads.MAX_FILTERS
    with pytest.raises(UnsupportedQuery, match="takes one more"):
        payloads.and_above([*nine, nine[0]], "7")


def test_the_end_is_the_end() -> None:
    assert payloads.next_position(None, False, 10_000, _contact("9")) is None  # all were given
    assert payloads.next_position(None, True, 40, _contact("9")) is None  # by id: no more
    assert payloads.next_position(None, False, 50_000, None) is None  # an empty answer


def test_by_id_every_page_goes_on_past_its_last_id() -> None:
    assert payloads.next_position("100", True, 400, _contact("77")) == "~id~77"


@pytest.mark.parametrize("cursor", ["~id~", "~id~12a", "~id~-1", "~id~1 OR 1", "~id~\u00b2"])
def test_a_cursor_by_id_that_is_not_an_id_is_refused(cursor: str) -> None:
    with pytest.raises(UnsupportedQuery):
        payloads.resume(cursor)

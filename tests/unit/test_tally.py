"""How many of each requester's newest shown tickets a read has taken."""

from __future__ import annotations

from app.connectors.base import Requester, Shown, Tally
from app.domain.models import NodeId, Ticket, TicketStatus


def _ticket(brand: str) -> Ticket:
    return Ticket(
        id=NodeId("zendesk", "1"), status=TicketStatus.OPEN, subject="s", brand=brand,
        created_at=None,
    )  # fmt: skip


def test_only_tickets_the_caller_is_shown_count_towards_first() -> None:
    tally = Tally([Requester("c1", None, 2)], Shown(frozenset({"a"}), lambda t: t.brand == "a"))
    for brand in ("a", "b", "b"):
        assert tally.wants("c1")
        tally.took("c1", _ticket(brand))
    assert tally.wants("c1")
    tally.took("c1", _ticket("a"))
    assert not tally.wants("c1")


def test_a_requester_with_no_number_wants_every_ticket() -> None:
    tally = Tally([Requester("c2", None, None)], Shown(None, lambda t: True))
    for _ in range(10):
        tally.took("c2", _ticket("a"))
    assert tally.wants("c2")

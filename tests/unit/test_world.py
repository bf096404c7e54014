from app.simulators.world import BRANDS, build_world


def test_the_same_seed_builds_the_same_world() -> None:
    first, second = (
        build_world(7, customers=50, leads=90, tickets=120),
        build_world(7, customers=50, leads=90, tickets=120),
    )
    assert [p.email for p in first.people] == [p.email for p in second.people]
    assert [t.subject for t in first.tickets] == [t.subject for t in second.tickets]


def test_another_seed_builds_another_world() -> None:
    emails = {p.email for p in build_world(1, customers=50, leads=90, tickets=10).people}
    assert emails != {p.email for p in build_world(2, customers=50, leads=90, tickets=10).people}


def test_the_default_world_has_the_promised_sizes(world) -> None:  # type: ignore[no-untyped-def]
    assert len(world.customers) == 1000
    assert len(world.leads) == 2000
    assert len(world.tickets) == 5000
    assert len(world.players) > 800
    assert {p.brand.key for p in world.customers} == {b.key for b in BRANDS}


def test_emails_are_unique_and_lower_case(world) -> None:  # type: ignore[no-untyped-def]
    emails = [p.email for p in world.people]
    assert len(emails) == len(set(emails))
    assert all(e == e.lower() and "@" in e for e in emails)


def test_some_leads_are_customers_and_some_of_those_converted(world) -> None:  # type: ignore[no-untyped-def]
    both = [p for p in world.people if p.lead and p.customer]
    assert both
    assert any(p.lead_converted for p in both)
    assert not any(p.lead_converted for p in world.people if not p.customer)


def test_every_ticket_requester_is_a_customer(world) -> None:  # type: ignore[no-untyped-def]
    assert all(t.requester.customer for t in world.tickets)

"""The seeded world every simulator serves a view of.

One set of people, companies and brands, generated deterministically from a seed, so that the
same person carries the same email in HubSpot, Salesforce, Zendesk and the player-stats back
office, and the gateway has something real to link. Each simulator turns this into its own
wire format (its ``store.py``); nothing here knows any CRM.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from faker import Faker

#: Every timestamp in the world lies after this instant (and before ``WORLD_END``), so the
#: data do not change with the day the simulators start.
WORLD_START = datetime(2023, 1, 1, tzinfo=UTC)
WORLD_END = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Brand:
    key: str
    name: str
    zendesk_brand_id: int
    tz: str
    currency: str
    country: str


BRANDS: tuple[Brand, ...] = (
    Brand("luckyspin", "LuckySpin Casino", 360001, "America/Sao_Paulo", "BRL", "BR"),
    Brand("goldcoast", "Gold Coast Bet", 360002, "Europe/Malta", "EUR", "MT"),
    Brand("northstar", "Northstar Games", 360003, "Europe/London", "GBP", "GB"),
)


@dataclass(frozen=True, slots=True)
class Company:
    idx: int
    name: str
    domain: str
    city: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Person:
    """A human who appears in one or more systems.

    ``customer`` people are HubSpot contacts; ``lead`` people have a Salesforce lead;
    ``player_id`` is set for those with a player-stats record.
    """

    idx: int
    first_name: str
    last_name: str
    email: str
    phone: str | None
    brand: Brand
    company: Company | None
    created_at: datetime
    updated_at: datetime
    lifecycle_stage: str
    customer: bool
    lead: bool
    lead_converted: bool
    lead_status: str
    lead_source: str | None
    player_id: str | None

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def hubspot_id(self) -> str | None:
        """The HubSpot contact id of a customer (HubSpot ids are numeric strings)."""
        return str(HUBSPOT_CONTACT_ID_BASE + self.idx) if self.customer else None


@dataclass(frozen=True, slots=True)
class TicketSeed:
    idx: int
    requester: Person
    subject: str
    description: str
    status: str  # Zendesk vocabulary: new open pending hold solved closed
    priority: str | None  # low normal high urgent, or None
    created_at: datetime
    updated_at: datetime
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PlayerSeed:
    player_id: str
    person: Person
    registered_at: datetime
    last_login: datetime
    updated_at: datetime
    level: int
    points_balance: int
    points_ever: int
    deposit_count: int
    deposits_minor: int
    withdrawal_count: int
    withdrawals_minor: int
    bets_minor: int
    wins_minor: int
    bonus_minor: int
    missions_completed: int
    tournaments_played: int
    churn_score: float
    predicted_ltv_minor: int


HUBSPOT_CONTACT_ID_BASE = 1001
LEVEL_NAMES: tuple[str, ...] = ("Bronze", "Silver", "Gold", "Platinum", "Diamond", "Black")
LIFECYCLE_STAGES: tuple[str, ...] = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
)
# Salesforce's default LeadStatus picklist.
LEAD_STATUSES: tuple[str, ...] = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Not Converted",
)
LEAD_SOURCES: tuple[str | None, ...] = ("Web", "Phone Inquiry", "Partner Referral", "Other", None)
TICKET_STATUSES: tuple[str, ...] = ("new", "open", "pending", "hold", "solved", "closed")
TICKET_STATUS_WEIGHTS: tuple[int, ...] = (10, 30, 15, 5, 25, 15)
TICKET_PRIORITIES: tuple[str | None, ...] = ("low", "normal", "high", "urgent", None)
TICKET_SUBJECTS: tuple[str, ...] = (
    "Withdrawal still pending",
    "Bonus not credited",
    "Cannot log in",
    "Verify my documents",
    "Deposit failed",
    "Question about my points",
    "Close my account",
    "Game froze during a round",
    "Change my email address",
    "Tournament prize missing",
)


@dataclass(slots=True)
class World:
    seed: int
    brands: tuple[Brand, ...]
    companies: list[Company]
    people: list[Person]
    tickets: list[TicketSeed]
    players: list[PlayerSeed]
    by_email: dict[str, Person] = field(default_factory=dict)

    @property
    def customers(self) -> list[Person]:
        return [p for p in self.people if p.customer]

    @property
    def leads(self) -> list[Person]:
        return [p for p in self.people if p.lead]


def _instant(rng: random.Random, start: datetime, end: datetime) -> datetime:
    span = int((end - start).total_seconds())
    return (start + timedelta(seconds=rng.randrange(max(span, 1)))).replace(microsecond=0)


def _phone(rng: random.Random, fake: Faker, country: str) -> str | None:
    # The CRMs hold phones as people typed them: several formats, some missing.
    roll = rng.random()
    if roll < 0.1:
        return None
    digits = "".join(rng.choice(string.digits) for _ in range(8))
    if country == "BR":
        return f"+55 11 9{digits[:4]}-{digits[4:]}" if roll < 0.6 else f"(11) 9{digits}"
    if country == "MT":
        return f"+356 {digits[:4]} {digits[4:]}" if roll < 0.6 else f"00356{digits}"
    return f"+44 7{digits[:3]} {digits[3:]}0" if roll < 0.6 else f"07{digits[:3]} {digits[3:]}1"


def _unique_email(fake: Faker, first: str, last: str, taken: set[str], rng: random.Random) -> str:
    base = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
    base = "".join(ch for ch in base if ch in string.ascii_lowercase + ".")
    domain = fake.free_email_domain()
    email = f"{base}@{domain}"
    while email in taken:
        email = f"{base}{rng.randrange(10, 9999)}@{domain}"
    taken.add(email)
    return email


def build_world(
    seed: int = 42,
    customers: int = 1000,
    leads: int = 2000,
    tickets: int = 5000,
    companies: int = 200,
    player_share: float = 0.85,
) -> World:
    """Generate the world for ``seed``; the same arguments always give the same world.

    Of the ``leads``, about a third belong to people who are also customers (half of those
    converted); the rest are people only Salesforce knows.
    """
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)

    company_list = [
        Company(
            idx=i,
            name=fake.unique.company(),
            domain=fake.unique.domain_name(),
            city=fake.city(),
            created_at=_instant(rng, WORLD_START, WORLD_START + timedelta(days=365)),
        )
        for i in range(companies)
    ]

    shared_leads = min(customers, leads // 3)
    lead_only = max(leads - shared_leads, 0)
    taken: set[str] = set()
    people: list[Person] = []
    player_no = 0
    for idx in range(customers + lead_only):
        customer = idx < customers
        lead = idx < shared_leads or not customer
        converted = customer and lead and idx % 2 == 0
        brand = BRANDS[rng.randrange(len(BRANDS))]
        first, last = fake.first_name(), fake.last_name()
        created = _instant(rng, WORLD_START, WORLD_END - timedelta(days=30))
        updated = _instant(rng, created, WORLD_END)
        player_id = None
        if customer and rng.random() < player_share:
            player_no += 1
            player_id = f"p-{player_no:06d}"
        people.append(
            Person(
                idx=idx,
                first_name=first,
                last_name=last,
                email=_unique_email(fake, first, last, taken, rng),
                phone=_phone(rng, fake, brand.country),
                brand=brand,
                company=company_list[rng.randrange(companies)] if rng.random() < 0.8 else None,
                created_at=created,
                updated_at=updated,
                lifecycle_stage="customer"
                if player_id
                else LIFECYCLE_STAGES[rng.randrange(len(LIFECYCLE_STAGES))],
                customer=customer,
                lead=lead,
                lead_converted=converted,
                lead_status="Closed - Converted"
                if converted
                else LEAD_STATUSES[rng.randrange(len(LEAD_STATUSES))],
                lead_source=LEAD_SOURCES[rng.randrange(len(LEAD_SOURCES))],
                player_id=player_id,
            )
        )

    customer_people = people[:customers]
    ticket_list: list[TicketSeed] = []
    for i in range(tickets):
        requester = customer_people[rng.randrange(len(customer_people))]
        created = _instant(rng, requester.created_at, WORLD_END - timedelta(days=1))
        subject = TICKET_SUBJECTS[rng.randrange(len(TICKET_SUBJECTS))]
        ticket_list.append(
            TicketSeed(
                idx=i,
                requester=requester,
                subject=subject,
                description=fake.paragraph(nb_sentences=3),
                status=rng.choices(TICKET_STATUSES, TICKET_STATUS_WEIGHTS)[0],
                priority=TICKET_PRIORITIES[rng.randrange(len(TICKET_PRIORITIES))],
                created_at=created,
                updated_at=_instant(rng, created, WORLD_END),
                tags=tuple(sorted({requester.brand.key, subject.split()[0].lower()})),
            )
        )

    players: list[PlayerSeed] = []
    for person in customer_people:
        if person.player_id is None:
            continue
        level = rng.randrange(len(LEVEL_NAMES))
        ever = rng.randrange(100, 50_000) * (level + 1)
        deposits_minor = rng.randrange(1_000, 5_000_000)
        bets = deposits_minor * rng.randrange(2, 12)
        registered = person.created_at
        players.append(
            PlayerSeed(
                player_id=person.player_id,
                person=person,
                registered_at=registered,
                last_login=_instant(rng, registered, WORLD_END),
                updated_at=_instant(rng, registered, WORLD_END),
                level=level + 1,
                points_balance=rng.randrange(0, ever + 1),
                points_ever=ever,
                deposit_count=rng.randrange(1, 400),
                deposits_minor=deposits_minor,
                withdrawal_count=rng.randrange(0, 100),
                withdrawals_minor=rng.randrange(0, deposits_minor + 1),
                bets_minor=bets,
                wins_minor=int(bets * rng.uniform(0.85, 0.99)),
                bonus_minor=rng.randrange(0, deposits_minor // 5 + 1),
                missions_completed=rng.randrange(0, 300),
                tournaments_played=rng.randrange(0, 80),
                churn_score=round(rng.random(), 4),
                predicted_ltv_minor=rng.randrange(0, 10_000_000),
            )
        )

    return World(
        seed=seed,
        brands=BRANDS,
        companies=company_list,
        people=people,
        tickets=ticket_list,
        players=players,
        by_email={p.email: p for p in people},
    )

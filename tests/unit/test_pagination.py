import pytest

from app.connectors.base import Page
from app.services.pagination import InvalidCursor, Position, decode, encode, paginate

ITEMS = [f"r{i}" for i in range(10)]


class OffsetCRM:
    """A CRM list with offset tokens, answering at most `limit` per call, like HubSpot."""

    def __init__(self, limit: int = 4) -> None:
        self.limit = limit
        self.calls: list[tuple[int, str | None]] = []

    async def fetch(self, count: int, cursor: str | None) -> Page[str]:
        self.calls.append((count, cursor))
        start = int(cursor or 0)
        end = min(start + min(count, self.limit), len(ITEMS))
        return Page(ITEMS[start:end], str(end) if end < len(ITEMS) else None, total=len(ITEMS))


async def walk(first: int, crm: OffsetCRM) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        page = await paginate("scope", first, after, crm.fetch)
        seen += [e.node for e in page.edges]
        if not page.has_next_page:
            return seen
        after = page.end_cursor


@pytest.mark.parametrize("first", [1, 3, 4, 7, 10, 50])
async def test_walking_the_pages_sees_every_item_once_in_order(first: int) -> None:
    assert await walk(first, OffsetCRM()) == ITEMS


async def test_every_edge_cursor_resumes_right_after_its_edge() -> None:
    crm = OffsetCRM()
    page = await paginate("scope", 3, None, crm.fetch)
    middle = page.edges[1].cursor
    resumed = await paginate("scope", 2, middle, crm.fetch)
    assert [e.node for e in resumed.edges] == ["r2", "r3"]


async def test_the_end_cursor_of_a_full_page_is_the_crms_own() -> None:
    crm = OffsetCRM(limit=4)
    page = await paginate("scope", 4, None, crm.fetch)
    assert decode("scope", page.end_cursor or "") == Position("4", 0)
    await paginate("scope", 4, page.end_cursor, crm.fetch)
    assert crm.calls[-1] == (4, "4")


async def test_the_last_page_says_there_is_no_next_one() -> None:
    page = await paginate("scope", 20, None, OffsetCRM(limit=100).fetch)
    assert len(page.edges) == 10
    assert not page.has_next_page
    assert page.total_count == 10


async def test_first_zero_answers_no_edges_but_knows_if_there_are_more() -> None:
    page = await paginate("scope", 0, None, OffsetCRM().fetch)
    assert page.edges == []
    assert page.has_next_page


@pytest.mark.parametrize("cursor", ["garbage", "e30", encode("other", Position(None, 1))])
def test_a_foreign_or_forged_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode("scope", cursor)


def test_a_negative_skip_is_refused() -> None:
    with pytest.raises(InvalidCursor):
        decode("scope", encode("scope", Position(None, -1)))

"""The response cache's own rules, without a gateway: keys, expiry, tags, overlapping forgets."""

from __future__ import annotations

from app.cache.responses import Answer, ResponseCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def answer(clock: Clock, *tags: str, ttl: float = 5.0, data: bytes = b"{}") -> Answer:
    return Answer(data, clock.now, clock.now + ttl, frozenset(tags), cost=1)


def test_keys_ignore_layout_and_tell_scopes_and_variables_apart() -> None:
    cache = ResponseCache()
    plain = cache.operation("{ ticket(id: 1) { status } }", None)
    spaced = cache.operation("# hi\nquery {\n  ticket(id: 1)  {status}\n}", None)
    assert plain is not None
    assert spaced is not None
    key = cache.key(plain, {"a": 1, "b": 2}, ["admin"], None)
    assert cache.key(spaced, {"b": 2, "a": 1}, ("admin",), None) == key
    assert cache.key(plain, {"a": 1, "b": 3}, ["admin"], None) != key
    assert cache.key(plain, {"a": 1, "b": 2}, ["analyst"], None) != key
    assert cache.key(plain, {"a": 1, "b": 2}, ["admin"], {"luckyspin"}) != key
    assert cache.operation("mutation { x }", None) is None
    assert cache.operation("{ broken", None) is None
    assert cache.operation("query A { a } query B { b }", None) is None
    assert cache.operation("query A { a } mutation B { b }", "A") is not None


def test_an_entry_expires_and_is_dropped_by_any_of_its_tags() -> None:
    clock = Clock()
    cache = ResponseCache(clock=clock)
    assert cache.put("k", answer(clock, "r:ticket:zendesk:1", "a:list_ticket"), cache.begin())
    assert cache.get("k") is not None
    cache.drop({"a:list_ticket"})
    assert cache.get("k") is None
    cache.put("k", answer(clock, "r:ticket:zendesk:1"), cache.begin())
    cache.drop({"r:ticket:zendesk:2", "a:list_lead"})
    assert cache.get("k") is not None
    clock.now += 5.0
    assert cache.get("k") is None


def test_an_answer_computed_across_a_forget_of_its_tags_is_not_kept() -> None:
    clock = Clock()
    cache = ResponseCache(clock=clock)
    since = cache.begin()
    cache.drop({"r:ticket:zendesk:1"})  # while the answer was being computed
    assert not cache.put("k", answer(clock, "r:ticket:zendesk:1"), since)
    assert cache.put("other", answer(clock, "r:ticket:zendesk:2"), since)  # untouched: kept
    since = cache.begin()
    cache.drop(None)
    assert not cache.put("k", answer(clock, "r:ticket:zendesk:3"), since)


def test_the_least_recently_used_go_first_by_count_and_by_size() -> None:
    clock = Clock()
    cache = ResponseCache(max_entries=2, max_bytes=4 * 2**20, clock=clock)
    for key in ("a", "b"):
        cache.put(key, answer(clock, "t"), cache.begin())
    cache.get("a")
    cache.put("c", answer(clock, "t"), cache.begin())
    assert [k for k in "abc" if cache.get(k)] == ["a", "c"]
    assert not cache.put("big", answer(clock, "t", data=b"x" * (2**20 + 1)), cache.begin())


def test_messages_of_other_instances_are_heard_and_its_own_ignored() -> None:
    clock = Clock()
    cache = ResponseCache(clock=clock)
    cache.put("k", answer(clock, "r:lead:salesforce:1"), cache.begin())
    assert not cache.heard(f'{{"origin": "{cache.origin}", "tags": ["r:lead:salesforce:1"]}}')
    assert cache.get("k") is not None
    assert cache.heard('{"origin": "elsewhere", "tags": ["r:lead:salesforce:1"]}')
    assert cache.get("k") is None

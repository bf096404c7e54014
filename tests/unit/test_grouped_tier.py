from app.cache.grouped_tier import GroupedTier
from app.cache.groups import default_groups
from app.cache.tier import Entry


async def test_a_flood_of_one_groups_entries_never_evicts_another_groups() -> None:
    tier = GroupedTier(default_groups(hot_entries=100, cold_entries=100), answers_entries=100)
    await tier.set_many({"r:customer:hubspot:1:cold": Entry({"name": "Ada"}, 0.0)}, keep=600)
    flood = {f"r:player:players@x:{n}:hot": Entry({"level": n}, 0.0) for n in range(500)}
    await tier.set_many(flood, keep=600)
    assert "r:customer:hubspot:1:cold" in await tier.get_many(["r:customer:hubspot:1:cold"])
    assert len(tier.tiers["player/hot"]) == 100
    assert tier.tiers["player/hot"].evictions == 400
    assert tier.evictions == 400


async def test_relation_answers_have_a_cache_of_their_own() -> None:
    tier = GroupedTier(default_groups(), answers_entries=100)
    await tier.set_many({"a:tickets:zendesk:1001": Entry(["1", "2"], 0.0)}, keep=60)
    assert len(tier.tiers["answers"]) == 1
    assert await tier.delete_prefix("a:") == 1

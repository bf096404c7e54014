"""Objects and lists of objects completed in place (``schema.execution.Nested``) answer what
graphql-core's ordinary completion answers, errors included: a failing non-null field nulls its
nearest nullable parent, a failing item of a nullable-item list only itself, in sync and async
subfields alike. The same small schema is executed with the fast paths on and off."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import strawberry

from schema.execution import PolicyExecutionContext


@strawberry.type
class Item:
    name: str
    fails: bool

    @strawberry.field
    def checked(self) -> str:
        if self.fails:
            raise ValueError(f"{self.name} is broken")
        return self.name

    @strawberry.field
    async def later(self) -> str:
        await asyncio.sleep(0)
        if self.fails:
            raise ValueError(f"{self.name} is broken later")
        return self.name.upper()


@strawberry.type
class Box:
    label: str
    one: Item | None
    must: Item
    items: list[Item]
    maybe_items: list[Item | None]
    boxes: list[Box] | None = None


def item(name: str, fails: bool = False) -> Item:
    return Item(name=name, fails=fails)


def box(label: str, broken: bool) -> Box:
    return Box(
        label=label,
        one=item("one", broken),
        must=item("must", broken),
        items=[item("a"), item("b", broken), item("c")],
        maybe_items=[item("x", broken), None, item("y")],
        boxes=[Box(label="inner", one=None, must=item("m"), items=[], maybe_items=[])],
    )


@strawberry.type
class Query:
    @strawberry.field
    def boxes(self) -> list[Box | None]:
        return [box("fine", False), box("broken", True)]

    @strawberry.field
    async def later_boxes(self) -> list[Box]:
        return [box("fine", False), box("broken", True)]


SCHEMA = strawberry.Schema(Query, execution_context_class=PolicyExecutionContext)

QUERIES = {
    "nullable object": "{ boxes { label one { name checked later } } }",
    "non-null object": "{ boxes { label must { name checked } } }",
    "non-null object, async": "{ boxes { label must { later } } }",
    "list of non-null": "{ boxes { items { name checked } } }",
    "list of non-null, async": "{ laterBoxes { label items { later } } }",
    "list of nullable": "{ boxes { maybeItems { name checked later } } }",
    "nested lists": "{ boxes { boxes { label one { name } must { name later } items { name } } } }",
    "no error": "{ boxes { label items { name } maybeItems { name } boxes { label } } }",
}


async def run(query: str, fast: bool) -> dict[str, Any]:
    PolicyExecutionContext.plain_fields = fast
    try:
        result = await SCHEMA.execute(query)
    finally:
        PolicyExecutionContext.plain_fields = True
    errors = sorted(
        ({"message": e.message, "path": e.path} for e in result.errors or ()),
        key=lambda e: str(e["path"]),
    )
    return {"data": result.data, "errors": errors}


@pytest.mark.parametrize("query", QUERIES.values(), ids=QUERIES.keys())
async def test_completed_in_place_as_graphql_core_completes(query: str) -> None:
    fast, ordinary = await run(query, True), await run(query, False)

    assert fast == ordinary


async def test_a_failing_non_null_field_nulls_its_nearest_nullable_parent() -> None:
    answer = await run(QUERIES["non-null object"], True)

    assert answer["data"]["boxes"] == [
        {"label": "fine", "must": {"name": "must", "checked": "must"}},
        None,
    ]
    assert answer["errors"] == [
        {"message": "must is broken", "path": ["boxes", 1, "must", "checked"]}
    ]


async def test_a_failing_item_of_a_nullable_item_list_nulls_only_itself() -> None:
    answer = await run(QUERIES["list of nullable"], True)

    broken = answer["data"]["boxes"][1]["maybeItems"]
    assert broken == [None, None, {"name": "y", "checked": "y", "later": "Y"}]
    # The sync error stops the item first: its async sibling's error is not reported.
    assert [e["path"] for e in answer["errors"]] == [["boxes", 1, "maybeItems", 0, "checked"]]

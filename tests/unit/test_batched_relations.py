"""Relations started in place (``schema.execution.Batched``) answer what the ordinary path of
their resolvers answers, errors included, with the same loader batches: a failed load, start
or finish costs its field (``[]`` or null, the error at its path), a failure under a non-null
relation nulls the nearest nullable parent, and arguments (literal or variables) reach the
relation converted as Strawberry converts them. Relations of what a relation loaded (a
thing's friend, the friend's friend) are started in waves, each wave's keys in one batch. A
small schema is executed with the fast paths on and off."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import pytest
import strawberry
from aiodataloader import DataLoader

from schema.execution import PolicyExecutionContext
from schema.relations import Arguments, Relation


@strawberry.enum
class Kind(Enum):
    A = "a"
    B = "b"


def _start_friend(root: Thing, context: Loaders, _: Arguments) -> Any:
    return context.friends.load(root.name)


FRIEND = Relation(_start_friend)


@strawberry.type
class Thing:
    name: str
    kind: Kind = Kind.B
    broken: strawberry.Private[bool] = False

    @strawberry.field
    async def later(self) -> str:
        await asyncio.sleep(0)
        if self.broken:
            raise ValueError(f"{self.name} is broken later")
        return self.name.upper()

    @strawberry.field(metadata=FRIEND.metadata())
    def friend(self, info: strawberry.Info) -> Thing | None:
        return FRIEND.resolve(self, info, {})  # type: ignore[no-any-return]

    @strawberry.field(metadata=FRIEND.metadata())
    def mate(self, info: strawberry.Info) -> Thing:
        return FRIEND.resolve(self, info, {})  # type: ignore[no-any-return]


@strawberry.input
class Where:
    suffix: str


@dataclass
class Loaders:
    batches: list[list[Any]] = field(default_factory=list)
    friend_batches: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.things = DataLoader(self._things)
        self.friends = DataLoader(self._friends)

    async def _things(self, keys: list[Any]) -> list[Any]:
        self.batches.append(list(keys))
        return [self._of(owner, kinds) for owner, kinds in keys]

    async def _friends(self, names: list[str]) -> list[Any]:
        """A thing's friend, loaded once its owner's things are in (a second wave); the
        second thing of each owner has none."""
        self.friend_batches.append(list(names))
        return [
            ValueError(f"{name} has no friend") if name.endswith("-1") else Thing(name=f"{name}+")
            for name in names
        ]

    @staticmethod
    def _of(owner: str, kinds: tuple[Kind, ...]) -> Any:
        if owner == "load-fails":
            return ValueError(f"the things of {owner} could not be loaded")
        made = [
            Thing(name=f"{owner}-{n}", kind=kind, broken=owner == "later-fails")
            for n, kind in enumerate([Kind.A, Kind.B, Kind.A])
        ]
        return [t for t in made if not kinds or t.kind in kinds]


def _start(root: Owner, context: Loaders, arguments: Arguments) -> Any:
    if root.name == "start-fails":
        raise ValueError("first must be between 0 and 3")
    return context.things.load((root.name, tuple(arguments.get("kinds") or ())))


def _finish(things: list[Thing], arguments: Arguments, info: Any) -> list[Thing]:
    if info.path.as_list()[1] == 3:  # the owner "finish-fails"
        raise ValueError("the things could not be read")
    where = arguments.get("where")
    kept = [t for t in things if where is None or t.name.endswith(where.suffix)]
    return kept[: arguments["first"]]


def _start_first(root: Owner, context: Loaders, arguments: Arguments) -> Any:
    return None if root.name == "none" else _start(root, context, {"kinds": ()})


def _one(things: list[Thing], _: Arguments, info: Any) -> Thing | None:
    return things[0] if things else None


def _start_held(root: Owner, context: Loaders, _: Arguments) -> Any:
    """Answered at once, nothing to load (as a ticket's requester already listed is)."""
    if root.name == "start-fails":
        raise ValueError(f"{root.name} holds nothing")
    return Thing(name=f"{root.name}-held")


THINGS = Relation(_start, _finish)
BEST = Relation(_start_first, _one)
HELD = Relation(_start_held)


@strawberry.type
class Owner:
    name: str

    @strawberry.field(metadata=THINGS.metadata())
    def things(
        self,
        info: strawberry.Info,
        kinds: list[Kind] | None = None,
        first: int = 10,
        where: Where | None = None,
    ) -> list[Thing]:
        arguments = {"kinds": kinds, "first": first, "where": where}
        return THINGS.resolve(self, info, arguments)  # type: ignore[no-any-return]

    @strawberry.field(metadata=BEST.metadata())
    def best(self, info: strawberry.Info) -> Thing | None:
        return BEST.resolve(self, info, {})  # type: ignore[no-any-return]

    @strawberry.field(metadata=BEST.metadata())
    def must(self, info: strawberry.Info) -> Thing:
        return BEST.resolve(self, info, {})  # type: ignore[no-any-return]

    @strawberry.field(metadata=HELD.metadata())
    def held(self, info: strawberry.Info) -> Thing | None:
        return HELD.resolve(self, info, {})  # type: ignore[no-any-return]


NAMES = ["fine", "load-fails", "start-fails", "finish-fails", "later-fails", "none"]


@strawberry.type
class Query:
    @strawberry.field
    def owners(self) -> list[Owner | None]:
        return [Owner(name=name) for name in NAMES]


SCHEMA = strawberry.Schema(Query, execution_context_class=PolicyExecutionContext)

QUERIES = {
    "list relation": "{ owners { name things { name kind } } }",
    "list relation, arguments": (
        '{ owners { things(kinds: [A], first: 1, where: {suffix: "2"}) { name kind } } }'
    ),
    "list relation, variables": (
        "query($k: [Kind!], $f: Int!) { owners { things(kinds: $k, first: $f) { name } } }"
    ),
    "async subfield": "{ owners { name things(first: 1) { later } } }",
    "nullable object": "{ owners { name best { name later } } }",
    "non-null object": "{ owners { name must { name } } }",
    "all at once": "{ owners { name best { name } things { name later } must { kind } } }",
    "relation of a relation": "{ owners { name things { name friend { name } } } }",
    "relation of a relation, async": "{ owners { things { friend { later } } best { later } } }",
    "non-null relation of a relation": "{ owners { name things { mate { name } } } }",
    "three waves": "{ owners { best { friend { friend { name friend { kind } } } } } }",
    "answered at once, its relation in the first wave": (
        "{ owners { name held { name later friend { name } } things { friend { name } } } }"
    ),
}
VARIABLES = {"k": ["A"], "f": 1}


async def run(query: str, fast: bool) -> dict[str, Any]:
    loaders = Loaders()
    PolicyExecutionContext.plain_fields = fast
    try:
        result = await SCHEMA.execute(query, variable_values=VARIABLES, context_value=loaders)
    finally:
        PolicyExecutionContext.plain_fields = True
    errors = sorted(
        ({"message": e.message, "path": e.path} for e in result.errors or ()),
        key=lambda e: str(e["path"]),
    )
    return {
        "data": result.data,
        "errors": errors,
        "batches": loaders.batches,
        "friend_batches": loaders.friend_batches,
    }


@pytest.mark.parametrize("query", QUERIES.values(), ids=QUERIES.keys())
async def test_started_in_place_as_the_resolvers_answer(query: str) -> None:
    fast, ordinary = await run(query, True), await run(query, False)

    assert fast == ordinary


async def test_each_failure_costs_its_own_field_and_every_key_goes_in_one_batch() -> None:
    answer = await run(QUERIES["list relation"], True)

    things = {owner["name"]: owner["things"] for owner in answer["data"]["owners"]}
    assert things["fine"] == [
        {"name": "fine-0", "kind": "A"},
        {"name": "fine-1", "kind": "B"},
        {"name": "fine-2", "kind": "A"},
    ]
    assert things["load-fails"] == things["start-fails"] == things["finish-fails"] == []
    assert answer["errors"] == [
        {
            "message": "the things of load-fails could not be loaded",
            "path": ["owners", 1, "things"],
        },
        {"message": "first must be between 0 and 3", "path": ["owners", 2, "things"]},
        {"message": "the things could not be read", "path": ["owners", 3, "things"]},
    ]
    # One batch of every owner's key but the one whose start failed.
    assert [len(batch) for batch in answer["batches"]] == [5]


async def test_arguments_reach_the_relation_converted() -> None:
    answer = await run(QUERIES["list relation, arguments"], True)

    assert answer["data"]["owners"][0] == {"things": [{"name": "fine-2", "kind": "A"}]}
    assert answer["batches"][0][0] == ("fine", (Kind.A,))


async def test_a_failure_under_a_non_null_relation_nulls_its_record() -> None:
    answer = await run(QUERIES["async subfield"], True)

    owners = answer["data"]["owners"]
    assert owners[0] == {"name": "fine", "things": [{"later": "FINE-0"}]}
    assert owners[4] is None  # later-fails: [Thing!]! cannot hold the failed item
    assert {
        "message": "later-fails-0 is broken later",
        "path": ["owners", 4, "things", 0, "later"],
    } in answer["errors"]


async def test_a_missing_non_null_object_nulls_its_record() -> None:
    answer = await run(QUERIES["non-null object"], True)

    owners = answer["data"]["owners"]
    assert owners[0] == {"name": "fine", "must": {"name": "fine-0"}}
    assert owners[1] is None  # a failed load
    assert owners[5] is None  # no thing at all


async def test_each_wave_of_relations_goes_in_one_batch() -> None:
    answer = await run(QUERIES["three waves"], True)

    # An owner's best thing, its friend, the friend's friend: one batch of every key per wave.
    assert [len(batch) for batch in answer["friend_batches"]] == [3, 3, 3]
    assert answer["data"]["owners"][0] == {
        "best": {"friend": {"friend": {"name": "fine-0++", "friend": {"kind": "B"}}}}
    }


async def test_a_failed_non_null_relation_of_a_relation_nulls_the_owner() -> None:
    answer = await run(QUERIES["non-null relation of a relation"], True)

    owners = answer["data"]["owners"]
    # Their second thing has no mate: Thing.mate is non-null, and so is each of [Thing!]!.
    assert [owners[0], owners[4], owners[5]] == [None, None, None]
    assert owners[1] == {"name": "load-fails", "things": []}
    assert {
        "message": "fine-1 has no friend",
        "path": ["owners", 0, "things", 1, "mate"],
    } in answer["errors"]


async def test_a_relation_answered_at_once_is_finished_in_place_and_its_keys_join_the_wave() -> (
    None
):
    answer = await run(QUERIES["answered at once, its relation in the first wave"], True)

    owners = answer["data"]["owners"]
    assert owners[0]["held"] == {
        "name": "fine-held",
        "later": "FINE-HELD",
        "friend": {"name": "fine-held+"},
    }
    assert owners[2]["held"] is None  # its start failed: null, the error at its path
    assert {"message": "start-fails holds nothing", "path": ["owners", 2, "held"]} in answer[
        "errors"
    ]
    # The held things' friends load with the first wave's keys: the owners' things are a
    # wave of their own, their friends the next.
    assert [len(batch) for batch in answer["friend_batches"]] == [5, 9]

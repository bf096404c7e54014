"""The request's loaders (``app.loaders.Loader``): what a list found is primed and answers a
later lookup without a batch, an error primed fails that lookup, what is held already is not
replaced by a prime, and ``settled`` reports what is held."""

from __future__ import annotations

import pytest

from app.loaders import NOT_HELD, Loader


class Batches:
    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    async def load(self, keys: list[str]) -> list[object]:
        self.asked.append(list(keys))
        return [f"loaded {key}" for key in keys]


async def test_a_primed_value_answers_without_a_batch() -> None:
    batches = Batches()
    loader: Loader[str, object] = Loader(batches.load)
    loader.prime("a", "primed a")

    assert loader.settled("a") == "primed a"
    assert await loader.load("a") == "primed a"
    assert await loader.load_many(["a", "b"]) == ["primed a", "loaded b"]
    assert batches.asked == [["b"]]
    assert loader.settled("a") == "primed a"  # held as a done future once loaded


async def test_what_is_held_is_not_replaced_by_a_prime() -> None:
    batches = Batches()
    loader: Loader[str, object] = Loader(batches.load)
    assert await loader.load("a") == "loaded a"
    loader.prime("a", "primed later")
    loader.prime("b", "first")
    loader.prime("b", "second")

    assert await loader.load("a") == "loaded a"
    assert await loader.load("b") == "first"
    assert batches.asked == [["a"]]


async def test_a_primed_error_fails_its_lookup() -> None:
    loader: Loader[str, object] = Loader(Batches().load)
    loader.prime("a", ValueError("a could not be read"))

    assert loader.settled("a") is NOT_HELD
    with pytest.raises(ValueError, match="a could not be read"):
        await loader.load("a")


async def test_a_cleared_key_is_loaded_again() -> None:
    batches = Batches()
    loader: Loader[str, object] = Loader(batches.load)
    loader.prime("a", "primed a")
    loader.prime("b", "primed b")
    loader.clear("a")

    assert loader.settled("a") is NOT_HELD
    assert await loader.load("a") == "loaded a"
    loader.clear_all()
    assert loader.settled("b") is NOT_HELD
    assert await loader.load("b") == "loaded b"
    assert batches.asked == [["a"], ["b"]]

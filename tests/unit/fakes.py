"""Test doubles shared by unit tests."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


class StoresEach:
    """`store_many` of a fake post store with a `store(scored)` of its own, as PostRepository.store_many
    behaves for the caller: posts stored in order, each outcome handed to `settled` as it is known."""

    store: Callable[[Any], Any]  # each fake has its own

    def store_many(self, scored: list[Any], *, settled: Any = None, refusals: Any = None) -> list[Any]:
        outcomes = []
        for index, one in enumerate(scored):
            outcomes.append(self.store(one))
            if settled is not None:
                settled(index, outcomes[-1])
        return outcomes

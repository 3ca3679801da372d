"""Test doubles shared by unit tests."""
from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from crisiscomms.errors import Conflict


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


class StatementsInMemory:
    """A statement repository in memory, with its conditional moves (the state expected, and fields that
    must be unchanged). `loads` lists each read back ("load", "states"); `on_move` runs just before a
    prepared entry's move is judged."""

    def __init__(self, statement: dict[str, Any]) -> None:
        self.statement = statement
        self.entries: list[Any] = []
        self.loads: list[str] = []
        self.on_move: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def load(self, statement_id: str) -> dict[str, Any]:
        self.loads.append("load")
        return copy.deepcopy(self.statement)

    def load_states(self, statement_id: str) -> dict[str, Any]:
        with self._lock:
            self.loads.append("states")
            return copy.deepcopy(self.statement)

    def delivery(self, statement_id: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            return next((copy.deepcopy(d) for d in self.statement["deliveries"] if d["key"] == key), None)

    def prepared(self, statement_id: str, key: str) -> dict[str, Any] | None:
        return next((copy.deepcopy(p) for p in self.statement["prepared"] if p["key"] == key), None)

    def _move(self, records: list[dict[str, Any]], key: str, expect: tuple[str, ...], updates: dict[str, Any],
              entry: Any, unchanged: dict[str, Any] | None = None) -> bool:
        with self._lock:
            record = next(r for r in records if r["key"] == key)
            if record["state"] not in expect or any(record.get(k) != v for k, v in (unchanged or {}).items()):
                return False
            record.update(updates)
            if entry is not None:
                self.entries.append(entry)
            return True

    def move_delivery(self, statement_id: str, key: str, *, expect: tuple[str, ...], updates: dict[str, Any],
                      entry: Any = None, unchanged: dict[str, Any] | None = None) -> bool:
        return self._move(self.statement["deliveries"], key, expect, updates, entry, unchanged)

    def move_prepared(self, statement_id: str, key: str, *, expect: tuple[str, ...], updates: dict[str, Any],
                      entry: Any = None) -> bool:
        if self.on_move is not None:
            self.on_move()
        return self._move(self.statement["prepared"], key, expect, updates, entry)

    def change(self, statement: dict[str, Any], updates: dict[str, Any], entry: Any, **kwargs: Any) -> None:
        with self._lock:
            if statement.get("revision") != self.statement.get("revision"):
                raise Conflict("moved")
            self.statement.update(updates)
            self.statement["revision"] += 1
            self.entries.append(entry)

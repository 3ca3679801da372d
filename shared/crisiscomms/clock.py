"""Time as a dependency: production reads the system clock, drills and tests set their own."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Callable

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


class SimulatedClock:
    """A settable UTC clock shared by the drill, the emulators and the functions under test."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs a timezone-aware start time")
        self._now = start.astimezone(timezone.utc)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when.astimezone(timezone.utc)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta


_current: Clock = system_clock


def now() -> datetime:
    """The current UTC time according to the installed clock."""
    return _current()


def install(clock: Clock | None) -> None:
    """Swap the process-wide clock (None restores the system clock)."""
    global _current
    _current = clock or system_clock

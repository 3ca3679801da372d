"""What the drill and the tests need from every listening emulator, whatever the platform."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol


class ListeningEmulator(Protocol):
    """A platform emulator the drill can put posts into and read through the real Poller.

    Construct with `(clock, *, timeout_delay: float)`; `start()` returns the base URL.
    Faults (`add_fault(Fault(...))` of kind rate_limit / http_status / timeout) come back in the
    platform's own envelope and rate-limit form.
    """

    platform: str

    def start(self) -> str: ...

    def stop(self) -> None: ...

    def add_fault(self, fault: Any) -> Any: ...

    def add_post(self, *, text: str, author: str, created_at: datetime, followers: int = 0, likes: int = 0,
                 reposts: int = 0, replies: int = 0, lang: str | None = None, location: str | None = None,
                 to_bank: bool = False) -> str:
        """Publish a post (or comment) by someone else; returns the `native_id` the adapter will store."""
        ...

    def credentials(self) -> dict[str, Any]:
        """The JSON object the platform's secret must hold for this emulator to accept the calls."""
        ...

    def watch_sources(self, account: dict[str, Any] | None) -> list[dict[str, Any]]:
        """Watch-configuration source entries that read everything `add_post` can put here
        (base_url pointing at this emulator); `account` is the bank's own account, if configured
        (`{"handle": ..., "id": ...}`)."""
        ...

    def default_account(self) -> dict[str, Any]:
        """The bank's own account on this emulator when the scenario names none."""
        ...

    def play_account(self, handle: str) -> None:
        """Play the bank's account under the scenario's `handle` (before `credentials()` is read): what
        mentions it and its own posts carry that handle."""
        ...

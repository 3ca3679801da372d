"""Token renewal shared by concurrent functions: one caller refreshes, the others wait and reuse.

Several Poller runs (and the Publisher's replies, later) hold the same platform token. When the
platform refuses it, the first caller takes a lease in the state table, checks nobody refreshed
meanwhile, refreshes and writes the new token to the platform's secret; the others see the new
version and carry on. A platform that offers no refresh reports ReauthorisationNeeded.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from crisiscomms.aws.source_state import LeaseHeld, StateRepository
from crisiscomms.errors import ReauthorisationNeeded, TransientPlatformError
from crisiscomms.observability import logger

LEASE_SECONDS = 60
WAIT_ATTEMPTS = 10


class SecretStore(Protocol):
    def read(self, platform: str, *, fresh: bool = False) -> dict[str, Any]: ...

    def write(self, platform: str, value: dict[str, Any]) -> None: ...


Refresh = Callable[[dict[str, Any]], dict[str, Any]]


def token_lease_key(platform: str) -> str:
    return f"source#token#{platform}"


class TokenKeeper:
    """The current credentials of one platform, and their renewal when the platform refuses them."""

    def __init__(self, platform: str, *, secrets: SecretStore, state: StateRepository, refresh: Refresh | None,
                 clock: Callable[[], datetime], owner: str, sleep: Callable[[float], None] = time.sleep,
                 wait_seconds: float = 1.0) -> None:
        self.platform = platform
        self._secrets = secrets
        self._state = state
        self._refresh = refresh
        self._clock = clock
        self._owner = owner
        self._sleep = sleep
        self._wait = wait_seconds
        self._served: dict[str, Any] | None = None

    def current(self) -> dict[str, Any]:
        self._served = self._secrets.read(self.platform)
        return dict(self._served)

    def renew(self) -> dict[str, Any]:
        """New credentials in place of the ones last served, refreshed at most once across callers."""
        stale = self._served if self._served is not None else self._secrets.read(self.platform)
        if self._refresh is None:
            raise ReauthorisationNeeded(f"{self.platform} refused its token and offers no refresh: authorise the app again")
        pk = token_lease_key(self.platform)
        for _ in range(WAIT_ATTEMPTS):
            latest = self._secrets.read(self.platform, fresh=True)
            if latest != stale:
                self._served = latest
                return dict(latest)
            now = self._clock()
            try:
                self._state.acquire(pk, owner=self._owner, now=now, until=now + timedelta(seconds=LEASE_SECONDS))
            except LeaseHeld:
                self._sleep(self._wait)
                continue
            refreshed = False
            try:
                latest = self._secrets.read(self.platform, fresh=True)
                if latest == stale:
                    latest = {**latest, **self._refresh(latest)}
                    self._secrets.write(self.platform, latest)
                    refreshed = True
                    logger.info("token refreshed", extra={"platform": self.platform})
            finally:
                fields = {"refreshed_at": self._clock().isoformat()} if refreshed else {}
                self._state.save(pk, owner=self._owner, set_fields=fields, release=True)
            self._served = latest
            return dict(latest)
        raise TransientPlatformError(f"{self.platform} token is being refreshed by another run", code="token_busy")

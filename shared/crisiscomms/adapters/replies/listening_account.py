"""Replies where the bank only listens (Douyin, Reddit): as the account of the platform's listening secret.

The Publisher reads that secret and never writes it; the Poller renews its token. A token the platform
refuses is read again once, past the cache (the Poller may have renewed it meanwhile); still refused, the
reply is retried later (TransientPlatformError) rather than failed. A refused token means the platform
did nothing, so repeating even a write is safe.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import httpx

from crisiscomms.errors import TokenExpired, TransientPlatformError

Credentials = Callable[[bool], dict[str, Any]]  # fresh -> the listening secret's JSON object
T = TypeVar("T")


class ListeningAccountReplies:
    platform: str
    platform_name: str  # as people write it, for messages

    def __init__(self, http: httpx.Client, *, credentials: Credentials, clock: Callable[[], datetime]) -> None:
        self._http = http
        self._credentials = credentials
        self._clock = clock

    def _with_token(self, call: Callable[[dict[str, Any]], T]) -> T:
        """`call` with the secret as cached, and once more read afresh if the platform refused its token."""
        problem: TokenExpired | None = None
        for fresh in (False, True):
            try:
                return call(self._credentials(fresh))
            except TokenExpired as exc:
                problem = exc
        raise TransientPlatformError(f"{problem} (the Poller renews the {self.platform_name} token; the reply is "
                                     "retried)", status=problem.status if problem else None, code="token_expired")

"""What every adapter shares: an httpx client with timeouts, error mapping and bounded retries."""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

import httpx

from crisiscomms.errors import DeliveryOutcomeUnknown, TransientPlatformError

T = TypeVar("T")

USER_AGENT = "crisiscomms/0.1 (+https://github.com/crisiscomms)"


def make_client(base_url: str = "", *, timeout_seconds: float) -> httpx.Client:
    """A client that never waits longer than `timeout_seconds` for any phase of a request."""
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(timeout_seconds),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=True,
    )


def send(client: httpx.Client, request: httpx.Request) -> httpx.Response:
    """Send once; network failures and timeouts become TransientPlatformError."""
    try:
        return client.send(request)
    except httpx.TimeoutException as exc:
        raise TransientPlatformError(f"timed out: {type(exc).__name__}", code="timeout") from exc
    except httpx.TransportError as exc:
        raise TransientPlatformError(f"transport error: {type(exc).__name__}", code="transport") from exc


def send_write(client: httpx.Client, request: httpx.Request) -> httpx.Response:
    """Send a request that creates something. Failing to connect is safe to retry; losing the
    answer after the request went out is not, so it becomes DeliveryOutcomeUnknown."""
    try:
        return client.send(request)
    except (httpx.ConnectTimeout, httpx.ConnectError, httpx.PoolTimeout) as exc:
        raise TransientPlatformError(f"could not connect: {type(exc).__name__}", code="connect") from exc
    except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.RemoteProtocolError) as exc:
        raise DeliveryOutcomeUnknown(f"sent, but no answer: {type(exc).__name__}", code="unknown") from exc
    except httpx.TransportError as exc:
        raise TransientPlatformError(f"transport error: {type(exc).__name__}", code="transport") from exc


def with_retries(
    call: Callable[[], T],
    *,
    attempts: int,
    base_delay: float,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, TransientPlatformError], None] | None = None,
) -> T:
    """Run `call`, retrying only transient errors, at most `attempts` times, with full-jitter backoff.

    Callers pass only idempotent calls (GETs, or requests carrying an idempotency key).
    """
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except TransientPlatformError as exc:
            if attempt == attempts:
                raise
            if on_retry:
                on_retry(attempt, exc)
            sleep(random.uniform(0, base_delay * 2 ** (attempt - 1)))
    raise AssertionError("unreachable")

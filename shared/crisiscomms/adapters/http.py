"""What every adapter shares: an httpx client with timeouts, error mapping and bounded retries."""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import httpx

from crisiscomms.errors import (
    DeliveryOutcomeUnknown,
    PermanentPlatformError,
    PlatformError,
    RateLimited,
    TransientPlatformError,
)
from crisiscomms.observability import RedactSecrets, protect_http_logs, redact

T = TypeVar("T")

USER_AGENT = "crisiscomms/0.1 (+https://github.com/crisiscomms)"


def make_client(base_url: str = "", *, timeout_seconds: float) -> httpx.Client:
    """A client that never waits longer than `timeout_seconds` for any phase of a request.

    Whatever the client logs (httpx logs every request URL) goes through the token filter."""
    protect_http_logs()
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(timeout_seconds),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=True,
        event_hooks={"request": [_trace_request], "response": [_trace_response]},
    )


def _trace_request(request: httpx.Request) -> None:
    """Open an X-Ray subsegment for a platform call; the URL is logged with its tokens redacted."""
    from crisiscomms.observability import tracer

    url = redact(str(request.url.copy_with(query=None)))
    request.extensions["xray"] = tracer.begin(request.url.host or "platform", namespace="remote",
                                              http={"request": {"method": request.method, "url": url}})


def _trace_response(response: httpx.Response) -> None:
    from crisiscomms.observability import tracer

    subsegment = response.request.extensions.pop("xray", None)
    if subsegment is None:
        return
    subsegment.http["response"] = {"status": response.status_code}
    subsegment.error = response.status_code == 429 or 400 <= response.status_code < 500
    subsegment.fault = response.status_code >= 500
    tracer.end(subsegment)


def _transmit(client: httpx.Client, request: httpx.Request) -> httpx.Response:
    """client.send, closing the call's trace subsegment as failed when no response came back."""
    try:
        return client.send(request)
    except BaseException as exc:
        subsegment = request.extensions.pop("xray", None)
        if subsegment is not None:
            from crisiscomms.observability import tracer

            subsegment.failed(exc)
            tracer.end(subsegment)
        raise


def send(client: httpx.Client, request: httpx.Request) -> httpx.Response:
    """Send once; network failures and timeouts become TransientPlatformError."""
    try:
        return _transmit(client, request)
    except httpx.TimeoutException as exc:
        raise TransientPlatformError(f"timed out: {type(exc).__name__}", code="timeout") from exc
    except httpx.TransportError as exc:
        raise TransientPlatformError(f"transport error: {type(exc).__name__}", code="transport") from exc


def send_write(client: httpx.Client, request: httpx.Request) -> httpx.Response:
    """Send a request that creates something. Failing to connect is safe to retry; losing the
    answer after the request went out is not, so it becomes DeliveryOutcomeUnknown."""
    try:
        return _transmit(client, request)
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


def platform_error(
    status: int,
    message: str,
    *,
    resume_at: Callable[[], datetime],
    code: str | None = None,
    rate_limited: bool | None = None,
    transient: bool | None = None,
    rate_limit_message: str | None = None,
) -> PlatformError:
    """The domain error for one failed answer, for the caller to raise.

    HTTP decides unless the platform's own envelope does: `rate_limited` defaults to a 429,
    `transient` to a 5xx, anything else is permanent. `resume_at` is only called when the
    answer is a rate limit, so it may read headers and the clock freely.
    """
    if (status == 429) if rate_limited is None else rate_limited:
        return RateLimited(rate_limit_message or message, resume_at=resume_at(), status=status)
    if (status >= 500) if transient is None else transient:
        return TransientPlatformError(message, status=status, code=code)
    return PermanentPlatformError(message, status=status, code=code)


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The body when it is a JSON object; error envelopes are read from nothing else."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def numeric_code(value: Any) -> int:
    """A platform error code from an envelope; 0 when the platform sent something unreadable."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def retry_after(response: httpx.Response, now: datetime) -> datetime | None:
    """Retry-After given as delta-seconds; None when absent or in another form."""
    value = (response.headers.get("retry-after") or "").strip()
    return now + timedelta(seconds=int(value)) if value.isdigit() else None


def epoch_header(response: httpx.Response, name: str) -> datetime | None:
    """A rate-limit reset header given as Unix seconds."""
    value = (response.headers.get(name) or "").strip()
    return datetime.fromtimestamp(int(value), tz=timezone.utc) if value.isdigit() else None


# Redaction lives with the other logging concerns in crisiscomms.observability, which installs
# it on the httpx/httpcore loggers (and turns them down to WARNING) when it is imported, that is
# before any client exists. The names adapters use stay available here.
RedactUrlTokens = RedactSecrets


def redact_url_tokens_in_logs() -> None:
    """Make sure the redacting filter is on every httpx/httpcore logger (idempotent)."""
    protect_http_logs()

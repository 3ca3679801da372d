"""Signed webhook deliveries, per the Standard Webhooks specification (standardwebhooks.com).

Partners (regulators' liaison desks, group companies) receive every statement as a JSON POST
carrying three headers:

* ``webhook-id``        - the delivery id; identical on every retry so the receiver can dedupe;
* ``webhook-timestamp`` - integer Unix seconds of this attempt (replay protection);
* ``webhook-signature`` - ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, keyed with
  the base64-decoded part of a ``whsec_...`` secret; several space-separated entries are allowed
  so a receiver keeps working while a secret is rotated.

`verify_signature` is the receiver side, used by the local emulator and the tests.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from email.message import Message
from email.utils import parsedate_to_datetime

import httpx

from crisiscomms.adapters.http import platform_error, send_write
from crisiscomms.models.delivery import Channel, DeliveryRequest, DeliveryResult
from crisiscomms.errors import ConfigurationError, DeliveryOutcomeUnknown, TransientPlatformError

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300
DEFAULT_RATE_LIMIT_PAUSE = timedelta(minutes=1)
# 408 is a receiver that timed out reading us: as worth retrying as a 5xx.
RETRYABLE_STATUSES = frozenset({408})


class InvalidWebhookSignature(ValueError):
    """A delivery failed verification; the message says which check, never the secret."""


def decode_secret(secret: str) -> bytes:
    """The HMAC key inside a ``whsec_<base64>`` secret (the prefix is optional, as in the spec's libraries)."""
    encoded = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError("webhook secret is not whsec_ followed by base64") from None
    if len(key) < 24:
        # The spec recommends 24 to 64 random bytes; a short key is a configuration mistake.
        raise ConfigurationError("webhook secret decodes to fewer than 24 bytes")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one delivery attempt."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def _header(headers: Mapping[str, str] | Message, name: str) -> str | None:
    """Case-insensitive header lookup for a plain dict, httpx.Headers or an email Message."""
    if isinstance(headers, (Message, httpx.Headers)):
        return headers.get(name)
    lowered = {key.lower(): value for key, value in headers.items()}
    return lowered.get(name.lower())


def verify_signature(
    secret: str,
    headers: Mapping[str, str] | Message,
    body: bytes,
    now: datetime,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> str:
    """Check one received delivery the way the spec tells receivers to; returns its webhook-id.

    Raises InvalidWebhookSignature when a header is missing, the timestamp is more than
    `tolerance` seconds from `now` in either direction, or no ``v1`` signature matches.
    """
    msg_id = _header(headers, "webhook-id")
    timestamp_text = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    if not msg_id or not timestamp_text or not signatures:
        raise InvalidWebhookSignature("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(timestamp_text)
    except ValueError:
        raise InvalidWebhookSignature("webhook-timestamp is not integer Unix seconds") from None
    if abs(now.timestamp() - timestamp) > tolerance:
        raise InvalidWebhookSignature("webhook-timestamp is outside the tolerance window")
    expected = sign(decode_secret(secret), msg_id, timestamp, body).encode()
    for candidate in signatures.split(" "):
        version, _, _value = candidate.partition(",")
        if version == SIGNATURE_VERSION and hmac.compare_digest(candidate.encode(), expected):
            return msg_id
    raise InvalidWebhookSignature("no matching v1 signature")


def _retry_after(response: httpx.Response, now: datetime) -> datetime | None:
    """Retry-After as delta-seconds or an HTTP date."""
    value = (response.headers.get("retry-after") or "").strip()
    if value.isdigit():
        return now + timedelta(seconds=int(value))
    if value:
        try:
            return parsedate_to_datetime(value).astimezone(timezone.utc)
        except (TypeError, ValueError):
            return None
    return None


def _receiver_message(response: httpx.Response) -> str:
    """A short, single-line excerpt of what the receiver said, for the desk's error log."""
    text = " ".join(response.text.split())
    return text[:200] or response.reason_phrase


class WebhookAdapter:
    """POSTs each delivery to one partner endpoint, signed with that endpoint's secret."""

    channel: Channel = "webhook"
    findable = False  # a receiver cannot be asked what it got: a lost answer is sent again under the same webhook-id

    def __init__(
        self,
        http: httpx.Client,
        *,
        url: str,
        secret: str,
        clock: Callable[[], datetime],
        event_prefix: str = "statement",
    ) -> None:
        self._http = http
        self._url = url
        self._key = decode_secret(secret)  # fails at start-up, not at the first crisis
        self._clock = clock
        self._event_prefix = event_prefix

    def payload(self, request: DeliveryRequest, now: datetime) -> bytes:
        """The Standard Webhooks envelope: ``type``, ``timestamp`` and the statement as ``data``."""
        event = {
            "type": f"{self._event_prefix}.{request.kind}",
            "timestamp": now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "data": {
                "delivery_id": request.delivery_id,
                "statement_id": request.statement_id,
                "version": request.version,
                "kind": request.kind,
                "language": request.language,
                "title": request.title,
                "text": request.text,
                "newsroom_url": request.newsroom_url,
                "reply_to": request.reply_to,
            },
        }
        return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def publish(self, request: DeliveryRequest) -> DeliveryResult:
        now = self._clock()
        timestamp = int(now.timestamp())
        body = self.payload(request, now)
        headers = {
            "Content-Type": "application/json",
            "webhook-id": request.delivery_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self._key, request.delivery_id, timestamp, body),
        }
        try:
            response = send_write(self._http, self._http.build_request("POST", self._url, content=body, headers=headers))
        except DeliveryOutcomeUnknown as exc:
            # The spec has receivers dedupe on webhook-id, which every retry carries: sending again is how a
            # lost answer is settled (a receiver cannot be asked), not a second statement.
            raise TransientPlatformError(f"{exc}; sent again with the same webhook-id, which the receiver dedupes",
                                         code="unknown") from exc
        status = response.status_code
        if 200 <= status < 300:
            return DeliveryResult(platform_id=request.delivery_id, url=None, details={"status": str(status)})
        now = self._clock()
        raise platform_error(status, f"webhook receiver answered {status}: {_receiver_message(response)}",
                             transient=status >= 500 or status in RETRYABLE_STATUSES,
                             resume_at=lambda: _retry_after(response, now) or now + DEFAULT_RATE_LIMIT_PAUSE)

    def find(self, request: DeliveryRequest) -> DeliveryResult | None:
        """A receiver cannot be asked what it got; redelivering with the same webhook-id is the
        safe path, because the spec makes receivers dedupe on it."""
        return None

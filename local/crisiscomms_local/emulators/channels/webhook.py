"""A partner's webhook receiver that behaves as the Standard Webhooks spec asks receivers to.

It verifies every delivery with `crisiscomms.adapters.channels.webhook.verify_signature`
against its own (simulated) clock and answers 401 when verification fails, and it dedupes on
``webhook-id``: a redelivery is acknowledged with 200 but not recorded again, so `received`
holds each delivery exactly once and `redeliveries` counts the repeats.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crisiscomms.adapters.channels.webhook import InvalidWebhookSignature, verify_signature

from ..base import Clock, EmulatorServer, Request, Response, text_response

DEFAULT_PATH = "/hooks/crisiscomms"


@dataclass(frozen=True)
class ReceivedWebhook:
    webhook_id: str
    timestamp: int
    payload: dict[str, Any]
    received_at: datetime


class WebhookReceiver(EmulatorServer):
    """Receives at `path` (see `url`); verification failures are kept in `rejections`."""

    def __init__(
        self,
        clock: Clock,
        *,
        secret: str,
        path: str = DEFAULT_PATH,
        tolerance: int = 300,
        timeout_delay: float = 2.0,
    ) -> None:
        super().__init__(clock, timeout_delay=timeout_delay)
        self.secret = secret
        self.path = path
        self.tolerance = tolerance
        self.received: list[ReceivedWebhook] = []
        self.rejections: list[str] = []
        self.redeliveries = 0

    @property
    def url(self) -> str:
        return self.base_url + self.path

    def handle(self, request: Request) -> Response:
        if request.path != self.path:
            return text_response(404)
        if request.method != "POST":
            return text_response(405, headers={"Allow": "POST"})
        now = self.clock()
        try:
            webhook_id = verify_signature(self.secret, request.headers, request.body, now, self.tolerance)
        except InvalidWebhookSignature as exc:
            with self._lock:
                self.rejections.append(str(exc))
            return text_response(401, f"invalid signature: {exc}")
        try:
            payload = json.loads(request.body)
        except ValueError:
            return text_response(400, "body is not JSON")
        with self._lock:
            if any(item.webhook_id == webhook_id for item in self.received):
                self.redeliveries += 1
            else:
                timestamp = int(request.header("webhook-timestamp") or 0)
                self.received.append(ReceivedWebhook(webhook_id, timestamp, payload, now))
        return text_response(200, "ok")

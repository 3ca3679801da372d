"""Delivering one statement version to one channel, exactly once.

A delivery moves PENDING -> SENDING -> SENT, or to RETRYING (transient trouble, SQS brings the
message back), FAILED (refused, or out of attempts) or UNKNOWN (the request may have gone out
but no answer came back and the platform cannot be asked; a person decides). The move into
SENDING is conditional, so two copies of a message cannot both post, and powertools
idempotency keyed on the delivery (and its retry generation) answers a repeat from its record.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from crisiscomms.models.audit import AuditEntry
from crisiscomms.aws.statement_store import StatementRepository
from crisiscomms.models.delivery import ChannelAdapter, DeliveryRequest, DeliveryResult
from crisiscomms.errors import (
    ChannelCheckFailed,
    Conflict,
    DeliveryOutcomeUnknown,
    PermanentPlatformError,
    PlatformError,
    RateLimited,
    TransientPlatformError,
)
from crisiscomms.observability import count, logger
from crisiscomms.statements.render import Renderer
from crisiscomms.statements.rules import TERMINAL_DELIVERY, statement_state_after

SYSTEM = "publisher"


class DeliveryMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    statement_id: str
    key: str
    delivery_id: str
    generation: int = 0


class RetryLater(Exception):
    """Raised so the batch reports this message as failed and SQS delivers it again later."""


class Publisher:
    def __init__(self, repo: StatementRepository, *, adapter_for: Callable[[str], ChannelAdapter],
                 renderer: Renderer, clock: Callable[[], datetime], max_attempts: int) -> None:
        self._repo = repo
        self._adapter_for = adapter_for
        self._renderer = renderer
        self._clock = clock
        self._max_attempts = max_attempts

    def _entry(self, statement_id: str, action: str, delivery: dict[str, Any], after: dict[str, Any]) -> AuditEntry:
        return AuditEntry(actor=SYSTEM, role="system", action=action, target=f"statement#{statement_id}",
                          at=self._clock(), before={"delivery": delivery["key"], "state": delivery["state"]},
                          after={"delivery": delivery["key"], **after}, text_hash=delivery.get("text_hash"))

    def _move(self, delivery: dict[str, Any], expect: tuple[str, ...], action: str, **updates: Any) -> bool:
        updates["updated_at"] = self._clock().isoformat()
        after = {k: v for k, v in updates.items() if k in ("state", "platform_id", "url", "error", "attempts")}
        return self._repo.move_delivery(delivery["statement_id"], delivery["key"], expect=expect, updates=updates,
                                        entry=self._entry(delivery["statement_id"], action, delivery, after))

    def deliver(self, message: DeliveryMessage) -> dict[str, Any]:
        delivery = self._repo.delivery(message.statement_id, message.key)
        if delivery is None or delivery["delivery_id"] != message.delivery_id:
            logger.error("delivery not found", extra={"statement_id": message.statement_id, "key": message.key})
            return {"state": "MISSING"}
        if delivery["state"] in TERMINAL_DELIVERY:
            return {"state": delivery["state"]}
        statement = self._repo.load(message.statement_id)
        adapter = self._adapter_for(delivery["channel"])
        try:
            request, refused = self._request(statement, delivery), None
        except ChannelCheckFailed as exc:
            request, refused = None, str(exc)
        if delivery["state"] == "SENDING":
            # An earlier attempt died between sending and recording: never post blindly again.
            return self._resolve_unknown(delivery, adapter, request, expect=("SENDING",))
        attempts = int(delivery.get("attempts", 0)) + 1
        if not self._move(delivery, ("PENDING", "RETRYING"), "delivery_sending", state="SENDING", attempts=attempts):
            return {"state": "BUSY"}
        delivery = {**delivery, "state": "SENDING", "attempts": attempts}
        if request is None:
            self._move(delivery, ("SENDING",), "delivery_failed", state="FAILED",
                       error=refused or "the text rendered now differs from the approved text")
            return self._settle(message.statement_id, "FAILED")
        try:
            result = adapter.publish(request)
        except DeliveryOutcomeUnknown:
            return self._resolve_unknown(delivery, adapter, request, expect=("SENDING",))
        except (RateLimited, TransientPlatformError) as exc:
            if attempts >= self._max_attempts:
                self._move(delivery, ("SENDING",), "delivery_failed", state="FAILED", error=f"{exc} (after {attempts} attempts)")
                return self._settle(message.statement_id, "FAILED")
            self._move(delivery, ("SENDING",), "delivery_retrying", state="RETRYING", error=str(exc))
            count("DeliveriesRetrying")
            raise RetryLater(str(exc)) from exc
        except PermanentPlatformError as exc:
            self._move(delivery, ("SENDING",), "delivery_failed", state="FAILED", error=str(exc))
            return self._settle(message.statement_id, "FAILED")
        return self._sent(delivery, result, ("SENDING",))

    def _sent(self, delivery: dict[str, Any], result: DeliveryResult, expect: tuple[str, ...],
              resolved_by: str = "answer") -> dict[str, Any]:
        if not self._move(delivery, expect, "delivery_sent", state="SENT", platform_id=result.platform_id, url=result.url,
                          sent_at=self._clock().isoformat(), resolved_by=resolved_by):
            current = self._repo.delivery(delivery["statement_id"], delivery["key"]) or {}
            logger.warning("delivery changed while sending", extra={"key": delivery["key"], "state": current.get("state")})
            return {"state": current.get("state", "MISSING")}
        return self._settle(delivery["statement_id"], "SENT")

    def _resolve_unknown(self, delivery: dict[str, Any], adapter: ChannelAdapter, request: DeliveryRequest | None,
                         *, expect: tuple[str, ...]) -> dict[str, Any]:
        found = None
        if request is not None:
            try:
                found = adapter.find(request)
            except PlatformError as exc:
                logger.warning("lookup after a lost answer failed", extra={"key": delivery["key"], "error": str(exc)})
        if found is not None:
            return self._sent(delivery, found, expect, resolved_by="lookup")
        self._move(delivery, expect, "delivery_unknown", state="UNKNOWN", needs_person=True,
                   error="the request may have been sent but no answer came back; check the channel, then retry or mark it")
        return self._settle(delivery["statement_id"], "UNKNOWN")

    def _request(self, statement: dict[str, Any], delivery: dict[str, Any]) -> DeliveryRequest | None:
        rendered = self._renderer.render_delivery(statement, delivery)
        if rendered["sha256"] != delivery["text_hash"]:
            return None
        return DeliveryRequest(
            delivery_id=delivery["delivery_id"], statement_id=statement["id"], version=delivery["version"],
            channel=delivery["channel"], language=delivery["language"], text=rendered["text"], title=rendered.get("title"), digest=rendered.get("digest"),
            newsroom_url=rendered.get("newsroom_url"), reply_to=delivery.get("reply_to"), kind=statement.get("kind", "statement"),
        )

    def _settle(self, statement_id: str, outcome: str) -> dict[str, Any]:
        """Bring the statement's state in line with its deliveries (PUBLISHED / PARTIAL / PUBLISHING)."""
        count(f"Deliveries{outcome.title()}")
        for _ in range(5):
            statement = self._repo.load(statement_id)
            current = [d["state"] for d in statement["deliveries"] if d["version"] == statement.get("published_version")]
            state = statement_state_after(current)
            if state == statement["state"]:
                return {"state": outcome, "statement": state}
            entry = AuditEntry(actor=SYSTEM, role="system", action="statement_" + state.lower(),
                               target=f"statement#{statement_id}", at=self._clock(),
                               before={"state": statement["state"]}, after={"state": state})
            try:
                self._repo.change(statement, {"state": state, "updated_at": self._clock().isoformat()}, entry)
                return {"state": outcome, "statement": state}
            except Conflict:
                continue  # another delivery settled it at the same moment: look again
        return {"state": outcome, "statement": "PUBLISHING"}

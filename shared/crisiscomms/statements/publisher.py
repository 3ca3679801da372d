"""Delivering one statement version to one channel, exactly once; preparing and discarding what
a channel can hold before publishing.

A delivery moves PENDING -> SENDING -> SENT, or to RETRYING (transient trouble, SQS brings the
message back), FAILED (refused, or out of attempts) or UNKNOWN (the request may have gone out
but no answer came back and the platform does not show the post, or cannot be asked; a person
decides). The move into SENDING is conditional, so two copies of a message cannot both post, and
powertools idempotency keyed on the delivery (and its retry generation) answers a repeat from its
record.

A lost answer is never settled by posting again: the Publisher looks the post up. A post may show
only later (WeChat lists an article once its publish task is done, minutes after the submit), so
while it is not found, or the lookup fails for now, the delivery stays SENDING with its `lookups`
counted (a conditional move: two copies of the message cannot both count one look) and the
message comes back like a RETRYING one; after LOST_ANSWER_LOOKS looks it is UNKNOWN. A platform
that cannot be asked (`findable = False`: Telegram) or refuses the lookup makes it UNKNOWN at
once; a webhook's lost answer never gets here (its adapter sends again under the same webhook-id,
on which the receiver dedupes).

A first attempt takes the delivery from its message (the Desk queues a PENDING delivery with the
record as written, `queued`) and moves it to SENDING on condition that the record is still PENDING
and keeps the digest of exactly that: one DynamoDB call fewer before the platform's. Anything else
(a retry, a copy of the message that comes second, a message that differs from its record) reads
the record as below.

Each delivery carries the rendering the Desk checked against the approval when publishing; the
Publisher checks its hash again and sends exactly that (older deliveries without it are
rendered from their version, as before). When the channel prepared something at approval (a
WeChat draft, the newsroom page at an unlinked key) the delivery carries it too, and publishing
is one call; when it is missing or stale the adapter does the whole work.

Some platforms only accept the post at first (WeChat's publish task) or leave work to follow
(the newsroom feed): the delivery is SENT on acceptance with `confirm_pending`, then confirmed
in the same invocation. While it cannot be confirmed the message fails and comes back; a post
that failed after acceptance becomes FAILED, one never confirmed (and not found) UNKNOWN.

Threads of one batch often deliver the same statement; only the last of them to record its
outcome reads all the deliveries back and settles the statement's state (the others' writes
precede it), instead of each one reading them all.

A statement mass-sent on WeChat is announced once SENT (its `msg_data_id`, through the function
wiring passes in), so the WeChat listening source reads its comments without being told; WeChat
lists no past mass sends. Announcing is an idempotent add, and its failure is logged and counted,
never a reason to fail or repeat the delivery.

"prepare" and "discard" messages act on the prepared entries the Desk records at approval (see
crisiscomms.statements.rules): every move is conditional and audited, a preparation that finds
its entry withdrawn when it is done discards what it made, and nothing prepared is ever public,
so repeating either message is harmless.

"reply" messages (`{"kind": "reply", "reply_id", "generation"}`, queued by the inbox when a reply
is APPROVED) deliver one reply where the person spoke, with the same rules (`ReplyPublisher`):
the reply moves APPROVED/RETRYING -> SENDING conditionally (on its state and version, so a second
copy of the message cannot send), then SENT with the platform's reply id and url, RETRYING on
transient trouble (SQS brings the message back; a rate limit defers it to the platform's reset),
FAILED when the platform refuses (its reason is recorded: e.g. X's refusal of uninvited replies)
or after `max_attempts`, UNKNOWN when the answer was lost and `find_reply` cannot settle it (a
person decides). Every move is audited. Once SENT the conversation moves to REPLIED (only from
NEW or ASSIGNED) with the reply id appended; a redelivered message finishes that step if a crash
interrupted it. Before sending, a reply takes a token of its platform's pace (a token bucket
shared by every instance); over the pace it is deferred (sent again on the queue with a delay,
`deferrals` + 1, which is part of the idempotency key) without any state change.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

import hashlib
from datetime import timedelta
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crisiscomms.models.audit import AuditEntry
from crisiscomms.aws.statement_store import StatementRepository
from crisiscomms.models.delivery import (
    CONFIRM_PENDING,
    ChannelAdapter,
    ConfirmingAdapter,
    DeliveryRequest,
    DeliveryResult,
    PreparedItem,
    PreparingAdapter,
    ReplyAdapter,
)
from crisiscomms.models.inbox import ReplyTarget
from crisiscomms.errors import (
    ChannelCheckFailed,
    ConfigurationError,
    Conflict,
    DeliveryOutcomeUnknown,
    PermanentPlatformError,
    PlatformError,
    RateLimited,
    TransientPlatformError,
)
from crisiscomms.observability import count, logger
from crisiscomms.statements.render import Renderer, content_sha256
from crisiscomms.statements.rules import TERMINAL_DELIVERY, TO_DISCARD, queued_sha256, statement_state_after

SYSTEM = "publisher"
_AUDITED = ("state", "platform_id", "url", "error", "attempts", "lookups")
# Looks for a post whose answer was lost, in all: one at once, then one each time the message comes
# back (the delivery queue's visibility timeout, 180 s). WeChat lists an article only once its
# publish task is done, seconds to minutes after the submit (WeChat gives no figure); three looks
# over about six minutes give it that time, and a post that is really missing still reaches a
# person within minutes. Each look is one receive of the message, of the queue's six.
LOST_ANSWER_LOOKS = 3


class DeliveryMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    statement_id: str
    key: str
    delivery_id: str
    generation: int = 0
    kind: Literal["deliver", "prepare", "discard"] = "deliver"
    # The PENDING delivery as queued (crisiscomms.statements.rules.queued_delivery): trusted only as far
    # as the record's digest of it agrees, checked by the conditional move to SENDING.
    queued: dict[str, Any] | None = None


class RetryLater(Exception):
    """Raised so the batch reports this message as failed and SQS delivers it again later."""


class _InFlight:
    """Deliveries of each statement this process's threads are handling, so that the last of them
    to record its outcome settles the statement for all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count: dict[str, int] = {}
        self._owed: set[str] = set()

    def enter(self, statement_id: str) -> None:
        with self._lock:
            self._count[statement_id] = self._count.get(statement_id, 0) + 1

    def leave(self, statement_id: str, *, outcome_written: bool) -> bool:
        """True when the caller must settle the statement now: it wrote an outcome and no other
        delivery of the statement is still in hand, or it is the last to leave of those that
        deferred to it. A writer with others still in hand leaves the settling to them."""
        with self._lock:
            left = self._count[statement_id] - 1
            if left:
                self._count[statement_id] = left
            else:
                del self._count[statement_id]
            if outcome_written and left:
                self._owed.add(statement_id)
                return False
            if outcome_written or (not left and statement_id in self._owed):
                self._owed.discard(statement_id)
                return True
            return False


class _Ticket:
    """One delivery in hand; `leave` once (when its outcome is written, or at the end at the latest)."""

    def __init__(self, in_flight: _InFlight, statement_id: str) -> None:
        self._in_flight = in_flight
        self.statement_id = statement_id
        self.left = False
        in_flight.enter(statement_id)

    def leave(self, *, outcome_written: bool) -> bool:
        if self.left:
            return outcome_written
        self.left = True
        return self._in_flight.leave(self.statement_id, outcome_written=outcome_written)


class Publisher:
    def __init__(self, repo: StatementRepository, *, adapter_for: Callable[[str], ChannelAdapter],
                 renderer: Renderer, clock: Callable[[], datetime], max_attempts: int,
                 announce_mass_sent: Callable[[str, datetime], None] | None = None) -> None:
        self._repo = repo
        self._adapter_for = adapter_for
        self._renderer = renderer
        self._clock = clock
        self._max_attempts = max_attempts
        self._announce_mass_sent = announce_mass_sent  # (msg_data_id, sent at): the listening source watches it
        self._in_flight = _InFlight()

    def handle(self, message: DeliveryMessage) -> dict[str, Any]:
        """One message of any kind."""
        if message.kind == "prepare":
            return self.prepare(message)
        if message.kind == "discard":
            return self.discard(message)
        return self.deliver(message)

    # --- audit and moves ------------------------------------------------------------------------

    def _entry(self, statement_id: str, action: str, record: dict[str, Any], after: dict[str, Any],
               what: str = "delivery") -> AuditEntry:
        return AuditEntry(actor=SYSTEM, role="system", action=action, target=f"statement#{statement_id}",
                          at=self._clock(), before={what: record["key"], "state": record["state"]},
                          after={what: record["key"], **after}, text_hash=record.get("text_hash"))

    def _move(self, delivery: dict[str, Any], expect: tuple[str, ...], action: str, *,
              unchanged: dict[str, Any] | None = None, **updates: Any) -> bool:
        updates["updated_at"] = self._clock().isoformat()
        after = {k: v for k, v in updates.items() if k in _AUDITED}
        condition = {"unchanged": unchanged} if unchanged is not None else {}
        return self._repo.move_delivery(delivery["statement_id"], delivery["key"], expect=expect, updates=updates,
                                        entry=self._entry(delivery["statement_id"], action, delivery, after), **condition)

    def _move_prepared(self, entry: dict[str, Any], expect: tuple[str, ...], action: str, **updates: Any) -> bool:
        updates["updated_at"] = self._clock().isoformat()
        after = {k: v for k, v in updates.items() if k in _AUDITED or k == "data"}
        return self._repo.move_prepared(entry["statement_id"], entry["key"], expect=expect, updates=updates,
                                        entry=self._entry(entry["statement_id"], action, entry, after, what="prepared"))

    # --- deliver --------------------------------------------------------------------------------

    def deliver(self, message: DeliveryMessage) -> dict[str, Any]:
        with self._in_hand(message.statement_id) as ticket:
            return self._deliver(message, ticket)

    @contextmanager
    def _in_hand(self, statement_id: str) -> Iterator[_Ticket]:
        ticket = _Ticket(self._in_flight, statement_id)
        try:
            yield ticket
        finally:
            if ticket.leave(outcome_written=False):
                # The others deferred settling to this delivery, which ended without an outcome.
                try:
                    self._settle(statement_id, None)
                except Exception as exc:  # noqa: BLE001 - never hide what ended this delivery
                    logger.warning("settling the statement failed", extra={"statement_id": statement_id, "error": str(exc)})

    def _deliver(self, message: DeliveryMessage, ticket: _Ticket) -> dict[str, Any]:
        if message.queued is not None and message.generation == 0:
            sent = self._first_attempt_as_queued(message, ticket)
            if sent is not None:
                return sent
        delivery = self._repo.delivery(message.statement_id, message.key)
        if delivery is None or delivery["delivery_id"] != message.delivery_id:
            logger.error("delivery not found", extra={"statement_id": message.statement_id, "key": message.key})
            return {"state": "MISSING"}
        if delivery["state"] == "SENT" and delivery.get("confirm_pending"):
            # Sent, but an earlier confirmation could not finish: confirm now, settling nobody's wait on it.
            if ticket.leave(outcome_written=False):
                self._settle(message.statement_id, None)
            return self._confirm(delivery, self._adapter_for(delivery["channel"]), self._checked_request(delivery)[0])
        if delivery["state"] in TERMINAL_DELIVERY:
            return {"state": delivery["state"]}
        adapter = self._adapter_for(delivery["channel"])
        request, refused = self._checked_request(delivery)
        if delivery["state"] == "SENDING":
            # An earlier attempt died between sending and recording: never post blindly again.
            return self._resolve_unknown(delivery, adapter, request, expect=("SENDING",), ticket=ticket)
        attempts = int(delivery.get("attempts", 0)) + 1
        if not self._move(delivery, ("PENDING", "RETRYING"), "delivery_sending", state="SENDING", attempts=attempts):
            return {"state": "BUSY"}
        return self._send({**delivery, "state": "SENDING", "attempts": attempts}, adapter, request, refused, ticket)

    def _first_attempt_as_queued(self, message: DeliveryMessage, ticket: _Ticket) -> dict[str, Any] | None:
        """Move the delivery the message carries to SENDING and send it, without reading it first;
        None when the record is not PENDING with the digest of exactly what the message carries (a
        copy of the message got there first, a retry, anything else): then it is read as usual."""
        queued = message.queued or {}
        delivery = {**queued, "state": "PENDING", "attempts": 0}
        if (queued.get("statement_id"), queued.get("key"), queued.get("delivery_id")) != (
                message.statement_id, message.key, message.delivery_id):
            return None
        try:
            adapter = self._adapter_for(delivery["channel"])
            request, refused = self._checked_request(delivery)
        except (KeyError, TypeError, ValueError):
            return None  # not a delivery as the Desk queues it: the record decides
        if not self._move(delivery, ("PENDING",), "delivery_sending", unchanged={"queued_sha256": queued_sha256(queued)},
                          state="SENDING", attempts=1):
            return None
        count("DeliveriesSentAsQueued")
        return self._send({**delivery, "state": "SENDING", "attempts": 1}, adapter, request, refused, ticket)

    def _send(self, delivery: dict[str, Any], adapter: ChannelAdapter, request: DeliveryRequest | None,
              refused: str | None, ticket: _Ticket) -> dict[str, Any]:
        """Publish a delivery just moved to SENDING (or fail it when its text no longer checks) and record the outcome."""
        attempts, statement_id = delivery["attempts"], delivery["statement_id"]
        if request is None:
            self._move(delivery, ("SENDING",), "delivery_failed", state="FAILED",
                       error=refused or "the text rendered now differs from the approved text")
            return self._settle(statement_id, "FAILED", ticket)
        prepared = _prepared_item(delivery) if isinstance(adapter, PreparingAdapter) else None
        try:
            result = adapter.publish(request, prepared=prepared) if prepared else adapter.publish(request)
        except DeliveryOutcomeUnknown:
            return self._resolve_unknown(delivery, adapter, request, expect=("SENDING",), ticket=ticket)
        except (RateLimited, TransientPlatformError) as exc:
            if attempts >= self._max_attempts:
                self._move(delivery, ("SENDING",), "delivery_failed", state="FAILED", error=f"{exc} (after {attempts} attempts)")
                return self._settle(statement_id, "FAILED", ticket)
            self._move(delivery, ("SENDING",), "delivery_retrying", state="RETRYING", error=str(exc))
            count("DeliveriesRetrying")
            raise RetryLater(str(exc)) from exc
        except PermanentPlatformError as exc:
            self._move(delivery, ("SENDING",), "delivery_failed", state="FAILED", error=str(exc))
            return self._settle(statement_id, "FAILED", ticket)
        return self._sent(delivery, result, ("SENDING",), adapter=adapter, request=request, ticket=ticket,
                          prepared=prepared is not None)

    def _sent(self, delivery: dict[str, Any], result: DeliveryResult, expect: tuple[str, ...],
              resolved_by: str = "answer", *, adapter: ChannelAdapter, request: DeliveryRequest, ticket: _Ticket,
              prepared: bool = False, lookups: int | None = None) -> dict[str, Any]:
        updates: dict[str, Any] = {"state": "SENT", "platform_id": result.platform_id, "url": result.url,
                                   "sent_at": self._clock().isoformat(), "resolved_by": resolved_by}
        if prepared:
            updates["prepared_used"] = True
        if lookups is not None:
            updates["lookups"] = lookups
        pending = result.details.get("confirm") == CONFIRM_PENDING
        if pending:
            updates["confirm_pending"] = True
            updates["platform_details"] = {k: v for k, v in result.details.items() if k != "confirm"}
        if not self._move(delivery, expect, "delivery_sent", **updates):
            current = self._repo.delivery(delivery["statement_id"], delivery["key"]) or {}
            logger.warning("delivery changed while sending", extra={"key": delivery["key"], "state": current.get("state")})
            return {"state": current.get("state", "MISSING")}
        self._announce(delivery, result, sent_at=updates["sent_at"])
        settled = self._settle(delivery["statement_id"], "SENT", ticket)
        if not pending:
            return settled
        return {**self._confirm({**delivery, **updates}, adapter, request), "statement": settled["statement"]}

    def _announce(self, delivery: dict[str, Any], result: DeliveryResult, *, sent_at: str) -> None:
        """Tell the WeChat listening source about a mass-sent article. Best effort: the delivery is
        SENT whatever happens here, and a person can still add the article to the watch configuration."""
        msg_data_id = _mass_sent_article(delivery, result)
        if msg_data_id is None or self._announce_mass_sent is None:
            return
        try:
            self._announce_mass_sent(msg_data_id, datetime.fromisoformat(sent_at))
        except Exception as exc:  # noqa: BLE001 - the statement is out; not watching it must not undo that
            count("MassSendsNotAnnounced")
            logger.warning("a mass-sent statement could not be announced to the WeChat source; add its msg_data_id "
                           "to the watch configuration to read its comments",
                           extra={"statement_id": delivery["statement_id"], "key": delivery["key"],
                                  "msg_data_id": msg_data_id, "error": f"{type(exc).__name__}: {exc}"[:300]})

    def _confirm(self, delivery: dict[str, Any], adapter: ChannelAdapter, request: DeliveryRequest | None) -> dict[str, Any]:
        """Confirm a delivery SENT on the platform's acceptance; RetryLater while it cannot be told."""
        if request is None or not isinstance(adapter, ConfirmingAdapter):
            logger.error("a sent delivery cannot be confirmed", extra={"key": delivery["key"]})
            return {"state": "SENT", "confirmed": False}
        sent = DeliveryResult(delivery["platform_id"], delivery.get("url"), dict(delivery.get("platform_details") or {}))
        try:
            confirmed, problem = adapter.confirm(request, sent), "the platform is still working on it"
        except PermanentPlatformError as exc:
            self._move(delivery, ("SENT",), "delivery_failed", state="FAILED", confirm_pending=False,
                       error=f"accepted by {delivery['channel']}, then: {exc}")
            return self._settle(delivery["statement_id"], "FAILED")
        except PlatformError as exc:
            confirmed, problem = None, str(exc)
        if confirmed is None:
            checks = int(delivery.get("confirm_checks", 0)) + 1
            if checks < self._max_attempts:
                self._repo.move_delivery(delivery["statement_id"], delivery["key"], expect=("SENT",),
                                         updates={"confirm_checks": checks})
                count("DeliveriesNotYetConfirmed")
                raise RetryLater(f"{delivery['channel']} accepted the post but has not confirmed it: {problem}")
            confirmed = self._find(delivery, adapter, request)
            if confirmed is None:
                self._move(delivery, ("SENT",), "delivery_unknown", state="UNKNOWN", needs_person=True,
                           confirm_pending=False, error=f"{delivery['channel']} accepted the post but it was not confirmed "
                                                        f"after {checks} checks ({problem}); check the channel, then retry or mark it")
                return self._settle(delivery["statement_id"], "UNKNOWN")
        done = {"confirm_pending": False, "confirmed_at": self._clock().isoformat()}
        if (confirmed.platform_id, confirmed.url) != (delivery["platform_id"], delivery.get("url")):
            self._move(delivery, ("SENT",), "delivery_confirmed", state="SENT", platform_id=confirmed.platform_id,
                       url=confirmed.url, **done)
        else:
            self._repo.move_delivery(delivery["statement_id"], delivery["key"], expect=("SENT",), updates=done)
        count("DeliveriesConfirmed")
        return {"state": "SENT", "confirmed": True}

    def _find(self, delivery: dict[str, Any], adapter: ChannelAdapter, request: DeliveryRequest | None) -> DeliveryResult | None:
        if request is None:
            return None
        try:
            return adapter.find(request)
        except PlatformError as exc:
            logger.warning("lookup failed", extra={"key": delivery["key"], "error": str(exc)})
            return None

    def _resolve_unknown(self, delivery: dict[str, Any], adapter: ChannelAdapter, request: DeliveryRequest | None,
                         *, expect: tuple[str, ...], ticket: _Ticket) -> dict[str, Any]:
        """A delivery that may have gone out without an answer: SENT when the platform shows the post,
        looked for again later while it does not (it may show late), UNKNOWN once the looks are used
        up or the platform cannot be asked. Never published again."""
        lost = "the request may have been sent but no answer came back"
        if request is None or not getattr(adapter, "findable", True):
            self._move(delivery, expect, "delivery_unknown", state="UNKNOWN", needs_person=True,
                       error=f"{lost}; check the channel, then retry or mark it")
            return self._settle(delivery["statement_id"], "UNKNOWN", ticket)
        looks = int(delivery.get("lookups") or 0) + 1
        try:
            found, failure = adapter.find(request), None
        except PermanentPlatformError as exc:
            logger.warning("lookup refused", extra={"key": delivery["key"], "error": str(exc)})
            self._move(delivery, expect, "delivery_unknown", state="UNKNOWN", needs_person=True, lookups=looks,
                       error=f"{lost}, and {delivery['channel']} refused the lookup ({exc}); check the channel, "
                             "then retry or mark it")
            return self._settle(delivery["statement_id"], "UNKNOWN", ticket)
        except PlatformError as exc:  # transient, rate limited, a token being renewed: a look that saw nothing
            logger.warning("lookup failed", extra={"key": delivery["key"], "error": str(exc)})
            found, failure = None, str(exc)
        if found is not None:
            return self._sent(delivery, found, expect, resolved_by="lookup", adapter=adapter, request=request,
                              ticket=ticket, lookups=looks)
        if looks < LOST_ANSWER_LOOKS:
            return self._look_later(delivery, expect, looks, failure)
        since = delivery.get("looking_since") or self._clock().isoformat()
        span = _duration(self._clock() - datetime.fromisoformat(since))
        if not self._move(delivery, expect, "delivery_unknown", unchanged={"lookups": delivery.get("lookups")},
                          state="UNKNOWN", needs_person=True, lookups=looks,
                          error=f"{lost}, and {delivery['channel']} did not show the post in {looks} looks over {span}"
                                + (f" (the last lookup failed: {failure})" if failure else "")
                                + "; check the channel, then retry or mark it"):
            return self._changed_meanwhile(delivery)
        return self._settle(delivery["statement_id"], "UNKNOWN", ticket)

    def _changed_meanwhile(self, delivery: dict[str, Any]) -> dict[str, Any]:
        """Another copy of the message counted this look (or ended the delivery) first: it carries on."""
        current = self._repo.delivery(delivery["statement_id"], delivery["key"]) or {}
        return {"state": current.get("state", "MISSING"), "lookups": current.get("lookups")}

    def _look_later(self, delivery: dict[str, Any], expect: tuple[str, ...], looks: int,
                    failure: str | None) -> dict[str, Any]:
        """Count a look that did not find the post and have the message back for the next one; the
        delivery stays SENDING, with no outcome. A copy of the message that counted the same look
        first leaves it to that copy."""
        updates: dict[str, Any] = {"state": "SENDING", "lookups": looks,
                                   "error": f"no answer came back and {delivery['channel']} does not show the post yet "
                                            f"(look {looks} of {LOST_ANSWER_LOOKS}"
                                            + (f"; the lookup failed: {failure}" if failure else "")
                                            + "); it will be looked for again, never sent again"}
        if looks == 1:
            updates["looking_since"] = self._clock().isoformat()
        if not self._move(delivery, expect, "delivery_looking", unchanged={"lookups": delivery.get("lookups")}, **updates):
            return self._changed_meanwhile(delivery)
        count("DeliveriesLookedForAgain")
        raise RetryLater(f"{delivery['channel']} does not show the post yet (look {looks} of {LOST_ANSWER_LOOKS})")

    def _checked_request(self, record: dict[str, Any]) -> tuple[DeliveryRequest | None, str | None]:
        """`_request`, and why the channel refuses the text when its check fails (None otherwise)."""
        try:
            return self._request(record), None
        except ChannelCheckFailed as exc:
            return None, str(exc)

    def _request(self, record: dict[str, Any]) -> DeliveryRequest | None:
        """What one delivery (or prepared entry) sends; None when it no longer hashes to the approved text."""
        rendering = record.get("rendering")
        if rendering is not None:
            if content_sha256(rendering["text"], rendering.get("title"), rendering.get("digest")) != record["text_hash"]:
                return None
            kind = record.get("kind", "statement")
        else:
            statement = self._repo.load(record["statement_id"])
            if statement is None:
                return None
            rendering = self._renderer.render_delivery(statement, record)
            if rendering["sha256"] != record["text_hash"]:
                return None
            kind = statement.get("kind", "statement")
        return DeliveryRequest(
            delivery_id=record["delivery_id"], statement_id=record["statement_id"], version=record["version"],
            channel=record["channel"], language=record["language"], text=rendering["text"], title=rendering.get("title"),
            digest=rendering.get("digest"), newsroom_url=rendering.get("newsroom_url"), reply_to=record.get("reply_to"),
            kind=kind, revision=int(record.get("revision", 0)),
        )

    def _settle(self, statement_id: str, outcome: str | None, ticket: _Ticket | None = None) -> dict[str, Any]:
        """Bring the statement's state in line with its deliveries (PUBLISHED / PARTIAL / PUBLISHING),
        after this delivery recorded `outcome` (None: on behalf of others of the batch)."""
        if outcome is not None:
            count(f"Deliveries{outcome.title()}")
        if ticket is not None and not ticket.leave(outcome_written=True):
            return {"state": outcome, "statement": "SETTLED_BY_BATCH"}  # the last in hand settles
        for _ in range(5):
            statement = self._repo.load_states(statement_id)
            if statement is None:
                return {"state": outcome, "statement": "MISSING"}
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

    # --- prepare and discard --------------------------------------------------------------------

    def prepare(self, message: DeliveryMessage) -> dict[str, Any]:
        """Make the channel's prepared item for an approved version, unless it was withdrawn meanwhile."""
        entry = self._repo.prepared(message.statement_id, message.key)
        if entry is None or entry["delivery_id"] != message.delivery_id:
            return {"state": "MISSING"}
        if entry["state"] != "PENDING":
            return {"state": entry["state"]}
        adapter = self._adapter_for(entry["channel"])
        if not isinstance(adapter, PreparingAdapter):
            self._move_prepared(entry, ("PENDING",), "prepare_failed", state="FAILED",
                                error=f"{entry['channel']} has nothing to prepare")
            return {"state": "FAILED"}
        request, refused = self._checked_request(entry)
        if request is None:
            self._move_prepared(entry, ("PENDING",), "prepare_failed", state="FAILED",
                                error=refused or "the text rendered now differs from the approved text")
            return {"state": "FAILED"}
        attempts = int(entry.get("attempts", 0)) + 1
        try:
            item = adapter.prepare(request)
        except (RateLimited, TransientPlatformError) as exc:
            if attempts < self._max_attempts:
                self._repo.move_prepared(entry["statement_id"], entry["key"], expect=("PENDING",),
                                         updates={"attempts": attempts, "error": str(exc)})
                raise RetryLater(str(exc)) from exc
            self._move_prepared(entry, ("PENDING",), "prepare_failed", state="FAILED", attempts=attempts,
                                error=f"{exc} (after {attempts} attempts)")
            return {"state": "FAILED"}
        except PlatformError as exc:
            self._move_prepared(entry, ("PENDING",), "prepare_failed", state="FAILED", attempts=attempts, error=str(exc))
            return {"state": "FAILED"}
        if not self._move_prepared(entry, ("PENDING",), "prepare_ready", state="READY", attempts=attempts, data=item.data):
            # Withdrawn (an edit, a rejection) or passed over by publishing while it was made: nobody will use it.
            self._discard_quietly(adapter, item, entry)
            return {"state": "WITHDRAWN"}
        count("DeliveriesPrepared")
        return {"state": "READY"}

    def discard(self, message: DeliveryMessage) -> dict[str, Any]:
        """Remove a withdrawn or passed-over prepared item from its channel."""
        entry = self._repo.prepared(message.statement_id, message.key)
        if entry is None or entry["delivery_id"] != message.delivery_id:
            return {"state": "MISSING"}
        if entry["state"] not in TO_DISCARD:
            return {"state": entry["state"]}
        if entry.get("data"):
            adapter = self._adapter_for(entry["channel"])
            attempts = int(entry.get("discard_attempts", 0)) + 1
            try:
                if isinstance(adapter, PreparingAdapter):
                    adapter.discard(PreparedItem(channel=entry["channel"], data=dict(entry["data"])))
            except (RateLimited, TransientPlatformError) as exc:
                if attempts < self._max_attempts:
                    self._repo.move_prepared(entry["statement_id"], entry["key"], expect=(entry["state"],),
                                             updates={"discard_attempts": attempts, "error": str(exc)})
                    raise RetryLater(str(exc)) from exc
                self._move_prepared(entry, (entry["state"],), "prepare_discard_failed", state="DISCARD_FAILED",
                                    error=f"{exc} (after {attempts} attempts); it is not public")
                return {"state": "DISCARD_FAILED"}
            except PlatformError as exc:
                self._move_prepared(entry, (entry["state"],), "prepare_discard_failed", state="DISCARD_FAILED",
                                    error=f"{exc}; it is not public")
                return {"state": "DISCARD_FAILED"}
        self._move_prepared(entry, (entry["state"],), "prepare_discarded", state="DISCARDED")
        count("PreparedDiscarded")
        return {"state": "DISCARDED"}

    def _discard_quietly(self, adapter: PreparingAdapter, item: PreparedItem, entry: dict[str, Any]) -> None:
        try:
            adapter.discard(item)
        except PlatformError as exc:
            logger.warning("could not discard a prepared item nobody will use (it is not public)",
                           extra={"key": entry["key"], "error": str(exc)})


def _duration(elapsed: timedelta) -> str:
    seconds = max(0, round(elapsed.total_seconds()))
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def _mass_sent_article(delivery: dict[str, Any], result: DeliveryResult) -> str | None:
    """The `msg_data_id` of a WeChat mass send, whose comments can be read; None for anything else
    (a free-published article, or a repeated send WeChat answered with only its `msg_id`)."""
    if delivery["channel"] != "wechat" or result.details.get("publish_mode") != "mass_send":
        return None
    msg_data_id = str(result.details.get("msg_data_id") or "")
    if not msg_data_id.isdigit() or result.platform_id != msg_data_id:
        return None
    return msg_data_id


def _prepared_item(delivery: dict[str, Any]) -> PreparedItem | None:
    """The delivery's prepared item if it was prepared for exactly this delivery's approved text."""
    prepared = delivery.get("prepared") or {}
    if not prepared.get("data") or prepared.get("text_hash") != delivery["text_hash"]:
        return None
    return PreparedItem(channel=delivery["channel"], data={str(k): str(v) for k, v in prepared["data"].items()})


# --- replies ----------------------------------------------------------------------------------------

REPLY_SENDABLE = ("APPROVED", "RETRYING")
_REPLY_AUDITED = ("state", "platform_reply_id", "url", "error", "error_code", "attempts", "resolved_by")
LOOKUP_MARGIN = timedelta(minutes=5)  # a reply sent just before SENDING was recorded is still found


class ReplyMessage(BaseModel):
    """One reply to deliver. `deferrals` is set by the Publisher when it defers a paced reply; it is
    part of the idempotency key, so a deferred copy is handled, and a duplicate of it is not."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["reply"] = "reply"
    reply_id: str = Field(min_length=1, max_length=64)
    generation: int = Field(default=0, ge=0)
    deferrals: int = Field(default=0, ge=0, le=100_000)


class ReplyStore(Protocol):
    """The reply items (crisiscomms.aws.reply_store.ReplyRepository keeps this)."""

    def reply(self, reply_id: str) -> dict[str, Any] | None: ...

    def move_reply(self, reply: dict[str, Any], *, expect: tuple[str, ...], updates: dict[str, Any],
                   entry: AuditEntry | None = None) -> bool: ...


def reply_idempotency_key(reply_id: str, generation: int) -> str:
    """What the platform's own guard gets (an Idempotency-Key, a record key): stable across retries
    and deferrals of one generation, new when a person sends the reply again."""
    return f"{reply_id}.{generation}"


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ReplyPublisher:
    """Delivers approved replies exactly once (see the module's docstring)."""

    def __init__(self, repo: ReplyStore, *, adapter_for: Callable[[str], ReplyAdapter],
                 clock: Callable[[], datetime], max_attempts: int,
                 mark_replied: Callable[[str, str, datetime, AuditEntry], bool],
                 pace: Callable[[str], float] | None = None,
                 defer: Callable[[dict[str, Any], float], None] | None = None) -> None:
        self._repo = repo
        self._adapter_for = adapter_for
        self._clock = clock
        self._max_attempts = max_attempts
        self._mark_replied = mark_replied  # (post key, reply id, at, audit entry) -> moved to REPLIED
        self._pace = pace  # platform -> seconds to wait (0: a token was taken)
        self._defer = defer  # (message, seconds): the message again on the queue, visible after the delay

    # --- moves ----------------------------------------------------------------------------------

    def _move(self, reply: dict[str, Any], expect: tuple[str, ...], action: str, **updates: Any) -> dict[str, Any] | None:
        """The reply after a conditional, audited move; None when it was no longer in `expect` (or
        changed since it was read)."""
        updates["updated_at"] = self._clock().isoformat()
        entry = AuditEntry(actor=SYSTEM, role="system", action=action, target=f"reply#{reply['id']}", at=self._clock(),
                           before={"state": reply["state"]},
                           after={k: v for k, v in updates.items() if k in _REPLY_AUDITED and v is not None},
                           text_hash=reply.get("text_hash"))
        if not self._repo.move_reply(reply, expect=expect, updates=updates, entry=entry):
            return None
        return {**reply, **updates, "version": int(reply.get("version", 0)) + 1}

    def _finish(self, reply: dict[str, Any], expect: tuple[str, ...], state: str, action: str,
                **updates: Any) -> dict[str, Any]:
        moved = self._move(reply, expect, action, state=state, **updates)
        count(f"Replies{state.title()}")
        if moved is None:
            current = self._repo.reply(reply["id"]) or {}
            logger.warning("reply changed while it was handled", extra={"reply_id": reply["id"],
                                                                        "state": current.get("state")})
            return {"state": current.get("state", "MISSING")}
        return {"state": state}

    # --- deliver --------------------------------------------------------------------------------

    def deliver(self, message: ReplyMessage) -> dict[str, Any]:
        reply = self._repo.reply(message.reply_id)
        if reply is None:
            logger.error("reply not found", extra={"reply_id": message.reply_id})
            return {"state": "MISSING"}
        reply.setdefault("id", message.reply_id)
        if int(reply.get("generation", 0)) != message.generation:
            return {"state": reply["state"], "stale": True}  # a message for an earlier (or later) send
        state = reply["state"]
        if state == "SENT":
            return {"state": "SENT", "conversation": self._replied(reply)}  # finish what a crash interrupted
        if state not in (*REPLY_SENDABLE, "SENDING"):
            return {"state": state}
        if _text_hash(str(reply.get("text", ""))) != reply.get("text_hash"):
            return self._finish(reply, (state,), "FAILED", "reply_failed", error_code="text_changed",
                                error="the reply's text no longer matches the text that was approved")
        try:
            target = ReplyTarget.model_validate(reply["target"])
            adapter = self._adapter_for(str(reply["platform"]))
        except (ConfigurationError, KeyError, ValidationError) as exc:
            if state == "SENDING":  # it may have gone out, and nothing can be asked
                return self._finish(reply, ("SENDING",), "UNKNOWN", "reply_unknown", needs_person=True,
                                    error=f"sending was interrupted and {reply.get('platform')} cannot be asked: {exc}")
            return self._finish(reply, REPLY_SENDABLE, "FAILED", "reply_failed", error_code="not_configured",
                                error=f"{reply.get('platform')} replies cannot be sent: {exc}"[:500])
        if state == "SENDING":
            # An earlier attempt died between sending and recording: never send blindly again.
            return self._resolve(reply, adapter, target)
        wait = self._pace(str(reply["platform"])) if self._pace is not None else 0.0
        if wait > 0:
            return self._postpone(message, reply, wait)
        attempts = int(reply.get("attempts", 0)) + 1
        sending = self._move(reply, REPLY_SENDABLE, "reply_sending", state="SENDING", attempts=attempts,
                             sending_at=self._clock().isoformat())
        if sending is None:
            return {"state": "BUSY"}  # another copy of the message moved it first
        key = reply_idempotency_key(sending["id"], message.generation)
        try:
            result = adapter.reply(target, str(sending["text"]), idempotency_key=key, language=sending.get("language"))
        except DeliveryOutcomeUnknown:
            return self._resolve(sending, adapter, target)
        except PermanentPlatformError as exc:
            return self._finish(sending, ("SENDING",), "FAILED", "reply_failed", error=str(exc)[:1000],
                                error_code=exc.code)
        except PlatformError as exc:  # transient, rate limited, a token being renewed
            return self._retry(message, sending, exc, attempts)
        return self._sent(sending, result, resolved_by="answer")

    def _postpone(self, message: ReplyMessage, reply: dict[str, Any], wait: float) -> dict[str, Any]:
        """Over the platform's pace: hand the message back for later, changing nothing."""
        count("RepliesPaced")
        if self._defer is None:
            raise RetryLater(f"{reply['platform']} replies are over their pace; wait {wait:.0f} s")
        self._defer(message.model_copy(update={"deferrals": message.deferrals + 1}).model_dump(), wait)
        return {"state": reply["state"], "paced_seconds": round(wait, 3)}

    def _retry(self, message: ReplyMessage, reply: dict[str, Any], exc: PlatformError, attempts: int) -> dict[str, Any]:
        if attempts >= self._max_attempts:
            return self._finish(reply, ("SENDING",), "FAILED", "reply_failed", error_code=exc.code,
                                error=f"{exc} (after {attempts} attempts)"[:1000])
        moved = self._move(reply, ("SENDING",), "reply_retrying", state="RETRYING", error=str(exc)[:1000],
                           error_code=exc.code)
        count("RepliesRetrying")
        if isinstance(exc, RateLimited) and self._defer is not None and moved is not None:
            wait = max(1.0, (exc.resume_at - self._clock()).total_seconds())
            self._defer(message.model_copy(update={"deferrals": message.deferrals + 1}).model_dump(), wait)
            return {"state": "RETRYING", "retry_in": round(wait, 3)}
        raise RetryLater(str(exc)) from exc

    def _resolve(self, reply: dict[str, Any], adapter: ReplyAdapter, target: ReplyTarget) -> dict[str, Any]:
        """A reply that may have gone out without an answer: SENT if the platform shows it, else UNKNOWN."""
        started = reply.get("sending_at") or reply.get("updated_at")
        try:
            since = datetime.fromisoformat(str(started)) - LOOKUP_MARGIN
        except ValueError:
            since = self._clock() - timedelta(days=1)
        try:
            found = adapter.find_reply(target, str(reply["text"]), since,
                                       idempotency_key=reply_idempotency_key(reply["id"], int(reply.get("generation", 0))),
                                       language=reply.get("language"))
        except PlatformError as exc:
            logger.warning("looking the reply up failed", extra={"reply_id": reply["id"], "error": str(exc)})
            found = None
        if found is not None:
            return self._sent(reply, found, resolved_by="lookup")
        return self._finish(reply, ("SENDING",), "UNKNOWN", "reply_unknown", needs_person=True,
                            error="the reply may have been sent but no answer came back and the platform does not "
                                  "show it; check the conversation on the platform, then send again or mark it")

    def _sent(self, reply: dict[str, Any], result: DeliveryResult, *, resolved_by: str) -> dict[str, Any]:
        moved = self._move(reply, ("SENDING",), "reply_sent", state="SENT", platform_reply_id=result.platform_id,
                           url=result.url, sent_at=self._clock().isoformat(), resolved_by=resolved_by)
        count("RepliesSent")
        if moved is None:
            current = self._repo.reply(reply["id"]) or {}
            logger.warning("reply changed while it was sent", extra={"reply_id": reply["id"],
                                                                     "state": current.get("state")})
            return {"state": current.get("state", "MISSING")}
        return {"state": "SENT", "platform_reply_id": result.platform_id, "conversation": self._replied(moved)}

    def _replied(self, reply: dict[str, Any]) -> str:
        """Move the reply's conversation to REPLIED (if it is still open); what became of it."""
        post_key = str(reply.get("post_key") or "")
        now = self._clock()
        entry = AuditEntry(actor=SYSTEM, role="system", action="conversation_replied", target=f"conv#{post_key}",
                           at=now, after={"state": "REPLIED", "reply_id": reply["id"]})
        try:
            marked = self._mark_replied(post_key, reply["id"], now, entry)
        except Exception as exc:
            # The reply is SENT and stays so; the message comes back and this step is tried again.
            count("ConversationsNotMarkedReplied")
            raise RetryLater(f"reply {reply['id']} is sent but its conversation could not be moved to REPLIED: "
                             f"{type(exc).__name__}: {exc}"[:500]) from exc
        return "REPLIED" if marked else "UNCHANGED"

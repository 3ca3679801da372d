"""The Publisher delivers replies exactly once: conditional moves, retries, refusals, lost answers,
the conversation moved to REPLIED, pacing per platform."""
from __future__ import annotations

import copy
import hashlib
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisiscomms.aws.reply_pacing import ReplyPacer, gcra
from crisiscomms.errors import (
    ConfigurationError,
    DeliveryOutcomeUnknown,
    PermanentPlatformError,
    RateLimited,
    TransientPlatformError,
)
from crisiscomms.models.delivery import DeliveryResult
from crisiscomms.models.inbox import ReplyTarget
from crisiscomms.statements.publisher import ReplyMessage, ReplyPublisher, RetryLater, reply_idempotency_key

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=timezone.utc)
RID = "rp-0123456789abcdef"
TEXT = "您好，已为您处理，请查收。"


def _reply(**changes: Any) -> dict[str, Any]:
    target = ReplyTarget(platform="weibo", post_key="weibo#5031", native_id="5031", author="小王",
                         ref={"id": "4990", "cid": "5031"})
    return {"id": RID, "pk": f"reply#{RID}", "sk": "#", "post_key": "weibo#5031", "conversation": "conv#weibo#5031",
            "platform": "weibo", "target": target.model_dump(), "language": "zh", "text": TEXT,
            "text_hash": hashlib.sha256(TEXT.encode()).hexdigest(), "state": "APPROVED", "attempts": 0, "generation": 0,
            "version": 2, **changes}


class Replies:
    """In memory, with the DynamoDB repository's condition: the state, and the version read."""

    def __init__(self, reply: dict[str, Any]) -> None:
        self.item = reply
        self.entries: list[Any] = []
        self.stale: dict[str, Any] | None = None  # what the next read returns instead (a copy read earlier)

    def reply(self, reply_id: str) -> dict[str, Any] | None:
        if self.stale is not None:
            stale, self.stale = self.stale, None
            return copy.deepcopy(stale)
        return copy.deepcopy(self.item) if reply_id == self.item["id"] else None

    def move_reply(self, reply: dict[str, Any], *, expect: tuple[str, ...], updates: dict[str, Any],
                   entry: Any = None) -> bool:
        if self.item["state"] not in expect or self.item["version"] != reply["version"]:
            return False
        self.item.update(updates)
        self.item["version"] += 1
        self.entries.append(entry)
        return True


class Adapter:
    platform = "weibo"

    def __init__(self, *outcomes: Any, found: DeliveryResult | None = None) -> None:
        self.outcomes = list(outcomes) or [DeliveryResult("c-1", "https://weibo.com/1/4990")]
        self.found = found
        self.sent: list[tuple[ReplyTarget, str, str]] = []
        self.looked: list[datetime] = []
        self.during_send: Any = None

    def reply(self, target: ReplyTarget, text: str, *, idempotency_key: str, language: str | None = None) -> DeliveryResult:
        self.sent.append((target, text, idempotency_key))
        if self.during_send is not None:
            self.during_send()
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def find_reply(self, target: ReplyTarget, text: str, since: datetime, *, idempotency_key: str | None = None,
                   language: str | None = None) -> DeliveryResult | None:
        self.looked.append(since)
        return self.found


class World:
    def __init__(self, reply: dict[str, Any] | None = None, adapter: Adapter | None = None, *, pace: float = 0.0,
                 deferring: bool = True, conversation_open: bool = True, max_attempts: int = 3) -> None:
        self.replies = Replies(reply or _reply())
        self.adapter = adapter or Adapter()
        self.marked: list[tuple[str, str, Any]] = []
        self.deferred: list[tuple[dict[str, Any], float]] = []
        self.conversation_open = conversation_open
        self.waits = [pace]
        self.publisher = ReplyPublisher(
            self.replies, adapter_for=self._adapter, clock=lambda: NOW, max_attempts=max_attempts,
            mark_replied=self._mark, pace=lambda platform: self.waits.pop(0) if self.waits else 0.0,
            defer=(lambda message, seconds: self.deferred.append((message, seconds))) if deferring else None)

    def _adapter(self, platform: str) -> Adapter:
        if platform != "weibo":
            raise ConfigurationError(f"{platform} is not configured")
        return self.adapter

    def _mark(self, post_key: str, reply_id: str, at: datetime, entry: Any) -> bool:
        self.marked.append((post_key, reply_id, entry))
        opened, self.conversation_open = self.conversation_open, False
        return opened

    def deliver(self, **message: Any) -> dict[str, Any]:
        return self.publisher.deliver(ReplyMessage(reply_id=RID, **message))

    @property
    def actions(self) -> list[str]:
        return [e.action for e in self.replies.entries]


def test_an_approved_reply_is_sent_once_and_its_conversation_moves_to_replied() -> None:
    world = World()
    assert world.deliver() == {"state": "SENT", "platform_reply_id": "c-1", "conversation": "REPLIED"}
    item = world.replies.item
    assert (item["state"], item["platform_reply_id"], item["url"], item["attempts"], item["resolved_by"]) == (
        "SENT", "c-1", "https://weibo.com/1/4990", 1, "answer")
    [(target, text, key)] = world.adapter.sent
    assert (target.ref, text, key) == ({"id": "4990", "cid": "5031"}, TEXT, reply_idempotency_key(RID, 0))
    assert world.actions == ["reply_sending", "reply_sent"]
    sent_entry = world.replies.entries[-1]
    assert (sent_entry.target, sent_entry.before, sent_entry.after["state"], sent_entry.text_hash) == (
        f"reply#{RID}", {"state": "SENDING"}, "SENT", item["text_hash"])
    [(post_key, reply_id, entry)] = world.marked
    assert (post_key, reply_id, entry.action, entry.target, entry.after) == (
        "weibo#5031", RID, "conversation_replied", "conv#weibo#5031", {"state": "REPLIED", "reply_id": RID})


def test_the_same_message_twice_sends_once() -> None:
    world = World()
    world.deliver()
    again = world.deliver()
    assert again == {"state": "SENT", "conversation": "UNCHANGED"} and len(world.adapter.sent) == 1


def test_a_second_copy_that_read_the_reply_before_the_first_moved_it_cannot_send() -> None:
    world = World()
    before = copy.deepcopy(world.replies.item)
    results: list[dict[str, Any]] = []

    def second_copy() -> None:
        world.replies.stale = before  # it read APPROVED, version 2, before the first copy moved it
        results.append(world.deliver())

    world.adapter.during_send = second_copy
    assert world.deliver()["state"] == "SENT"
    assert results == [{"state": "BUSY"}] and len(world.adapter.sent) == 1


def test_a_crash_after_sent_is_finished_by_the_redelivered_message() -> None:
    world = World(_reply(state="SENT", platform_reply_id="c-1"))
    assert world.deliver() == {"state": "SENT", "conversation": "REPLIED"}
    assert world.adapter.sent == [] and len(world.marked) == 1


def test_transient_trouble_is_retrying_and_the_redelivery_sends() -> None:
    world = World(adapter=Adapter(TransientPlatformError("Weibo error 10001: System error", status=500, code="10001"),
                                  DeliveryResult("c-2", None)))
    with pytest.raises(RetryLater, match="System error"):
        world.deliver()
    assert (world.replies.item["state"], world.replies.item["attempts"]) == ("RETRYING", 1)
    assert world.replies.item["error"] == "Weibo error 10001: System error"
    assert world.deliver()["state"] == "SENT"
    assert world.replies.item["attempts"] == 2 and world.actions == ["reply_sending", "reply_retrying", "reply_sending",
                                                                     "reply_sent"]


def test_out_of_attempts_is_failed() -> None:
    world = World(adapter=Adapter(TransientPlatformError("timed out", code="timeout")), max_attempts=2)
    with pytest.raises(RetryLater):
        world.deliver()
    assert world.deliver() == {"state": "FAILED"}
    assert world.replies.item["error"] == "timed out (after 2 attempts)" and world.marked == []


def test_a_refusal_is_failed_with_the_platforms_reason() -> None:
    refusal = PermanentPlatformError("X 403: Forbidden: Reply to this conversation is not allowed ...", status=403,
                                     code="reply_not_allowed")
    world = World(adapter=Adapter(refusal))
    assert world.deliver() == {"state": "FAILED"}
    item = world.replies.item
    assert (item["state"], item["error_code"]) == ("FAILED", "reply_not_allowed") and "not allowed" in item["error"]
    assert world.replies.entries[-1].after["error_code"] == "reply_not_allowed" and world.marked == []


def test_a_lost_answer_is_looked_up_and_sent_when_found() -> None:
    world = World(adapter=Adapter(DeliveryOutcomeUnknown("sent, but no answer", code="unknown"),
                                  found=DeliveryResult("c-9", "https://weibo.com/1/4990")))
    assert world.deliver()["state"] == "SENT"
    assert (world.replies.item["platform_reply_id"], world.replies.item["resolved_by"]) == ("c-9", "lookup")
    assert world.adapter.looked == [NOW - timedelta(minutes=5)] and len(world.marked) == 1


def test_a_lost_answer_that_cannot_be_found_is_unknown_for_a_person() -> None:
    world = World(adapter=Adapter(DeliveryOutcomeUnknown("sent, but no answer", code="unknown")))
    assert world.deliver() == {"state": "UNKNOWN"}
    assert world.replies.item["needs_person"] is True and "check the conversation" in world.replies.item["error"]
    assert world.deliver() == {"state": "UNKNOWN"} and len(world.adapter.sent) == 1, "never sent blindly again"


def test_a_reply_left_sending_by_a_crash_is_looked_up_never_sent_again() -> None:
    world = World(_reply(state="SENDING", attempts=1, sending_at=(NOW - timedelta(minutes=2)).isoformat()))
    assert world.deliver() == {"state": "UNKNOWN"} and world.adapter.sent == []
    assert world.adapter.looked == [NOW - timedelta(minutes=7)]


def test_text_that_no_longer_matches_its_approval_is_never_sent() -> None:
    world = World(_reply(text=TEXT + "（已修改）"))
    assert world.deliver() == {"state": "FAILED"} and world.adapter.sent == []
    assert world.replies.item["error_code"] == "text_changed"


def test_a_platform_that_cannot_be_answered_fails_with_the_reason() -> None:
    reply = _reply(platform="reddit")
    reply["target"]["platform"] = "reddit"
    world = World(reply)
    assert world.deliver() == {"state": "FAILED"} and "not configured" in world.replies.item["error"]


def test_other_states_and_other_generations_are_left_alone() -> None:
    for state in ("AWAITING_APPROVAL", "WITHDRAWN", "FAILED", "UNKNOWN"):
        world = World(_reply(state=state))
        assert world.deliver() == {"state": state} and world.adapter.sent == []
    world = World(_reply(generation=1, state="RETRYING"))
    assert world.deliver(generation=0) == {"state": "RETRYING", "stale": True} and world.adapter.sent == []
    assert world.deliver(generation=1)["state"] == "SENT"
    assert world.adapter.sent[0][2] == reply_idempotency_key(RID, 1), "a new generation is a new idempotency key"


def test_a_conversation_closed_meanwhile_stays_closed() -> None:
    world = World(conversation_open=False)
    assert world.deliver() == {"state": "SENT", "platform_reply_id": "c-1", "conversation": "UNCHANGED"}


def test_a_conversation_that_cannot_be_marked_brings_the_message_back_and_the_reply_stays_sent() -> None:
    world = World()

    def failing(*args: Any) -> bool:
        raise RuntimeError("throttled")

    world.publisher._mark_replied = failing
    with pytest.raises(RetryLater, match="could not be moved to REPLIED"):
        world.deliver()
    assert world.replies.item["state"] == "SENT"
    world.publisher._mark_replied = world._mark
    assert world.deliver() == {"state": "SENT", "conversation": "REPLIED"} and len(world.adapter.sent) == 1


# --- pacing ------------------------------------------------------------------------------------------

def test_over_the_pace_the_message_is_deferred_and_nothing_changes() -> None:
    world = World(pace=42.5)
    assert world.deliver() == {"state": "APPROVED", "paced_seconds": 42.5}
    assert world.deferred == [({"kind": "reply", "reply_id": RID, "generation": 0, "deferrals": 1}, 42.5)]
    assert world.adapter.sent == [] and world.replies.entries == [] and world.replies.item["version"] == 2
    assert world.deliver(deferrals=1)["state"] == "SENT"


def test_without_a_queue_to_defer_to_a_paced_message_comes_back_later() -> None:
    world = World(pace=10, deferring=False)
    with pytest.raises(RetryLater, match="over their pace"):
        world.deliver()
    assert world.replies.item["state"] == "APPROVED"


def test_a_rate_limit_is_retrying_until_the_platforms_reset() -> None:
    world = World(adapter=Adapter(RateLimited("Weibo error 10023", resume_at=NOW + timedelta(minutes=20)),
                                  DeliveryResult("c-3", None)))
    assert world.deliver() == {"state": "RETRYING", "retry_in": 900.0 + 300.0}
    [(message, seconds)] = world.deferred
    assert message["deferrals"] == 1 and seconds == 1200.0
    assert world.deliver(deferrals=1)["state"] == "SENT"


def test_gcra_lets_a_burst_through_then_one_each_interval() -> None:
    now, tat, allowed = 0, None, 0
    for _ in range(10):
        new, wait = gcra(tat, now, per_minute=6, burst=3)
        if new is None:
            break
        tat, allowed = new, allowed + 1
    assert allowed == 3, "the burst"
    assert gcra(tat, now, per_minute=6, burst=3) == (None, 10_000), "the next one in 10 s (one interval)"
    assert gcra(tat, now + 10_000, per_minute=6, burst=3)[1] == 0
    # At a steady pace the bucket never refuses.
    tat = None
    for second in range(0, 600, 10):
        tat, wait = gcra(tat, second * 1000, per_minute=6, burst=1)
        assert wait == 0 and tat is not None


class _StateTable:
    """get_item / update_item with DynamoDB's condition on `tat`, losing the first race on demand."""

    def __init__(self, lose_first: bool = False) -> None:
        self.items: dict[str, int] = {}
        self.lose_first = lose_first

    def __call__(self, service: str) -> Any:
        return self

    def get_item(self, *, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        pk = Key["pk"]["S"]
        return {"Item": {"pk": {"S": pk}, "tat": {"N": str(self.items[pk])}}} if pk in self.items else {}

    def update_item(self, *, Key: dict[str, Any], ConditionExpression: str, ExpressionAttributeValues: dict[str, Any],
                    **_: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        pk = Key["pk"]["S"]
        if self.lose_first:
            self.lose_first = False
            self.items[pk] = self.items.get(pk, 0) + 1  # another instance took a slot meanwhile
        current = self.items.get(pk)
        ok = current is None if "attribute_not_exists" in ConditionExpression else \
            current == int(ExpressionAttributeValues[":old"]["N"])
        if not ok:
            raise ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "UpdateItem")
        self.items[pk] = int(ExpressionAttributeValues[":tat"]["N"])
        return {}


def test_the_pacer_shares_one_bucket_per_platform_and_reads_again_after_a_lost_race() -> None:
    table = _StateTable()
    pacer = ReplyPacer("state", clients=table)  # type: ignore[arg-type]
    waits = [pacer.take("weibo", per_minute=2, burst=2, now=NOW) for _ in range(3)]
    assert waits == [0.0, 0.0, 30.0], "two in a burst, the third half a minute later"
    assert pacer.take("x", per_minute=2, burst=2, now=NOW) == 0.0, "platforms do not share a bucket"
    assert pacer.take("weibo", per_minute=2, burst=2, now=NOW + timedelta(seconds=30)) == 0.0
    racing = ReplyPacer("state", clients=_StateTable(lose_first=True))  # type: ignore[arg-type]
    assert racing.take("weibo", per_minute=60, burst=1, now=NOW) == 0.0

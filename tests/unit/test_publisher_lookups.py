"""A lost answer is looked for again later, a bounded number of times, and never published again."""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisiscomms.errors import (
    DeliveryOutcomeUnknown,
    PermanentPlatformError,
    RateLimited,
    TokenExpired,
    TransientPlatformError,
)
from crisiscomms.models.delivery import DeliveryRequest, DeliveryResult
from crisiscomms.statements.publisher import LOST_ANSWER_LOOKS, DeliveryMessage, Publisher, RetryLater
from crisiscomms.statements.render import ChannelsConfig, Renderer

from tests.unit.fakes import StatementsInMemory

START = datetime(2026, 11, 29, 9, 0, tzinfo=timezone.utc)
SID = "st-0123456789abcdef"
TEXT = {"zh": {"full": "服务已于15时恢复。\n客户资金安全。", "short": "服务已于15时恢复。"},
        "en": {"full": "Service restored at 15:00.", "short": "Service restored at 15:00."}}
VISIBILITY = timedelta(minutes=3)  # the delivery queue's visibility timeout: when a message comes back
ARTICLE = DeliveryResult("article-1", "https://mp.weixin.qq.com/s/a1")


class _Late:
    """A channel whose answer to the post is lost and whose post shows only later, as WeChat's
    article does once its publish task is done: `finds` is what each look answers."""

    channel = "wechat"

    def __init__(self, finds: list[Any] | None = None) -> None:
        self.published: list[DeliveryRequest] = []
        self.looks = 0
        self.finds = list(finds or [])
        self.during_find: Callable[[], None] | None = None

    def publish(self, request: DeliveryRequest) -> DeliveryResult:
        self.published.append(request)
        raise DeliveryOutcomeUnknown("WeChat freepublish/submit: no answer (read timeout)")

    def find(self, request: DeliveryRequest) -> DeliveryResult | None:
        self.looks += 1
        if self.during_find is not None:
            self.during_find()
        answer = self.finds.pop(0) if self.finds else None
        if isinstance(answer, Exception):
            raise answer
        return answer


class _Unaskable(_Late):
    """A channel that cannot be asked what it got (Telegram, webhooks)."""

    channel = "telegram"
    findable = False


class _X:
    channel = "x"

    def __init__(self) -> None:
        self.before_publish: Callable[[], None] | None = None

    def publish(self, request: DeliveryRequest) -> DeliveryResult:
        if self.before_publish is not None:
            self.before_publish()
        return DeliveryResult(platform_id="1850000000000000001")

    def find(self, request: DeliveryRequest) -> DeliveryResult | None:
        return None


class _Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def _renderer() -> Renderer:
    return Renderer(ChannelsConfig.model_validate({
        "newsroom_base_url": "https://newsroom.bank.example",
        "channels": {"x": {"languages": ["en"]}, "wechat": {"languages": ["zh"]}, "telegram": {"languages": ["zh"]}},
    }))


def _statement(late: str = "wechat") -> dict[str, Any]:
    rendered = _renderer().render_all(SID, TEXT, ["x", late], kind="statement", title=None)
    deliveries = []
    for channel, language in (("x", "en"), (late, "zh")):
        r = rendered[f"{channel}#{language}"]
        deliveries.append({"key": f"v0001#{channel}#{language}", "delivery_id": f"d-{channel}", "statement_id": SID,
                           "version": 1, "channel": channel, "language": language, "state": "PENDING",
                           "text_hash": r["sha256"], "attempts": 0, "kind": "statement",
                           "rendering": {f: r[f] for f in ("text", "title", "digest", "newsroom_url") if r[f]}})
    return {"id": SID, "kind": "statement", "state": "PUBLISHING", "published_version": 1, "revision": 3,
            "versions": [{"version": 1, "text": TEXT}], "deliveries": deliveries}


def _world(late: _Late, *, sent_x: bool = True, x: _X | None = None) -> tuple[StatementsInMemory, Publisher, _Clock]:
    repo, clock = StatementsInMemory(_statement(late.channel)), _Clock()
    publisher = Publisher(repo, adapter_for={"x": x or _X(), late.channel: late}.__getitem__,  # type: ignore[arg-type]
                          renderer=_renderer(), clock=clock, max_attempts=3)
    if sent_x:
        assert publisher.deliver(_message("x"))["state"] == "SENT"
    return repo, publisher, clock


def _message(channel: str = "wechat") -> DeliveryMessage:
    lang = "en" if channel == "x" else "zh"
    return DeliveryMessage(statement_id=SID, key=f"v0001#{channel}#{lang}", delivery_id=f"d-{channel}")


def _delivery(repo: StatementsInMemory, channel: str = "wechat") -> dict[str, Any]:
    return next(d for d in repo.statement["deliveries"] if d["channel"] == channel)


def _comes_back(publisher: Publisher, clock: _Clock, channel: str = "wechat") -> dict[str, Any]:
    """The message after the queue's visibility timeout: its answer, or RetryLater's message."""
    clock.advance(VISIBILITY)
    try:
        return publisher.deliver(_message(channel))
    except RetryLater as exc:
        return {"retry_later": str(exc)}


def test_a_lost_answer_not_shown_yet_is_looked_for_again_later_instead_of_going_to_a_person() -> None:
    late = _Late()
    repo, publisher, _ = _world(late)
    with pytest.raises(RetryLater, match="look 1 of 3"):
        publisher.deliver(_message())
    delivery = _delivery(repo)
    assert (delivery["state"], delivery["lookups"], delivery["looking_since"]) == ("SENDING", 1, START.isoformat())
    assert "needs_person" not in delivery and "looked for again, never sent again" in delivery["error"]
    assert [e.action for e in repo.entries][-2:] == ["delivery_sending", "delivery_looking"]
    assert repo.entries[-1].after == {"delivery": "v0001#wechat#zh", "state": "SENDING", "lookups": 1,
                                      "error": delivery["error"]}
    assert repo.statement["state"] == "PUBLISHING"  # no outcome yet: nothing settled as PARTIAL
    assert (len(late.published), late.looks) == (1, 1)


def test_found_on_the_second_look_is_sent_resolved_by_lookup_without_publishing_again() -> None:
    late = _Late(finds=[None, ARTICLE])
    repo, publisher, clock = _world(late)
    with pytest.raises(RetryLater):
        publisher.deliver(_message())
    assert _comes_back(publisher, clock) == {"state": "SENT", "statement": "PUBLISHED"}
    delivery = _delivery(repo)
    assert (delivery["state"], delivery["resolved_by"], delivery["lookups"]) == ("SENT", "lookup", 2)
    assert (delivery["platform_id"], delivery["url"]) == (ARTICLE.platform_id, ARTICLE.url)
    assert repo.entries[-2].action == "delivery_sent" and repo.entries[-2].after["lookups"] == 2
    assert (len(late.published), late.looks) == (1, 2)
    assert repo.statement["state"] == "PUBLISHED"


def test_the_looks_are_bounded_and_the_last_one_leaves_it_to_a_person_saying_how_long_it_looked() -> None:
    late = _Late()
    repo, publisher, clock = _world(late)
    with pytest.raises(RetryLater):
        publisher.deliver(_message())
    answers = [_comes_back(publisher, clock) for _ in range(LOST_ANSWER_LOOKS - 1)]
    assert "retry_later" in answers[0] and answers[-1] == {"state": "UNKNOWN", "statement": "PARTIAL"}
    delivery = _delivery(repo)
    assert (delivery["state"], delivery["needs_person"], delivery["lookups"]) == ("UNKNOWN", True, 3)
    assert "did not show the post in 3 looks over 6 min 0 s" in delivery["error"]
    assert (len(late.published), late.looks) == (1, 3)
    assert [e.action for e in repo.entries].count("delivery_looking") == 2
    assert publisher.deliver(_message()) == {"state": "UNKNOWN"}  # a late copy changes nothing
    assert (len(late.published), late.looks) == (1, 3)


@pytest.mark.parametrize("failure", [
    TransientPlatformError("WeChat freepublish/batchget answered HTTP 503"),
    RateLimited("WeChat errcode 45011: minute quota", resume_at=START + timedelta(minutes=1)),
    TokenExpired("WeChat errcode 42001 (the access token must be refreshed)"),
], ids=["transient", "rate-limited", "token-renewed"])
def test_a_lookup_that_fails_for_now_counts_as_a_look(failure: Exception) -> None:
    late = _Late(finds=[failure, failure, ARTICLE])
    repo, publisher, clock = _world(late)
    with pytest.raises(RetryLater):
        publisher.deliver(_message())
    delivery = _delivery(repo)
    assert (delivery["state"], delivery["lookups"]) == ("SENDING", 1) and str(failure) in delivery["error"]
    assert "retry_later" in _comes_back(publisher, clock)
    assert _comes_back(publisher, clock)["state"] == "SENT"
    assert (_delivery(repo)["lookups"], len(late.published), late.looks) == (3, 1, 3)


def test_a_last_look_that_fails_says_so_to_the_person() -> None:
    late = _Late(finds=[None, None, TransientPlatformError("HTTP 502")])
    repo, publisher, clock = _world(late)
    with pytest.raises(RetryLater):
        publisher.deliver(_message())
    _comes_back(publisher, clock)
    assert _comes_back(publisher, clock)["state"] == "UNKNOWN"
    assert "in 3 looks over 6 min 0 s (the last lookup failed: HTTP 502)" in _delivery(repo)["error"]


def test_a_refused_lookup_goes_to_a_person_at_once() -> None:
    late = _Late(finds=[PermanentPlatformError("WeChat errcode 48001: api unauthorized", code="48001")])
    repo, publisher, _ = _world(late)
    assert publisher.deliver(_message()) == {"state": "UNKNOWN", "statement": "PARTIAL"}
    delivery = _delivery(repo)
    assert (delivery["needs_person"], delivery["lookups"]) == (True, 1) and "refused the lookup" in delivery["error"]
    assert (len(late.published), late.looks) == (1, 1)


def test_a_platform_that_cannot_be_asked_goes_to_a_person_at_once() -> None:
    late = _Unaskable()
    repo, publisher, _ = _world(late)
    assert publisher.deliver(_message("telegram")) == {"state": "UNKNOWN", "statement": "PARTIAL"}
    assert _delivery(repo, "telegram")["needs_person"] is True and "lookups" not in _delivery(repo, "telegram")
    assert (len(late.published), late.looks) == (1, 0)


def test_a_message_that_finds_its_delivery_sending_looks_and_never_publishes() -> None:
    """An earlier attempt died between sending and recording: the redelivered message only looks."""
    late = _Late(finds=[None, ARTICLE])
    repo, publisher, clock = _world(late)
    _delivery(repo).update(state="SENDING", attempts=1)
    with pytest.raises(RetryLater):
        publisher.deliver(_message())
    assert _comes_back(publisher, clock)["state"] == "SENT"
    assert (len(late.published), late.looks, _delivery(repo)["resolved_by"]) == (0, 2, "lookup")


def test_two_copies_of_the_message_looking_at_once_count_the_look_once_and_never_publish() -> None:
    late = _Late()
    repo, publisher, clock = _world(late)
    with pytest.raises(RetryLater):
        publisher.deliver(_message())
    both_looked = threading.Barrier(2)
    late.during_find = lambda: both_looked.wait(timeout=5)  # each copy read lookups = 1 before either counts
    clock.advance(VISIBILITY)
    outcomes: list[Any] = []

    def copy_of_the_message() -> None:
        try:
            outcomes.append(publisher.deliver(_message()))
        except RetryLater as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=copy_of_the_message) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sum(isinstance(o, RetryLater) for o in outcomes) == 1, outcomes  # one copy carries on
    assert {"state": "SENDING", "lookups": 2} in outcomes  # the other is done: its SQS message goes
    assert _delivery(repo)["lookups"] == 2 and [e.action for e in repo.entries].count("delivery_looking") == 2
    assert (len(late.published), late.looks) == (1, 3)


def test_a_copy_that_counted_the_last_look_second_leaves_the_outcome_to_the_first() -> None:
    late = _Late()
    repo, publisher, clock = _world(late)
    with pytest.raises(RetryLater):
        publisher.deliver(_message())
    _comes_back(publisher, clock)
    # Another copy ends the delivery while this one is looking for the third time.
    late.during_find = lambda: _delivery(repo).update(state="UNKNOWN", lookups=3, needs_person=True)
    clock.advance(VISIBILITY)
    assert publisher.deliver(_message()) == {"state": "UNKNOWN", "lookups": 3}
    assert [e.action for e in repo.entries].count("delivery_unknown") == 0  # this copy recorded nothing
    assert len(late.published) == 1


def test_a_delivery_being_looked_for_has_no_outcome_and_settles_the_batch_when_it_leaves() -> None:
    """In one batch X records SENT while WeChat is still in hand, so X leaves settling to it; WeChat
    then only counts a look, records no outcome, and settles the statement as it leaves."""
    x, late = _X(), _Late()
    repo, publisher, _ = _world(late, sent_x=False, x=x)
    gate, x_done = threading.Barrier(2), threading.Event()
    x.before_publish = lambda: gate.wait(timeout=5)
    late.during_find = lambda: (gate.wait(timeout=5), x_done.wait(timeout=5))
    errors: list[Exception] = []

    def run_wechat() -> None:
        try:
            publisher.deliver(_message())
        except RetryLater as exc:
            errors.append(exc)

    t = threading.Thread(target=run_wechat)
    t.start()
    assert publisher.deliver(_message("x")) == {"state": "SENT", "statement": "SETTLED_BY_BATCH"}
    x_done.set()
    t.join(timeout=10)
    assert errors and (_delivery(repo)["state"], _delivery(repo)["lookups"]) == ("SENDING", 1)
    assert repo.loads == ["states"] and repo.statement["state"] == "PUBLISHING"  # settled once, as still publishing

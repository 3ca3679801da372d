"""The effect of published statements and reply waves, end to end: the desk API publishes, the Publisher
delivers to the channel emulators, posts are stored the way the Poller stores them, and the real Reviewer
handler (its scheduled event) measures what is due and recommends."""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisiscomms_local.aws import Stack, put_watch_config, reset_process_caches
from crisiscomms_local.emulators import Fault
from crisiscomms_local.lambda_runtime import invoke

from .conftest import DeskClient

pytestmark = pytest.mark.integration
TEXT = {
    "zh": {"full": "港湾银行声明：所有账户正常，部分ATM取款延迟，现已恢复。", "short": "港湾银行：所有账户正常，ATM已恢复。"},
    "en": {"full": "Harbor Bank statement: all accounts are available; ATM withdrawals are working again.",
           "short": "All Harbor Bank accounts are available; ATMs work again."},
}
TOPICS = [{"id": "harbor", "names": ["Harbor Bank", "港湾银行"]}, {"id": "northgate", "names": ["Northgate Savings"]}]


class Review:
    """The stack as the Reviewer sees it: posts stored as the Poller stores them, conversations, its runs."""

    def __init__(self, desk: DeskClient, stack: Stack) -> None:
        from crisiscomms.aws.audit_log import AuditLog
        from crisiscomms.aws.clients import AwsClients
        from crisiscomms.aws.inbox_store import InboxRepository
        from crisiscomms.aws.post_store import PostRepository, PostTables
        from crisiscomms.aws.reply_store import ReplyRepository

        self.desk, self.stack, self.clock = desk, stack, desk.clock
        clients = AwsClients()
        env = stack.function_environment("PollerFunction")
        self.audit = AuditLog(stack.refs["AuditTable"], stack.refs["StateTable"], clients=clients)
        self.posts = PostRepository(PostTables(env["POSTS_TABLE"], env["TOPIC_POSTS_TABLE"], env["AGGREGATES_TABLE"]),
                                    clients=clients, retention_days=30)
        self.inbox = InboxRepository(stack.refs["InboxTable"], clients=clients, audit=self.audit)
        self.replies = ReplyRepository(stack.refs["InboxTable"], self.audit)
        self.serial = 0

    def post(self, at: datetime, *, topic: str = "harbor", negative: bool, source: str = "social", crisis: bool = False) -> None:
        from crisiscomms.models import Post, ScoredPost

        self.serial += 1
        platform = "news" if source == "news" else "x"
        post = Post(platform=platform, native_id=f"p{self.serial}", source_type=source, source_id=f"{platform}-test",
                    url=f"https://example.test/{self.serial}", author=f"a{self.serial}", text="Harbor Bank …", published_at=at)
        self.posts.store(ScoredPost(post=post, topics=(topic,), language="en", sentiment=-0.6 if negative else 0.4,
                                    sentiment_label="negative" if negative else "positive",
                                    crisis_terms=("bank run",) if crisis else (), crisis_categories=(), crisis_weight=0.0,
                                    is_crisis=crisis, risk=50, ingested_at=at))

    def minutes(self, start: datetime, minutes: int, *, per_minute: int, negative_every: int, **kwargs: Any) -> None:
        """`per_minute` posts a minute for `minutes` minutes from `start`; every `negative_every`-th negative."""
        n = 0
        for m in range(minutes):
            for _ in range(per_minute):
                n += 1
                self.post(start + timedelta(minutes=m, seconds=n % 50), negative=negative_every > 0 and n % negative_every == 0,
                          **kwargs)

    def conversation(self, at: datetime, kind: str, *, topic: str = "harbor", state: str = "NEW") -> None:
        self.serial += 1
        created = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert self.inbox.open_conversation({
            "post_key": f"x#c{self.serial}", "topic": topic, "topics": [topic], "platform": "x", "native_id": f"c{self.serial}",
            "author": "someone", "text": "…", "kind": kind, "priority": 300, "state": state,
            "priority_key": f"699#{created}", "created_at": created, "due_at": created, "version": 1})

    def publish(self, channels: list[str], *, topics: list[str] | None = None) -> str:
        body: dict[str, Any] = {"channels": channels, "text": TEXT}
        if topics:
            body["topics"] = topics
        status, draft = self.desk.call("POST", "/statements", body)
        assert status == 201, draft
        self.desk.approve_and_publish(draft["id"])
        self.desk.world.pump()
        return str(draft["id"])

    def run(self, at: datetime) -> dict[str, Any]:
        self.clock.set(at)
        return invoke("reviewer", {"job": "review"})

    def effect(self, statement_id: str, as_: str = "auditor:zhou") -> tuple[int, Any]:
        return self.desk.call("GET", f"/statements/{statement_id}/effect", as_=as_)

    def audit_actions(self, target: str) -> Counter[str]:
        return Counter(e["action"] for e in self.audit.records() if e["target"] == target)


@pytest.fixture
def review(desk: DeskClient, stack: Stack) -> Iterator[Review]:
    put_watch_config(stack, json.dumps({"version": 1, "topics": TOPICS, "sources": [], "feeds": []}))
    os.environ.update(stack.function_environment("ReviewerFunction", {"HTTP_TIMEOUT_SECONDS": "0.8",
                                                                      "CONFIG_MAX_AGE_SECONDS": "0"}))
    reset_process_caches()
    yield Review(desk, stack)


def _delivered(desk: DeskClient, sid: str, channel: str) -> str:
    return next(d["platform_id"] for d in desk.get(sid)["deliveries"] if d["channel"] == channel)


def test_a_statement_is_measured_once_when_its_window_closes_and_again_at_the_second_look(review: Review) -> None:
    t0 = review.clock()  # 09:00
    review.minutes(t0, 30, per_minute=4, negative_every=2)  # before: 120 posts, half negative
    review.clock.set(t0 + timedelta(minutes=30, seconds=20))
    sid = review.publish(["newsroom", "x", "weibo", "wechat", "telegram"], topics=["harbor"])
    review.minutes(t0 + timedelta(minutes=30), 30, per_minute=6, negative_every=1, crisis=True)  # after: 180, all negative
    review.post(t0 + timedelta(minutes=40), negative=True, source="news")
    review.conversation(t0 + timedelta(minutes=35), "rumour")
    review.conversation(t0 + timedelta(minutes=10), "rumour")
    review.conversation(t0 + timedelta(minutes=20), "question")
    world = review.desk.world
    world.emulators["x"].set_metrics(_delivered(review.desk, sid, "x"), likes=30, reposts=4, replies=9)
    world.emulators["weibo"].set_counts(_delivered(review.desk, sid, "weibo"), likes=11, reposts=2, comments=5)

    early = review.run(t0 + timedelta(minutes=31))
    assert (early["scheduled"], early["measured"]) == (1, [])
    status, body = review.effect(sid)
    assert status == 200 and body["effects"] == []
    assert body["next_measurement"] == {"stage": "after", "due_at": "2026-11-28T10:02:00Z"}

    assert review.run(t0 + timedelta(minutes=61, seconds=59))["measured"] == []  # the window closed; posts still settling
    result = review.run(t0 + timedelta(minutes=62))
    assert result["measured"] == [{"subject": "statement", "id": sid, "stage": "after", "recommendation": "revise"}]

    status, body = review.effect(sid)
    [first] = body["effects"]
    assert (first["before"]["start"], first["before"]["end"]) == ("2026-11-28T09:00:00Z", "2026-11-28T09:30:00Z")
    assert (first["after"]["start"], first["after"]["end"]) == ("2026-11-28T09:30:00Z", "2026-11-28T10:00:00Z")
    [harbor] = first["topics"]
    assert harbor["topic"] == "harbor" and first["topics_basis"] == "given"
    assert (harbor["before"]["volume"], harbor["before"]["negative"], harbor["before"]["negative_share"]) == (120, 60, 0.5)
    assert (harbor["after"]["volume"], harbor["after"]["negative"], harbor["after"]["crisis_hits"]) == (180, 180, 180)
    assert harbor["before"]["net_polarity"] == pytest.approx(-0.1) and harbor["after"]["net_polarity"] == pytest.approx(-0.6)
    assert (harbor["before"]["rumour_posts"], harbor["after"]["rumour_posts"]) == (1, 1)
    assert (harbor["news_before"]["items"], harbor["news_after"]["items"], harbor["news_after"]["negative_share"]) == (0, 1, 1.0)
    assert harbor["open_questions"] == 1
    assert first["recommendation"]["code"] == "revise" and first["recommendation"]["rule"] == 1
    engagement = first["engagement"]
    assert {k: (v["likes"], v["reposts"], v["replies"]) for k, v in engagement.items() if v["state"] == "available"} == {
        "x": (30, 4, 9), "weibo": (11, 2, 5)}
    for channel, why in (("newsroom", "own site"), ("wechat", "next day"), ("telegram", "Bot API")):
        assert engagement[channel]["state"] == "unavailable" and why in engagement[channel]["reason"], channel
    assert first["thresholds"]["revise_volume_ratio"] == 1.2

    # Run again (a retry, a second schedule): nothing is measured twice, nothing more is audited.
    before = review.audit_actions(f"statement#{sid}")
    again = review.run(t0 + timedelta(minutes=63))
    assert again["measured"] == [] and again["scheduled"] == 0
    assert review.audit_actions(f"statement#{sid}") == before and before["effect_measured"] == 1

    status, statement = review.desk.call("GET", f"/statements/{sid}", as_="author:li")
    assert status == 200 and [e["stage"] for e in statement["effects"]] == ["after"]
    assert review.effect(sid)[1]["next_measurement"] == {"stage": "plus2h", "due_at": "2026-11-28T11:32:00Z"}

    review.minutes(t0 + timedelta(minutes=120), 30, per_minute=2, negative_every=4)  # 11:00-11:30: calm
    assert [m["stage"] for m in review.run(t0 + timedelta(minutes=152))["measured"]] == ["plus2h"]
    status, body = review.effect(sid)
    second = body["effects"][1]
    assert second["stage"] == "plus2h" and body["next_measurement"] is None
    assert (second["after"]["start"], second["after"]["end"]) == ("2026-11-28T11:00:00Z", "2026-11-28T11:30:00Z")
    assert second["before"] == first["before"]
    assert (second["topics"][0]["after"]["volume"], second["recommendation"]["code"]) == (60, "keep_cadence")
    assert review.run(t0 + timedelta(minutes=200))["measured"] == []


def test_due_measurements_are_found_with_queries_and_never_a_scan(review: Review) -> None:
    from crisiscomms.wiring import container

    t0 = review.clock()
    review.minutes(t0, 30, per_minute=1, negative_every=2)
    review.clock.set(t0 + timedelta(minutes=30))
    review.publish(["newsroom", "x"], topics=["harbor"])
    review.run(t0 + timedelta(minutes=31))
    operations: list[tuple[str, str | None]] = []
    client = container().clients("dynamodb")
    client.meta.events.register("provide-client-params.dynamodb",
                                lambda params, model, **_: operations.append((model.name, params.get("IndexName"))))
    result = review.run(t0 + timedelta(minutes=62))
    assert len(result["measured"]) == 1
    names = Counter(name for name, _ in operations)
    assert names["Scan"] == 0 and "Scan" not in {n for n, _ in operations}
    assert ("Query", "by_created") in operations  # the sparse due partition
    assert names["TransactWriteItems"] == 1  # the measurement, its due item and its audit entry together


def test_topics_measured_are_those_above_normal_at_publication_else_every_watched(review: Review) -> None:
    from crisiscomms.models.audit import AuditEntry

    t0 = review.clock()
    review.clock.set(t0 + timedelta(minutes=1))
    quiet = review.publish(["newsroom"])
    review.audit.append(AuditEntry(actor="detector", role="system", action="level_raised", target="topic#northgate",
                                   at=review.clock(), before={"level": "NORMAL"}, after={"level": "WARNING"}))
    review.clock.set(t0 + timedelta(minutes=2))
    loud = review.publish(["newsroom"])
    given = review.publish(["newsroom"], topics=["harbor"])
    review.run(t0 + timedelta(minutes=3))
    review.run(t0 + timedelta(minutes=40))
    by_id = {sid: review.effect(sid)[1]["effects"][0] for sid in (quiet, loud, given)}
    assert ([t["topic"] for t in by_id[quiet]["topics"]], by_id[quiet]["topics_basis"]) == (["harbor", "northgate"], "every_watched")
    assert ([t["topic"] for t in by_id[loud]["topics"]], by_id[loud]["topics_basis"]) == (["northgate"], "above_normal")
    assert by_id[loud]["topics"][0]["level_at_publication"] == "WARNING"
    assert ([t["topic"] for t in by_id[given]["topics"]], by_id[given]["topics_basis"]) == (["harbor"], "given")
    status, listed = review.desk.call("GET", "/topics/northgate/effects", as_="approver:wang",
                                      query="from=2026-11-28T08:00:00Z&to=2026-11-28T12:00:00Z")
    assert status == 200 and sorted(e["subject_id"] for e in listed["effects"]) == sorted([quiet, loud])


def test_a_channel_that_fails_when_read_is_unavailable_and_the_rest_still_measured(review: Review) -> None:
    t0 = review.clock()
    review.minutes(t0, 30, per_minute=2, negative_every=1)
    review.clock.set(t0 + timedelta(minutes=30))
    sid = review.publish(["x", "mastodon"], topics=["harbor"])
    review.minutes(t0 + timedelta(minutes=30), 30, per_minute=1, negative_every=3)
    review.desk.world.emulators["mastodon"].set_counts(_delivered(review.desk, sid, "mastodon"), favourites=2)
    review.run(t0 + timedelta(minutes=31))
    review.desk.world.emulators["x"].add_fault(Fault(t0, t0 + timedelta(hours=2), "http_status", status=503))
    review.run(t0 + timedelta(minutes=62))
    [first] = review.effect(sid)[1]["effects"]
    assert first["engagement"]["x"]["state"] == "unavailable" and "503" in first["engagement"]["x"]["reason"]
    assert (first["engagement"]["mastodon"]["state"], first["engagement"]["mastodon"]["likes"]) == ("available", 2)
    assert first["recommendation"]["code"] == "keep_cadence"


def test_more_interaction_when_engagement_is_unavailable_and_questions_pile_up(review: Review) -> None:
    t0 = review.clock()
    review.minutes(t0, 30, per_minute=2, negative_every=1)
    review.clock.set(t0 + timedelta(minutes=30))
    sid = review.publish(["newsroom", "wechat"], topics=["harbor"])  # no channel gives engagement in time
    review.minutes(t0 + timedelta(minutes=30), 30, per_minute=2, negative_every=2)
    for n in range(10):
        review.conversation(t0 + timedelta(minutes=35 + n), "question")
    review.conversation(t0 + timedelta(minutes=36), "question", state="CLOSED")  # answered: not open
    review.run(t0 + timedelta(minutes=31))
    review.run(t0 + timedelta(minutes=62))
    [first] = review.effect(sid)[1]["effects"]
    assert first["topics"][0]["open_questions"] == 10
    assert (first["recommendation"]["code"], first["recommendation"]["rule"]) == ("more_interaction", 3)
    assert "cannot be read on any channel" in first["recommendation"]["reason"]


def _sent_reply(review: Review, platform: str, native_id: str, *, template: str | None, text: str) -> str:
    from crisiscomms.models.audit import AuditEntry
    from crisiscomms.models.inbox import ReplyTarget

    post_key = f"{platform}#{native_id}"
    created = review.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
    review.inbox.open_conversation({
        "post_key": post_key, "topic": "harbor", "topics": ["harbor"], "platform": platform, "native_id": native_id,
        "author": "ann", "text": "…", "reply_ref": {}, "to_bank": True, "kind": "complaint", "priority": 500,
        "state": "NEW", "priority_key": f"499#{created}", "created_at": created, "due_at": created, "version": 1})
    review.serial += 1
    rid = f"rp-{review.serial:016x}"
    now = review.clock().isoformat()
    target = ReplyTarget(platform=platform, post_key=post_key, native_id=native_id, author="ann", ref={})
    review.replies.create_reply({
        "id": rid, "conversation": f"conv#{post_key}", "post_key": post_key, "topic": "harbor", "platform": platform,
        "target": target.model_dump(), "language": "en", "text": text,
        "text_hash": hashlib.sha256(text.encode("utf-8")).hexdigest(), "author": "li", "state": "APPROVED",
        **({"template_id": template, "template_version": 1} if template else {}),
        "attempts": 0, "generation": 0, "created_at": now, "updated_at": now, "version": 1,
    }, AuditEntry(actor="li", role="comms-author", action="reply_from_template", target=f"reply#{rid}",
                  at=review.clock(), after={"state": "APPROVED"}))
    from crisiscomms_local.aws import client

    client("sqs").send_message(QueueUrl=os.environ["DELIVERY_QUEUE_URL"],
                               MessageBody=json.dumps({"kind": "reply", "reply_id": rid, "generation": 0}))
    review.desk.world.pump()
    reply = review.replies.reply(rid)
    assert reply is not None and reply["state"] == "SENT", reply
    return rid


def test_replies_from_one_template_within_the_window_are_one_wave_measured_like_a_statement(review: Review) -> None:
    t0 = review.clock()
    world = review.desk.world
    review.minutes(t0, 30, per_minute=3, negative_every=1)
    review.clock.set(t0 + timedelta(minutes=30))
    tweet = world.emulators["x"].add_external_post(review.clock(), text="@examplebank my card is blocked")
    first = _sent_reply(review, "x", tweet, template="tp-0000000000000001", text="Sorry, your card is unblocked.")
    review.clock.set(t0 + timedelta(minutes=45))
    toot = world.emulators["mastodon"].add_external_status()
    _sent_reply(review, "mastodon", toot, template="tp-0000000000000001", text="@ann Sorry, your card is unblocked.")
    other = world.emulators["x"].add_external_post(review.clock(), text="@examplebank app down")
    _sent_reply(review, "x", other, template=None, text="The app works again, sorry.")
    review.minutes(t0 + timedelta(minutes=30), 30, per_minute=1, negative_every=4)
    world.emulators["x"].set_metrics(review.replies.reply(first)["platform_reply_id"], likes=6, replies=1)

    found = review.run(t0 + timedelta(minutes=46))
    assert found["waves_started"] == 2  # the template's wave (2 replies) and the free reply's
    review.run(t0 + timedelta(minutes=62))
    status, listed = review.desk.call("GET", "/topics/harbor/effects", as_="auditor:zhou",
                                      query="from=2026-11-28T09:00:00Z&to=2026-11-28T11:00:00Z")
    waves = {e["wave"]["template_id"]: e for e in listed["effects"] if e["subject"] == "reply_wave"}
    wave = waves["tp-0000000000000001"]
    assert wave["wave"]["replies"] == 2 and wave["wave"]["platforms"] == {"mastodon": 1, "x": 1}
    assert (wave["before"]["start"], wave["after"]["end"]) == ("2026-11-28T09:00:00Z", "2026-11-28T10:00:00Z")
    assert (wave["topics"][0]["before"]["volume"], wave["topics"][0]["after"]["volume"]) == (90, 30)
    assert wave["recommendation"]["code"] == "keep_cadence"
    assert (wave["engagement"]["x"]["likes"], wave["engagement"]["x"]["replies"]) == (6, 1)
    assert wave["engagement"]["mastodon"]["state"] == "available"
    status, body = review.desk.call("GET", f"/reply-waves/{wave['subject_id']}/effect", as_="approver:wang")
    assert status == 200 and body["effects"][0]["subject_id"] == wave["subject_id"]
    assert review.audit_actions(f"wave#{wave['subject_id']}")["effect_measured"] == 1


def test_a_later_reply_from_the_same_template_starts_a_new_wave(review: Review) -> None:
    world = review.desk.world
    t0 = review.clock()
    tweets = [world.emulators["x"].add_external_post(t0, text=f"@examplebank help {n}") for n in range(3)]
    _sent_reply(review, "x", tweets[0], template="tp-0000000000000002", text="We are on it (1).")
    review.clock.set(t0 + timedelta(minutes=29))
    _sent_reply(review, "x", tweets[1], template="tp-0000000000000002", text="We are on it (2).")
    review.clock.set(t0 + timedelta(minutes=31))
    _sent_reply(review, "x", tweets[2], template="tp-0000000000000002", text="We are on it (3).")
    assert review.run(t0 + timedelta(minutes=32))["waves_started"] == 2
    review.run(t0 + timedelta(minutes=70))
    status, listed = review.desk.call("GET", "/topics/harbor/effects", as_="auditor:zhou",
                                      query="from=2026-11-28T08:00:00Z&to=2026-11-28T12:00:00Z")
    assert sorted(e["wave"]["replies"] for e in listed["effects"]) == [1, 2]


@pytest.mark.parametrize(("path", "who", "status"), [
    ("/statements/st-0000000000000000/effect", "auditor:zhou", 404),
    ("/reply-waves/rw-0000000000000000/effect", "author:li", 404),
    ("/statements/st-0000000000000000/effect", "oncall:chen", 403),
    ("/topics/harbor/effects", "oncall:chen", 403),
    ("/topics/harbor/effects?from=2026-11-28T10:00:00Z&to=2026-11-28T09:00:00Z", "auditor:zhou", 400),
    ("/topics/harbor/effects?from=yesterday", "auditor:zhou", 400),
    ("/topics/harbor/effects?from=2026-10-01T00:00:00Z&to=2026-11-28T00:00:00Z", "auditor:zhou", 400),
])
def test_the_effect_routes_refuse_what_they_must(review: Review, path: str, who: str, status: int) -> None:
    route, _, query = path.partition("?")
    answer, body = review.desk.call("GET", route, as_=who, query=query)
    assert answer == status, body


def test_a_draft_names_only_valid_topics_once(review: Review) -> None:
    for topics in (["Harbor"], ["harbor", "harbor"], []):
        status, body = review.desk.call("POST", "/statements", {"channels": ["x"], "text": TEXT, "topics": topics})
        assert status == 422, (topics, body)
    status, body = review.desk.call("POST", "/statements", {"channels": ["x"], "text": TEXT, "topics": ["northgate"]})
    assert status == 201 and body["topics"] == ["northgate"]
    review.desk.approve_and_publish(body["id"])
    status, correction = review.desk.call("POST", f"/statements/{body['id']}/corrections", {"text": TEXT})
    assert status == 201 and correction["topics"] == ["northgate"]  # a correction keeps the topics it corrects


def test_the_effect_item_is_written_once_whatever_runs_it(review: Review) -> None:
    """Two Reviewers measuring the same due item (a duplicated event): one wins, the other changes nothing."""
    from crisiscomms.aws.clients import AwsClients
    from crisiscomms.aws.effect_store import EffectRepository
    from crisiscomms.models.audit import AuditEntry
    from crisiscomms.wiring import container

    t0 = review.clock()
    review.clock.set(t0 + timedelta(minutes=5))
    sid = review.publish(["newsroom"], topics=["harbor"])
    review.run(t0 + timedelta(minutes=6))
    review.clock.set(t0 + timedelta(minutes=40))
    repo = EffectRepository(review.stack.refs["StatementsTable"], clients=AwsClients(), audit=review.audit)
    [due] = repo.due(review.clock())
    reviewer = container().reviewer()
    record = reviewer.measure(due)
    entry = AuditEntry(actor="reviewer", role="system", action="effect_measured", target=f"statement#{sid}",
                       at=review.clock())
    assert repo.record(record, due, next_due=review.clock() + timedelta(hours=2), entry=entry)
    assert not repo.record(record, due, next_due=review.clock() + timedelta(hours=2), entry=entry)
    assert review.run(t0 + timedelta(minutes=41))["measured"] == []
    assert review.audit_actions(f"statement#{sid}")["effect_measured"] == 1
    assert len(repo.for_statement(sid)) == 1
    review.clock.set(t0 + timedelta(minutes=160))  # the next due time given above: 09:40 + 2 h
    [later] = repo.due(review.clock())
    assert later["stage"] == "plus2h"
    second = reviewer.measure(later)
    assert repo.record(second, later, next_due=None, entry=entry)
    assert not repo.record(second, later, next_due=None, entry=entry)  # no topic listing to trip over: the stage decides
    assert repo.due(review.clock() + timedelta(days=1)) == [] and repo.pending("statement", sid)["stage"] == "done"
    assert review.audit_actions(f"statement#{sid}")["effect_measured"] == 2
    assert datetime.fromisoformat(repo.for_statement(sid)[0].published_at.isoformat()) == \
        (t0 + timedelta(minutes=5)).astimezone(timezone.utc)


def test_a_failing_channel_is_asked_once_a_run_and_what_time_does_not_allow_waits_for_the_next(review: Review) -> None:
    from crisiscomms.wiring import container

    t0 = review.clock()
    review.clock.set(t0 + timedelta(minutes=1))
    first = review.publish(["x"], topics=["harbor"])
    second = review.publish(["x"], topics=["harbor"])
    review.run(t0 + timedelta(minutes=2))
    x = review.desk.world.emulators["x"]
    x.add_fault(Fault(t0, t0 + timedelta(hours=2), "http_status", status=503))
    review.clock.set(t0 + timedelta(minutes=40))
    nothing = container().reviewer().run(remaining_seconds=lambda: 5.0)  # under the reserve: measure nothing
    assert (nothing["measured"], nothing["left_for_next_run"]) == ([], 2)
    x.clear_log()
    measured = container().reviewer().run()
    assert len(measured["measured"]) == 2
    lookups = [r for r in x.requests_log if r.path == "/2/tweets" and r.method == "GET"]
    assert len(lookups) == 2  # one call, two attempts, for both statements together
    for sid in (first, second):
        engagement = review.effect(sid)[1]["effects"][0]["engagement"]["x"]
        assert engagement["state"] == "unavailable" and "503" in engagement["reason"]

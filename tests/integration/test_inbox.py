"""The inbox on local AWS: conversations opened by the real Poller, the queues and moves through the real
API handler, overdue notices from the real Detector handler on the desk's SNS topic (and never on-call)."""
from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import to_item
from crisiscomms.aws.inbox_store import InboxRepository, iso_z
from crisiscomms.inbox.desk import public
from crisiscomms.inbox.opening import conversation_for
from crisiscomms.inbox.triage import Triage
from crisiscomms.models import Post, ScoredPost
from crisiscomms.models.audit import AuditEntry
from crisiscomms.models.inbox import conversation_id
from crisiscomms.watch.inbox import InboxSettings
from crisiscomms_local.aws import Stack, client, put_watch_config, reset_process_caches
from crisiscomms_local.emulators.channels.weibo import WeiboEmulator
from crisiscomms_local.lambda_runtime import invoke

from .conftest import POLLER_TEST_ENVIRONMENT, poller_with

pytestmark = pytest.mark.integration
TOPICS = [{"id": "harbor", "names": ["Harbor Bank", "港湾银行"]}]
TOKEN = "2.00weibo-inbox-token"
QUIET = {"CONFIG_MAX_AGE_SECONDS": "0", "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"}


def _repo(stack: Stack, *, audited: bool = True) -> InboxRepository:
    audit = AuditLog(stack.refs["AuditTable"], stack.refs["StateTable"], clients=AwsClients(), sleep=lambda _: None)
    return InboxRepository(stack.refs["InboxTable"], clients=AwsClients(), audit=audit if audited else None)


def _set_level(stack: Stack, topic: str, level: str) -> None:
    """The Detector's state item as it would leave it at `level` (flap control keeps it for a while)."""
    client("dynamodb").put_item(TableName=stack.refs["StateTable"], Item=to_item({"pk": f"detector#{topic}", "level": level}))


def _audit_actions(stack: Stack, target: str) -> list[str]:
    log = AuditLog(stack.refs["AuditTable"], stack.refs["StateTable"], clients=AwsClients())
    return [r["action"] for r in log.records() if r["target"] == target]


class _Operations:
    """Counts a DynamoDB client's operations; a Scan fails the test at once."""

    def __init__(self, dynamodb: Any) -> None:
        self.seen: Counter[str] = Counter()
        dynamodb.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        assert model.name != "Scan", "the inbox never scans"
        self.seen[model.name] += 1


# --- opening, through the real Poller -------------------------------------------------------------------

@dataclass
class WeiboWorld:
    stack: Stack
    clock: Any
    weibo: WeiboEmulator

    def configure(self, **inbox: Any) -> None:
        source = {"id": "mentions", "platform": "weibo", "stream": "mentions", "every_minutes": 1,
                  "initial_lookback_minutes": 60, "base_url": self.weibo.base_url}
        document: dict[str, Any] = {"version": 1, "topics": TOPICS, "sources": [source],
                                    "accounts": {"weibo": {"handle": self.weibo.screen_name, "id": self.weibo.uid}}}
        if inbox:
            document["inbox"] = inbox
        put_watch_config(self.stack, json.dumps(document))

    def poll(self) -> dict[str, Any]:
        event = {"source": "weibo", "scheduled_time": self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")}
        [report] = invoke("poller", event)["reports"]
        return report


@pytest.fixture
def weibo(stack: Stack, sim_clock: Any) -> Iterator[WeiboWorld]:
    with poller_with(stack, WeiboEmulator(sim_clock, access_token=TOKEN, timeout_delay=1.5)) as emulator:
        world = WeiboWorld(stack, sim_clock, emulator)
        world.configure()
        yield world


def test_a_weibo_post_addressing_the_bank_opens_one_conversation_and_a_second_poll_none(weibo: WeiboWorld) -> None:
    posted = weibo.clock() - timedelta(minutes=5)
    mention = weibo.weibo.add_post(text="@ExampleBank 港湾银行转账一直失败，你们什么时候修好？", author="li_wei",
                                   created_at=posted, followers=1200, to_bank=True)
    weibo.weibo.add_post(text="港湾银行的新logo还挺好看", author="passer_by", created_at=posted, to_bank=False)
    report = weibo.poll()
    assert report["status"] == "ok" and report["stored"] >= 1, report
    repo = _repo(weibo.stack)
    conversation = repo.get(f"weibo#{mention}")
    assert conversation is not None, "the mention opened a conversation"
    assert (conversation["state"], conversation["kind"], conversation["topic"], conversation["to_bank"]) == (
        "NEW", "question", "harbor", True)
    assert conversation["id"] == f"weibo:{mention}" and conversation["author"] == "li_wei"
    assert conversation["created_at"] == iso_z(posted) and conversation["due_at"] == iso_z(posted + timedelta(minutes=120))
    queue, _ = repo.list_queue("harbor", "NEW")
    assert [c["post_key"] for c in queue] == [f"weibo#{mention}"], "a post that qualifies for nothing opens nothing"

    weibo.clock.advance(timedelta(minutes=1))
    weibo.weibo.add_post(text="@ExampleBank 港湾银行转账一直失败，你们什么时候修好？", author="li_wei",
                         created_at=posted, followers=1200, to_bank=True)  # the same text again: a new post
    assert weibo.poll()["status"] == "ok"
    weibo.clock.advance(timedelta(minutes=1))
    assert weibo.poll()["status"] == "ok"
    queue, _ = repo.list_queue("harbor", "NEW")
    assert len(queue) == 2 and len({c["post_key"] for c in queue}) == 2, "one conversation per post, never two"
    # Opening the same post again, however it comes, changes nothing.
    assert repo.open_conversation({**conversation, "kind": "complaint"}) is False
    assert repo.get(f"weibo#{mention}")["kind"] == "question"


def test_on_x_a_rumour_opens_a_conversation_where_it_spreads_and_praise_to_nobody_does_not(listening: Any) -> None:
    posted = listening.clock() - timedelta(minutes=3)
    rumour = listening.x.add_post(text="Is Harbor Bank going bankrupt? Everyone get your money out now",
                                  author="worried_saver", created_at=posted, followers=25_000, reposts=40)
    listening.x.add_post(text="Great service at Harbor Bank today, thanks!", author="happy", created_at=posted)
    [report] = [r for r in listening.poll("x") if r["source"] == "x:x-main"]
    assert report["stored"] == 2, report
    repo = _repo(listening.stack)
    [conversation] = repo.list_queue("harbor", "NEW")[0]
    assert conversation["post_key"] == f"x#{rumour}" and conversation["kind"] == "rumour"
    assert conversation["to_bank"] is False and conversation["due_at"] == iso_z(posted + timedelta(minutes=30))
    assert conversation["priority"] > 500 and conversation["followers"] == 25_000
    listening.tick()
    listening.poll("x")
    assert len(repo.list_queue("harbor", "NEW")[0]) == 1


def test_a_post_stored_while_the_topic_is_at_warning_is_due_at_the_shorter_target(weibo: WeiboWorld) -> None:
    weibo.configure(targets={"complaint": 60}, escalated_minutes=10)
    _set_level(weibo.stack, "harbor", "WARNING")
    posted = weibo.clock() - timedelta(minutes=2)
    mention = weibo.weibo.add_post(text="@ExampleBank 港湾银行柜员态度太差了，排队两小时", author="wang",
                                   created_at=posted, to_bank=True)
    weibo.poll()
    conversation = _repo(weibo.stack).get(f"weibo#{mention}")
    assert conversation["kind"] == "complaint" and conversation["level_at_open"] == "WARNING"
    assert conversation["due_at"] == iso_z(posted + timedelta(minutes=10)) and conversation["target_minutes"] == 10


# --- the desk's queue and moves, through the real API handler ---------------------------------------------

def _seed(repo: InboxRepository, clock: Any, specs: list[tuple[str, str, int, int]],
          settings: InboxSettings | None = None) -> list[dict[str, Any]]:
    """Conversations (platform, native id, priority, minutes ago) as the Poller opens them."""
    out = []
    for platform, native_id, priority, minutes_ago in specs:
        post = Post(platform=platform, native_id=native_id, source_type="social", source_id="s",  # type: ignore[arg-type]
                    url=f"https://{platform}.example/{native_id}", author=f"author-{native_id[-4:]}", followers=10,
                    text="@HarborBank 港湾银行转账失败", published_at=clock() - timedelta(minutes=minutes_ago), to_bank=True)
        scored = ScoredPost(post=post, topics=("harbor",), language="zh-Hans", sentiment=-0.6, sentiment_label="negative",
                            crisis_terms=(), crisis_categories=(), crisis_weight=0.0, is_crisis=False, risk=40,
                            ingested_at=clock())
        item = conversation_for(scored, Triage(kind="complaint", opens=True, priority=priority), level=None, now=clock(),
                                settings=settings or InboxSettings())
        assert repo.open_conversation(item)
        out.append(item)
    return out


@dataclass
class InboxApi:
    stack: Stack
    clock: Any
    ops: _Operations

    ROLES = {"author": ["comms-author"], "approver": ["comms-approver"], "auditor": ["auditor"], "oncall": ["oncall"],
             "nobody": []}

    def call(self, method: str, path: str, body: Any = None, *, as_: str = "author:li", raw: str | None = None,
             query: str = "") -> tuple[int, Any]:
        from crisiscomms_local.apigw import rest_event

        role, user = as_.split(":")
        event = rest_event(method, path, body=raw if raw is not None else body, user=user, groups=self.ROLES[role],
                           query=query)
        result = invoke("api", event)
        return result["statusCode"], json.loads(result["body"]) if result.get("body") else None


@pytest.fixture
def api(stack: Stack, sim_clock: Any) -> Iterator[InboxApi]:
    from crisiscomms.wiring import container

    saved = dict(os.environ)
    os.environ.update(stack.function_environment("DeskApiFunction", QUIET))
    reset_process_caches()
    put_watch_config(stack, json.dumps({"version": 1, "topics": TOPICS}))
    yield InboxApi(stack, sim_clock, _Operations(container().clients("dynamodb")))
    os.environ.clear()
    os.environ.update(saved)
    reset_process_caches()


def _listing(api: InboxApi, query: str, as_: str = "auditor:zhou") -> list[dict[str, Any]]:
    """Every page of a listing, following `next`."""
    out: list[dict[str, Any]] = []
    cursor = ""
    while True:
        status, body = api.call("GET", "/inbox", query=query + (f"&cursor={cursor}" if cursor else ""), as_=as_)
        assert status == 200, body
        out += body["conversations"]
        if not body["next"]:
            return out
        cursor = body["next"]


def test_queues_by_priority_and_by_time_page_through_queries_and_never_scan(api: InboxApi) -> None:
    seeded = _seed(_repo(api.stack), api.clock, [("weibo", "5001", 300, 50), ("x", "1900000000000000002", 900, 10),
                                                 ("weibo", "5003", 300, 70), ("douyin", "7001", 10, 5),
                                                 ("bluesky", "at://did:plc:abc/app.bsky.feed.post/3k1", 600, 30)])
    by_priority = _listing(api, "topic=harbor&state=NEW&order=priority&limit=2")
    assert [c["priority"] for c in by_priority] == [900, 600, 300, 300, 10]
    assert [c["post_key"] for c in by_priority[2:4]] == ["weibo#5003", "weibo#5001"], "equal priority: oldest first"
    by_time = _listing(api, "topic=harbor&state=NEW&order=time&limit=3")
    assert [c["created_at"] for c in by_time] == sorted(c["created_at"] for c in seeded)
    assert {"pk", "sk", "queue", "priority_key"}.isdisjoint(by_time[0])
    for role in ("author:li", "approver:wang", "oncall:chen"):
        assert len(_listing(api, "topic=harbor", as_=role)) == 5
    assert _listing(api, "topic=harbor&state=CLOSED") == []
    assert _listing(api, "topic=northgate") == []
    assert api.ops.seen["Query"] >= 3 + 2 + 3 + 2 and api.ops.seen["Scan"] == 0
    bluesky = next(c for c in seeded if c["platform"] == "bluesky")
    status, body = api.call("GET", f"/inbox/{conversation_id(bluesky['post_key'])}", as_="oncall:chen")
    assert status == 200 and body["post_key"] == bluesky["post_key"] and body["id"].startswith("bluesky:~")


def test_assign_close_and_ignore_are_conditional_audited_and_for_authors_only(api: InboxApi) -> None:
    first, second, third = _seed(_repo(api.stack), api.clock, [("weibo", "6001", 500, 20), ("weibo", "6002", 400, 10),
                                                               ("x", "1900000000000000009", 300, 5)])
    path = f"/inbox/{first['id']}"

    status, body = api.call("POST", f"{path}/assign", {"to": "li", "version": 1})
    assert status == 200 and (body["state"], body["assignee"], body["version"]) == ("ASSIGNED", "li", 2)
    status, body = api.call("POST", f"{path}/assign", {"to": "zhao", "version": 1})
    assert status == 409 and "version" in body["error"], "a stale version is refused"
    status, body = api.call("POST", f"{path}/assign", {"to": "李明"})
    assert status == 200 and body["assignee"] == "李明" and body["version"] == 3, "a user name in any script"
    status, body = api.call("POST", f"{path}/close", {"reason": "answered by phone, case 8812"})
    assert status == 200 and body["state"] == "CLOSED" and body["reason"] == "answered by phone, case 8812"
    status, body = api.call("POST", f"{path}/ignore", {"reason": "again"})
    assert status == 409 and "CLOSED" in body["error"], "a closed conversation stays closed"
    status, body = api.call("POST", f"/inbox/{second['id']}/ignore", {"reason": "spam account"})
    assert status == 200 and body["state"] == "IGNORED"

    assert [c["post_key"] for c in _listing(api, "topic=harbor&state=NEW")] == [third["post_key"]]
    assert [c["post_key"] for c in _listing(api, "topic=harbor&state=CLOSED")] == [first["post_key"]]
    assert [c["post_key"] for c in _listing(api, "topic=harbor&state=IGNORED")] == [second["post_key"]]
    assert _audit_actions(api.stack, f"conversation#{first['post_key']}") == ["inbox.assigned", "inbox.assigned",
                                                                             "inbox.closed"]
    assert _audit_actions(api.stack, f"conversation#{second['post_key']}") == ["inbox.ignored"]
    status, verify = api.call("GET", "/audit/verify", as_="auditor:zhou")
    assert status == 200 and verify["ok"], verify
    assert api.ops.seen["Scan"] == 0


def test_an_answered_conversation_can_be_taken_up_again_or_closed_but_not_ignored(api: InboxApi) -> None:
    """After a template reply ("please DM us") the desk assigns a follow-up and closes the case when done; the
    follow-up is not due again, so the overdue check never reads it."""
    repo = _repo(api.stack)
    answered, other = _seed(repo, api.clock, [("weibo", "6101", 500, 20), ("weibo", "6102", 400, 10)])
    for conversation, reply_id in ((answered, "rp-1"), (other, "rp-2")):
        assert repo.mark_replied(conversation["post_key"], reply_id, api.clock())

    status, body = api.call("POST", f"/inbox/{other['id']}/ignore", {"reason": "already answered"})
    assert status == 409 and body["error"] == ("the conversation is REPLIED; only a NEW or ASSIGNED one can be"
                                               " ignored"), body
    status, body = api.call("POST", f"/inbox/{answered['id']}/assign", {"to": "zhang", "version": 2})
    assert status == 200 and (body["state"], body["assignee"], body["version"]) == ("ASSIGNED", "zhang", 3), body
    stored = repo.get(answered["post_key"])
    assert "due_queue" not in stored and stored["replied_at"] and stored["reply_ids"] == ["rp-1"]
    assert repo.mark_replied(answered["post_key"], "rp-3", api.clock()), "the follow-up is answered in turn"
    status, body = api.call("POST", f"/inbox/{answered['id']}/close", {"reason": "called back, case 9901"})
    assert status == 200 and body["state"] == "CLOSED" and repo.get(answered["post_key"])["reply_ids"] == ["rp-1", "rp-3"]
    status, body = api.call("POST", f"/inbox/{other['id']}/close", {"reason": "answered"})
    assert status == 200 and body["state"] == "CLOSED"
    assert _audit_actions(api.stack, f"conversation#{answered['post_key']}") == ["inbox.assigned", "inbox.closed"]
    status, body = api.call("POST", f"/inbox/{answered['id']}/assign", {"to": "li"})
    assert status == 409 and "CLOSED" in body["error"], "a closed conversation stays closed"


@pytest.mark.parametrize(("method", "suffix", "who"), [
    ("POST", "/assign", "approver:wang"), ("POST", "/close", "auditor:zhou"), ("POST", "/ignore", "oncall:chen"),
    ("POST", "/assign", "nobody:eve"), ("GET", "", "nobody:eve"),
])
def test_the_wrong_role_is_refused_before_the_body_is_read(api: InboxApi, method: str, suffix: str, who: str) -> None:
    [conversation] = _seed(_repo(api.stack), api.clock, [("weibo", "7001", 100, 5)])
    status, body = api.call(method, f"/inbox/{conversation['id']}{suffix}", raw="{not json at all", as_=who)
    assert status == 403, body
    assert api.call("GET", "/inbox", query="topic=harbor", as_="nobody:eve")[0] == 403
    assert _repo(api.stack).get(conversation["post_key"])["state"] == "NEW"


def test_bad_input_is_refused_naming_the_field_and_changes_nothing(api: InboxApi) -> None:
    [conversation] = _seed(_repo(api.stack), api.clock, [("weibo", "8001", 100, 5)])
    path = f"/inbox/{conversation['id']}"

    def fields(answer: dict[str, Any]) -> set[str]:
        return {d["field"] for d in answer.get("details", [])}

    status, body = api.call("POST", f"{path}/close", {})
    assert status == 422 and "reason" in fields(body), "closing needs a reason"
    for reason in ("", "   ", "\u200b", "line\x07bell"):
        status, body = api.call("POST", f"{path}/ignore", {"reason": reason})
        assert status == 422 and "reason" in fields(body), (reason, body)
    status, body = api.call("POST", f"{path}/assign", {"to": "li", "priority": 999})
    assert status == 422 and "priority" in fields(body)
    for bad in ("li li", "li\tli", "", "x" * 129, "li\u0085"):
        status, body = api.call("POST", f"{path}/assign", {"to": bad})
        assert status == 422 and "to" in fields(body), bad
    status, body = api.call("POST", f"{path}/assign", {"to": "li", "version": "1"})
    assert status == 422 and "version" in fields(body), "strict: no string for a number"
    status, body = api.call("GET", "/inbox", query="topic=harbor&cursor=not-a-cursor")
    assert status == 400 and fields(body) == {"cursor"}
    status, body = api.call("GET", "/inbox", query="topic=harbor&state=OPEN")
    assert status == 422 and any(f.endswith("state") for f in fields(body))
    status, body = api.call("GET", "/inbox", query="state=NEW")
    assert status == 422 and any(f.endswith("topic") for f in fields(body))
    _seed(_repo(api.stack), api.clock, [("weibo", "8002", 100, 6)])
    status, page = api.call("GET", "/inbox", query="topic=harbor&order=time&limit=1")
    assert status == 200 and page["next"]
    status, body = api.call("GET", "/inbox", query="topic=harbor&order=priority&cursor=" + page["next"])
    assert status == 400 and fields(body) == {"cursor"}, "a cursor issued for the other order is refused"
    assert api.call("GET", "/inbox/weibo:9999")[0] == 404
    assert api.call("GET", "/inbox/weibo%239999")[0] == 422
    assert api.call("POST", "/inbox/weibo:9999/close", {"reason": "gone"})[0] == 404
    assert _repo(api.stack).get(conversation["post_key"])["state"] == "NEW"


# --- overdue notices, through the real Detector handler ------------------------------------------------------

@dataclass
class DetectorWorld:
    stack: Stack
    clock: Any
    desk_queue: str
    oncall_queue: str

    def run(self) -> Any:
        return invoke("detector", {"job": "detect", "scheduled_time": self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")})

    def received(self, queue: str) -> list[dict[str, Any]]:
        sqs, out = client("sqs"), []
        while True:
            batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not batch:
                return out
            out += [json.loads(m["Body"]) for m in batch]
            sqs.delete_message_batch(QueueUrl=queue, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                              for i, m in enumerate(batch)])


def _subscribed_queue(stack: Stack, topic: str) -> str:
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=f"{stack.prefix}-{topic}-reader")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client("sns").subscribe(TopicArn=stack.refs[topic], Protocol="sqs", Endpoint=arn)
    return url


@pytest.fixture
def detector(stack: Stack, sim_clock: Any) -> Iterator[DetectorWorld]:
    saved = dict(os.environ)
    os.environ.update(stack.function_environment("DetectorFunction", QUIET))
    reset_process_caches()
    put_watch_config(stack, json.dumps({"version": 1, "topics": TOPICS}))
    yield DetectorWorld(stack, sim_clock, _subscribed_queue(stack, "DeskTopic"), _subscribed_queue(stack, "OnCallTopic"))
    os.environ.clear()
    os.environ.update(saved)
    reset_process_caches()


def test_a_conversation_past_its_target_notifies_the_desk_once_and_never_on_call(detector: DetectorWorld) -> None:
    repo = _repo(detector.stack)
    late, fresh, handled = _seed(repo, detector.clock, [("weibo", "9001", 700, 75), ("weibo", "9002", 600, 20),
                                                         ("weibo", "9003", 500, 90)])
    repo.close(handled, reason="answered", by="li", version=1, at=detector.clock())

    detector.run()
    [message] = detector.received(detector.desk_queue)
    assert message["Subject"] == "Inbox harbor: 1 conversation past the reply target"
    text = message["Message"]
    assert "[complaint] weibo" in text and "author-9001" in text and "15 min late" in text
    assert late["url"] in text and "/inbox/weibo:9001" in text and "9002" not in text and "9003" not in text
    assert repo.get(late["post_key"])["overdue_notified_at"] == iso_z(detector.clock())

    for _ in range(3):  # later runs, and a run overlapping with it, send nothing again
        detector.clock.advance(timedelta(seconds=20))
        detector.run()
    assert detector.received(detector.desk_queue) == []
    assert detector.received(detector.oncall_queue) == [], "the inbox never texts on-call"
    assert _audit_actions(detector.stack, f"conversation#{late['post_key']}") == ["inbox.overdue_claimed"]
    assert "overdue_notified_at" not in repo.get(fresh["post_key"])


def test_when_the_topic_rises_to_warning_open_conversations_are_overdue_at_the_shorter_target(
        detector: DetectorWorld) -> None:
    repo = _repo(detector.stack)
    waiting, recent = _seed(repo, detector.clock, [("weibo", "9101", 400, 20), ("weibo", "9102", 300, 10)])
    repo.assign(waiting, to="li", by="wang", version=1, at=detector.clock())
    detector.run()
    assert detector.received(detector.desk_queue) == [], "NORMAL: a complaint is due after 60 minutes"

    _set_level(detector.stack, "harbor", "WARNING")
    detector.run()
    [message] = detector.received(detector.desk_queue)
    assert "at WARNING" in message["Message"] and "5 min late" in message["Message"]
    assert "assigned to li" in message["Message"] and "9102" not in message["Message"]
    detector.clock.advance(timedelta(minutes=5))
    detector.run()
    [message] = detector.received(detector.desk_queue)
    assert "/inbox/weibo:9102" in message["Message"] and "9101" not in message["Message"]
    oncall = detector.received(detector.oncall_queue)  # the Detector's own alert SMS for the level, nothing of the inbox
    assert all("/inbox/" not in m["Message"] and not m.get("Subject") for m in oncall), oncall


def test_below_warning_the_check_reads_only_what_is_past_its_stored_due_time(detector: DetectorWorld) -> None:
    """30 complaints within their 60 minutes and one past them: below WARNING the check reads that one
    conversation; at WARNING the 15-minute target makes the 26 posted 15 minutes ago or more due, and it
    reads those."""
    from crisiscomms.inbox.overdue import OverdueNotifier

    clients = AwsClients()
    repo = InboxRepository(detector.stack.refs["InboxTable"], clients=clients)
    _seed(repo, detector.clock, [("weibo", f"92{i:02d}", 100, 10 + 1.5 * i) for i in range(30)] + [("weibo", "9299", 100, 75)])
    read: list[int] = []
    clients("dynamodb").meta.events.register(
        "after-call.dynamodb.Query", lambda parsed, **_: read.append(parsed["ScannedCount"]))
    check = OverdueNotifier(repo, settings=InboxSettings(), send=lambda s, t: "m", clock=detector.clock)
    assert [c["post_key"] for c, _ in check.due("harbor", None, limit=50)] == ["weibo#9299"]
    assert sum(read) == 1, read
    read.clear()
    assert len(check.due("harbor", "WARNING", limit=50)) == 1 + 26
    assert sum(read) == 1 + 26, read


def test_two_overlapping_runs_claim_each_conversation_once(detector: DetectorWorld) -> None:
    from crisiscomms.inbox.overdue import OverdueNotifier

    repo = _repo(detector.stack)
    _seed(repo, detector.clock, [("weibo", f"93{i:02d}", 100 + i, 61 + i) for i in range(6)])
    sent: list[str] = []
    runs = [OverdueNotifier(repo, settings=InboxSettings(), send=lambda s, t: sent.append(t) or "m", clock=detector.clock)
            for _ in range(2)]
    due = runs[0].due("harbor", None, limit=50)
    assert len(due) == 6
    claimed = [repo.mark_overdue_notified(c["post_key"], detector.clock()) for c, _ in due]  # the first run claims
    assert all(claimed)
    assert runs[1].topic("harbor", None, budget=50) == 0 and sent == [], "the second run finds nothing to send"


def test_a_run_claims_its_overdue_conversations_together_and_leaves_out_one_claimed_elsewhere(
        detector: DetectorWorld) -> None:
    from crisiscomms.inbox.overdue import OverdueNotifier

    repo = _repo(detector.stack)
    seeded = _seed(repo, detector.clock, [("weibo", f"96{i:02d}", 100 + i, 61 + i) for i in range(60)])
    elsewhere = seeded[7]
    assert repo.mark_overdue_notified(elsewhere["post_key"], detector.clock())  # between this run's read and its claim
    notifier = OverdueNotifier(repo, settings=InboxSettings(), send=lambda s, t: "m", clock=detector.clock)
    due = notifier.due("harbor", None, limit=50)
    due.insert(0, (elsewhere, detector.clock()))
    operations = _Operations(repo._audit.clients("dynamodb"))  # the log writes the transactions
    written = repo.claim_overdue_notices([(c["post_key"], AuditEntry(
        actor="detector", role="system", action="inbox.overdue_claimed", target=f"conversation#{c['post_key']}",
        at=detector.clock())) for c, _ in due], detector.clock())
    assert written == [False] + [True] * 50
    assert operations.seen["TransactWriteItems"] == 3, "49 claims a transaction, and one tried again without the refused"
    # the chain's head read before the first transaction and again after the refusal; then the head it wrote is used
    assert operations.seen["UpdateItem"] == 0 and operations.seen["GetItem"] == 2
    assert _audit_actions(detector.stack, f"conversation#{elsewhere['post_key']}") == []
    for conversation, _ in due[1:]:
        assert repo.get(conversation["post_key"])["overdue_notified_at"] == iso_z(detector.clock())
        assert _audit_actions(detector.stack, f"conversation#{conversation['post_key']}") == ["inbox.overdue_claimed"]


def test_a_failed_desk_notice_gives_the_claims_back_and_the_next_run_sends_it(detector: DetectorWorld) -> None:
    from crisiscomms.inbox.overdue import OverdueNotifier

    repo = _repo(detector.stack)
    [late] = _seed(repo, detector.clock, [("weibo", "9401", 100, 90)])

    def down(subject: str, text: str) -> str:
        raise ConnectionError("SNS unavailable")

    assert OverdueNotifier(repo, settings=InboxSettings(), send=down, clock=detector.clock).run({"harbor": None})[
        "notified"] == 0
    assert "overdue_notified_at" not in repo.get(late["post_key"])
    detector.run()
    assert len(detector.received(detector.desk_queue)) == 1
    assert _audit_actions(detector.stack, f"conversation#{late['post_key']}") == [
        "inbox.overdue_claimed", "inbox.overdue_notice_failed", "inbox.overdue_claimed"]


def test_a_pages_conversations_open_together_each_with_its_posts_follow_up_or_not_at_all(
        stack: Stack, sim_clock: Any) -> None:
    from crisiscomms.aws.post_store import FOLLOW_UP, INBOX_DUE, PostRepository, PostTables
    from crisiscomms.inbox.growth import follow_up_of

    posts = PostRepository(PostTables(stack.refs["PostsTable"], stack.refs["TopicPostsTable"], stack.refs["AggregatesTable"]),
                           clients=AwsClients(), retention_days=1)
    repo = InboxRepository(stack.refs["InboxTable"], clients=AwsClients(), sleep=lambda _: None)
    items = _seed(_repo(stack), sim_clock, [("wechat", "7000", 100, 5)])  # opened already (a stopped run's)
    items += [conversation_for(ScoredPost(post=Post(
        platform="wechat", native_id=f"70{n:02d}", source_type="social", source_id="s", url=f"https://wechat.example/{n}",
        author=f"author-{n}", followers=10, text="港湾银行转账失败", published_at=sim_clock(), to_bank=True),
        topics=("harbor",), language="zh-Hans", sentiment=-0.6, sentiment_label="negative", crisis_terms=(),
        crisis_categories=(), crisis_weight=0.0, is_crisis=False, risk=40, ingested_at=sim_clock()),
        Triage(kind="complaint", opens=True, priority=300), level=None, now=sim_clock(), settings=InboxSettings())
        for n in range(1, 61)]
    for item in items[:-1]:  # stored posts owing their step; the last post is gone (expired)
        client("dynamodb").put_item(TableName=stack.refs["PostsTable"],
                                    Item=to_item({"post_key": item["post_key"], INBOX_DUE: "2026-11-28T09:00:00Z"}))
    operations = _Operations(repo._clients("dynamodb"))
    opened = repo.open_conversations([(item, posts.follow_up_update(item["post_key"], follow_up_of(item)))
                                      for item in items])
    assert opened == [False] + [True] * 60
    assert operations.seen == {"TransactWriteItems": 4}, (
        "50 pairs a transaction: tried again without the open one and then without the gone post's follow-up; then 11")
    for item in items[1:]:
        assert repo.get(item["post_key"])["state"] == "NEW"
    for item in items[1:-1]:
        stored = posts.known([item["post_key"]])[item["post_key"]]
        assert INBOX_DUE not in stored and stored[FOLLOW_UP] == follow_up_of(item)
    assert posts.known([items[0]["post_key"]])[items[0]["post_key"]] == {INBOX_DUE: "2026-11-28T09:00:00Z"}, \
        "the opening left out leaves its post as it was: the step stays owed"
    assert posts.known([items[-1]["post_key"]]) == {}


def test_the_publisher_marks_an_open_conversation_replied_once(stack: Stack, sim_clock: Any) -> None:
    repo = _repo(stack)
    open_one, closed = _seed(repo, sim_clock, [("weibo", "9501", 100, 5), ("weibo", "9502", 100, 5)])
    repo.close(closed, reason="duplicate", by="li", version=1, at=sim_clock())
    entry = AuditEntry(actor="publisher", role="system", action="inbox.replied", at=sim_clock(),
                       target=f"conversation#{open_one['post_key']}", after={"reply_id": "rp-1"})
    assert repo.mark_replied(open_one["post_key"], "rp-1", sim_clock(), entry=entry)
    assert _audit_actions(stack, f"conversation#{open_one['post_key']}") == ["inbox.replied"]
    replied = repo.get(open_one["post_key"])
    assert (replied["state"], replied["reply_ids"], replied["version"]) == ("REPLIED", ["rp-1"], 2)
    assert repo.list_queue("harbor", "REPLIED")[0][0]["post_key"] == open_one["post_key"]
    assert not repo.mark_replied(open_one["post_key"], "rp-2", sim_clock()), "only an open conversation moves"
    assert not repo.mark_replied(closed["post_key"], "rp-3", sim_clock())
    assert not repo.mark_replied("weibo#nothing", "rp-4", sim_clock())
    assert repo.get(open_one["post_key"])["reply_ids"] == ["rp-1"]


def test_conversations_already_notified_or_closed_are_not_read_by_the_overdue_check(stack: Stack, sim_clock: Any) -> None:
    """The overdue check reads the sparse by_due index: a notice, a close or a reply takes a
    conversation out of it, a failed notice puts it back, and an assignment before any notice keeps it."""
    clients = AwsClients()
    audit = AuditLog(stack.refs["AuditTable"], stack.refs["StateTable"], clients=clients)
    repo = InboxRepository(stack.refs["InboxTable"], clients=clients, audit=audit)
    seeded = _seed(repo, sim_clock, [("weibo", f"97{i:02d}", 100, 90 - i) for i in range(6)])
    keys = [c["post_key"] for c in seeded]
    before = iso_z(sim_clock() - timedelta(minutes=15))
    at = sim_clock()

    def entry(key: str) -> AuditEntry:
        return AuditEntry(actor="detector", role="system", action="inbox.overdue_claimed", target=f"conversation#{key}", at=at)

    assert repo.mark_overdue_notified(keys[0], at, entry=entry(keys[0]))
    assert repo.mark_overdue_notified(keys[1], at, entry=entry(keys[1]))
    assert repo.release_overdue_notified(keys[1], at, entry=entry(keys[1]))
    repo.close(repo.get(keys[2]), reason="answered by phone", by="li", version=1, at=at)
    repo.assign(repo.get(keys[3]), to="li", by="wang", version=1, at=at)
    assert repo.mark_overdue_notified(keys[4], at, entry=entry(keys[4]))
    repo.assign(repo.get(keys[4]), to="li", by="wang", version=1, at=at)  # notified, then assigned: stays notified
    assert repo.mark_replied(keys[5], "rp-1", at)

    read: list[int] = []
    clients("dynamodb").meta.events.register("after-call.dynamodb.Query", lambda parsed, **_: read.append(parsed["Count"]))
    assert [c["post_key"] for c in repo.past_due("harbor", "NEW", iso_z(at))] == [keys[1]]
    assert [c["post_key"] for c in repo.past_due("harbor", "ASSIGNED", iso_z(at))] == [keys[3]]
    assert [c["post_key"] for c in repo.posted_before("harbor", "NEW", before)] == [keys[1]]
    assert read == [1, 1, 1], "only what may still be due is read, nothing already handled"
    assert {"pk", "sk", "queue", "priority_key", "due_queue"}.isdisjoint(public(repo.get(keys[3])))


def test_the_overdue_queries_read_only_due_conversations_however_many_wait_within_their_target(
        stack: Stack, sim_clock: Any) -> None:
    """Complaints have 60 minutes: of 40 open ones posted 1 to 61 minutes ago, one is past its stored
    due time, and that one is all the check reads below WARNING. At WARNING and above the 15-minute
    target makes those posted 15 minutes ago or more due, and those are all it reads."""
    clients = AwsClients()
    repo = InboxRepository(stack.refs["InboxTable"], clients=clients)
    ages = [1, 5, 14, 61, *range(16, 52)]
    _seed(repo, sim_clock, [("weibo", f"96{i:02d}", 100, minutes) for i, minutes in enumerate(ages)])
    _seed(repo, sim_clock, [("weibo", "9700", 100, 12)], settings=InboxSettings(targets={"complaint": 10}))
    ops = _Operations(clients("dynamodb"))
    read: list[int] = []
    clients("dynamodb").meta.events.register("after-call.dynamodb.Query", lambda parsed, **_: read.append(parsed["ScannedCount"]))
    now = iso_z(sim_clock())
    assert [c["post_key"] for c in repo.past_due("harbor", "NEW", now)] == ["weibo#9700", "weibo#9603"], \
        "most overdue first: a 10-minute target 12 minutes ago, a 60-minute one 61 minutes ago"
    assert read == [2], "the 39 conversations still within their target are not read"
    read.clear()
    before = iso_z(sim_clock() - timedelta(minutes=15))
    assert [c["post_key"] for c in repo.posted_before("harbor", "NEW", before)] == [
        "weibo#9603", *[f"weibo#96{i:02d}" for i in range(39, 3, -1)]], "oldest first"
    assert read == [37], "none posted less than 15 minutes ago is read"
    assert len(repo.posted_before("harbor", "NEW", before, limit=5)) == 5
    assert set(ops.seen) == {"Query"}

"""A conversation's priority follows its post's engagement, through the real Poller handler: Douyin reads
every comment in two passes, so a complaint under the bank's video is read again with the likes and
replies it gained since. Counted per poll: the one key lookup it made anyway, and at most one conditional
update of the conversation (and of the post's follow-up) when the growth is material."""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import from_item, to_item
from crisiscomms.aws.inbox_store import InboxRepository
from crisiscomms.inbox.triage import priority
from crisiscomms.models.inbox import priority_key
from crisiscomms_local.aws import Stack, client, put_watch_config
from crisiscomms_local.emulators.douyin_listen import DouyinEmulator
from crisiscomms_local.lambda_runtime import invoke

from .conftest import poller_with

pytestmark = pytest.mark.integration
TOPICS = [{"id": "harbor", "names": ["Harbor Bank", "港湾银行"]}]


class TableRequests:
    """(operation, table) of every DynamoDB request the process's clients make; a Scan fails at once."""

    def __init__(self, dynamodb: Any) -> None:
        self.seen: Counter[tuple[str, str]] = Counter()
        dynamodb.meta.events.register("provide-client-params.dynamodb", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        assert model.name != "Scan", "nothing here scans"
        tables = [params["TableName"]] if "TableName" in params else list(params.get("RequestItems") or {})
        for table in tables:
            self.seen[(model.name, table)] += 1


@dataclass
class World:
    stack: Stack
    clock: Any
    douyin: DouyinEmulator

    def poll(self) -> dict[str, Any]:
        event = {"source": "douyin", "scheduled_time": self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")}
        [report] = invoke("poller", event)["reports"]
        return report

    def comment(self, text: str, *, digg: int, replies: int = 0) -> Any:
        cid = self.douyin.add_comment(self.douyin.watched_video, content=text, user_id=f"u-{digg}-{len(text)}",
                                      digg_count=digg, reply_total=replies, created_at=self.clock() - timedelta(minutes=3))
        return next(c for c in self.douyin.videos[self.douyin.watched_video].comments if c.comment_id == cid)

    def conversation(self, comment: Any) -> dict[str, Any]:
        found = InboxRepository(self.stack.refs["InboxTable"], clients=AwsClients()).get(f"douyin#{comment.comment_id}")
        assert found is not None
        return found

    def post_item(self, comment: Any) -> dict[str, Any]:
        item = client("dynamodb").get_item(TableName=self.stack.refs["PostsTable"],
                                           Key=to_item({"post_key": f"douyin#{comment.comment_id}"}))["Item"]
        return from_item(item)

    def table(self, name: str) -> str:
        return str(self.stack.refs[name])


@pytest.fixture
def world(stack: Stack, sim_clock: Any) -> Iterator[World]:
    with poller_with(stack, DouyinEmulator(sim_clock, timeout_delay=1.5)) as douyin:
        [entry] = douyin.watch_sources(None)
        put_watch_config(stack, json.dumps({"version": 1, "topics": TOPICS,
                                            "sources": [{**entry, "id": "comments", "reread_minutes": 60}],
                                            "accounts": {"douyin": douyin.default_account()}}))
        yield World(stack, sim_clock, douyin)


def test_a_re_read_complaint_whose_engagement_grew_rises_in_the_queue_with_one_update(world: World) -> None:
    from crisiscomms.wiring import container

    loud = world.comment("港湾银行 转账一直失败，太差了", digg=2)
    quiet = world.comment("港湾银行 APP 又闪退了，太差了", digg=30)
    first = world.poll()
    assert (first["stored"], first["followed_up"], first["regrown"]) == (2, 2, 0), first
    before = world.conversation(loud)
    assert world.conversation(quiet)["priority"] > before["priority"], "30 likes outrank 2 at first"
    follow_up = world.post_item(loud)["follow_up"]
    assert (follow_up["engagement"], follow_up["opened_engagement"], follow_up["priority"]) == (2, 2, before["priority"])

    loud.digg_count, loud.reply_total = 400, 20  # the complaint spreads
    quiet.digg_count = 40  # 30 -> 40: under the 1.5 ratio and the 500 step, not worth a write
    world.clock.advance(timedelta(minutes=10))
    requests = TableRequests(container().clients("dynamodb"))
    second = world.poll()
    assert (second["stored"], second["duplicates"], second["regrown"]) == (0, 2, 1), second

    after = world.conversation(loud)
    assert after["engagement"] == 420 and after["state"] == "NEW" and after["version"] == before["version"]
    assert after["opened_at"] == before["opened_at"]
    assert after["engagement_updated_at"] == world.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
    rate = round((420 - 2) / 10, 3)  # gained since the conversation opened, at the first poll, 10 minutes ago
    assert after["growth_per_minute"] == rate
    assert after["priority"] == priority(risk=before["risk"], followers=before["followers"], engagement=420,
                                         kind=before["kind"], growth_per_minute=rate) > before["priority"]
    assert after["priority_key"] == priority_key(after["priority"], after["created_at"])
    queue, _ = InboxRepository(world.table("InboxTable"), clients=AwsClients()).list_queue("harbor", "NEW")
    assert [c["post_key"] for c in queue] == [f"douyin#{loud.comment_id}", f"douyin#{quiet.comment_id}"]
    assert world.conversation(quiet)["engagement"] == 30, "no write for growth that is not material"
    assert world.post_item(loud)["follow_up"]["engagement"] == 420

    posts, inbox = world.table("PostsTable"), world.table("InboxTable")
    assert requests.seen[("UpdateItem", inbox)] == 1, requests.seen
    assert requests.seen[("UpdateItem", posts)] == 1, requests.seen
    assert requests.seen[("BatchGetItem", posts)] == second["pages"], "one key lookup a page, as before"
    assert not [k for k in requests.seen if k[1] in (posts, inbox) and k[0] in ("GetItem", "Query", "PutItem")], \
        requests.seen


def test_a_closed_conversation_is_never_raised_and_its_post_stops_costing_writes(world: World) -> None:
    from crisiscomms.wiring import container

    loud = world.comment("港湾银行 转账一直失败，太差了", digg=2)
    assert world.poll()["followed_up"] == 1
    conversation = world.conversation(loud)
    audit = AuditLog(world.table("AuditTable"), world.table("StateTable"), clients=AwsClients(), sleep=lambda _: None)
    InboxRepository(world.table("InboxTable"), clients=AwsClients(), audit=audit).close(
        conversation, reason="answered by phone", by="li", version=conversation["version"], at=world.clock())

    loud.digg_count = 900
    world.clock.advance(timedelta(minutes=5))
    assert world.poll()["regrown"] == 0
    closed = world.conversation(loud)
    assert (closed["state"], closed["priority"], closed["engagement"]) == ("CLOSED", conversation["priority"], 2)
    assert "follow_up" not in world.post_item(loud), "dropped: later re-reads cost nothing"

    loud.digg_count = 90_000
    world.clock.advance(timedelta(minutes=5))
    requests = TableRequests(container().clients("dynamodb"))
    report = world.poll()
    assert report["duplicates"] == 1 and report["regrown"] == 0
    assert not [k for k in requests.seen if k[0] == "UpdateItem" and k[1] in (world.table("InboxTable"),
                                                                              world.table("PostsTable"))], requests.seen


def test_raising_a_priority_is_conditional_on_an_open_conversation_and_never_lowers_it(stack: Stack) -> None:
    repo = InboxRepository(stack.refs["InboxTable"], clients=AwsClients())
    created = "2026-11-28T09:00:00Z"
    assert repo.open_conversation({"post_key": "weibo#7001", "topic": "harbor", "state": "NEW", "kind": "complaint",
                                   "priority": 600, "priority_key": priority_key(600, created), "engagement": 40,
                                   "created_at": created, "version": 1})

    def raise_(engagement: int, p: int) -> str:
        return repo.raise_priority("weibo#7001", engagement=engagement, priority=p, created_at=created,
                                   fields={"growth_per_minute": 1.5})

    assert raise_(100, 550) == "not_higher", "a lower priority is never written"
    assert raise_(40, 700) == "not_higher", "nor one without more engagement"
    assert (repo.get("weibo#7001")["priority"], repo.get("weibo#7001")["engagement"]) == (600, 40)
    assert raise_(100, 650) == "raised"
    raised = repo.get("weibo#7001")
    assert (raised["priority"], raised["engagement"], raised["growth_per_minute"], raised["version"]) == (650, 100, 1.5, 1)
    assert raised["priority_key"] == priority_key(650, created) and raised["queue"] == "harbor#NEW"
    assert repo.raise_priority("weibo#7999", engagement=9, priority=999, created_at=created, fields={}) == "not_open"
    assert repo.get("weibo#7999") is None, "no conversation is made by raising one"

"""Replies end to end: reply items in the InboxTable, `{"kind": "reply"}` messages on the delivery
queue, the real Publisher handler fed SQS events as Lambda gets them, every platform's emulator."""
from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

import pytest

from crisiscomms_local.desk_world import channels_config
from crisiscomms_local.emulators import Fault
from crisiscomms_local.emulators.channels.x_publish import REPLY_NOT_ALLOWED_DETAIL
from crisiscomms_local.emulators.douyin_listen import DouyinEmulator

from .conftest import DeskClient

pytestmark = pytest.mark.integration


class Inbox:
    """Conversations and replies as the inbox stores them, and the queue it puts reply messages on."""

    def __init__(self, desk: DeskClient) -> None:
        from crisiscomms.aws.audit_log import AuditLog
        from crisiscomms.aws.clients import AwsClients
        from crisiscomms.aws.inbox_store import InboxRepository
        from crisiscomms.aws.reply_store import ReplyRepository

        self.desk = desk
        clients = AwsClients()
        audit = AuditLog(os.environ["AUDIT_TABLE"], os.environ["STATE_TABLE"], clients=clients)
        self.conversations = InboxRepository(os.environ["INBOX_TABLE"], clients=clients, audit=audit)
        self.replies = ReplyRepository(os.environ["INBOX_TABLE"], audit)
        self.serial = 0

    def open(self, platform: str, native_id: str, reply_ref: dict[str, str], author: str = "someone") -> str:
        created = self.desk.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        post_key = f"{platform}#{native_id}"
        assert self.conversations.open_conversation({
            "post_key": post_key, "topic": "harbor", "topics": ["harbor"], "platform": platform, "native_id": native_id,
            "author": author, "text": "…", "reply_ref": reply_ref, "to_bank": True, "kind": "complaint",
            "priority": 500, "state": "NEW", "priority_key": f"499#{created}", "created_at": created,
            "due_at": created, "version": 1})
        return post_key

    def approved_reply(self, post_key: str, text: str, language: str = "zh") -> str:
        import hashlib

        from crisiscomms.models.audit import AuditEntry
        from crisiscomms.models.inbox import ReplyTarget

        conversation = self.conversations.get(post_key)
        assert conversation is not None
        self.serial += 1
        rid = f"rp-{self.serial:016x}"
        now = self.desk.clock().isoformat()
        target = ReplyTarget(platform=conversation["platform"], post_key=post_key, native_id=conversation["native_id"],
                             author=conversation["author"], ref=conversation["reply_ref"])
        self.replies.create_reply({
            "id": rid, "conversation": f"conv#{post_key}", "post_key": post_key, "topic": "harbor",
            "platform": conversation["platform"], "target": target.model_dump(), "language": language, "text": text,
            "text_hash": hashlib.sha256(text.encode("utf-8")).hexdigest(), "author": "li", "state": "APPROVED",
            "attempts": 0, "generation": 0, "created_at": now, "updated_at": now, "version": 1,
        }, AuditEntry(actor="li", role="comms-author", action="reply_from_template", target=f"reply#{rid}",
                      at=self.desk.clock(), after={"state": "APPROVED"}))
        return rid

    def queue(self, *reply_ids: str) -> None:
        from crisiscomms.aws.delivery_queue import BATCH
        from crisiscomms_local.aws import client

        ids = list(reply_ids)
        for start in range(0, len(ids), BATCH):
            client("sqs").send_message_batch(QueueUrl=os.environ["DELIVERY_QUEUE_URL"], Entries=[
                {"Id": str(i), "MessageBody": json.dumps({"kind": "reply", "reply_id": rid, "generation": 0})}
                for i, rid in enumerate(ids[start:start + BATCH])])

    def reply(self, reply_id: str) -> dict[str, Any]:
        reply = self.replies.reply(reply_id)
        assert reply is not None
        return reply

    def conversation(self, post_key: str) -> dict[str, Any]:
        conversation = self.conversations.get(post_key)
        assert conversation is not None
        return conversation


@pytest.fixture
def inbox(desk: DeskClient) -> Any:
    """The desk world plus Douyin (where the bank only listens), its listening secret, and the replies'
    part of the channels configuration."""
    from crisiscomms_local.aws import client, reset_process_caches

    douyin = DouyinEmulator(desk.clock, timeout_delay=1.5)
    douyin.start()
    desk.world.emulators["douyin"] = douyin
    client("secretsmanager").put_secret_value(SecretId=os.environ["DOUYIN_TOKENS_SECRET"],
                                              SecretString=json.dumps(douyin.credentials()))
    configure(desk, {"douyin": {"base_url": douyin.base_url}})
    reset_process_caches()
    yield Inbox(desk)


def configure(desk: DeskClient, replies: dict[str, Any]) -> None:
    from crisiscomms_local.aws import client

    document = {**channels_config(desk.world.emulators), "replies": replies}
    client("ssm").put_parameter(Name=desk.world.stack.refs["ChannelsConfigParameter"], Value=json.dumps(document),
                                Type="String", Overwrite=True)


def _targets(inbox: Inbox) -> dict[str, str]:
    """One conversation per platform, each opened on a post its emulator holds; post keys by platform."""
    em, now = inbox.desk.world.emulators, inbox.desk.clock()
    status = em["weibo"].add_own_post("我行声明 https://newsroom.examplebank.com/s/1", created_at=now - timedelta(hours=1))
    comment = em["weibo"].add_comment(text="转账失败", author="小王", created_at=now - timedelta(minutes=5), post_id=status)
    article = em["wechat"].add_article()
    wechat = em["wechat"].add_comment(article, 0, content="网银何时恢复？", created_at=now - timedelta(minutes=5))
    msg_data_id, index, comment_id = wechat.split("_")
    video_comment = em["douyin"].add_comment(em["douyin"].watched_video, content="网点几点开门？",
                                             created_at=now - timedelta(minutes=5))
    toot = em["mastodon"].add_post(text="@examplebank my card is blocked", author="ann", created_at=now, to_bank=True)
    skeet = em["bluesky"].add_post(text="@examplebank app down?", author="alice", created_at=now - timedelta(minutes=1),
                                   to_bank=True)
    cid = em["bluesky"]._index[skeet].cid
    tweet = em["x"].add_external_post(now - timedelta(minutes=1), text="@examplebank my transfer is stuck")
    return {
        "weibo": inbox.open("weibo", comment, {"id": status, "cid": comment}),
        "wechat": inbox.open("wechat", wechat, {"msg_data_id": msg_data_id, "index": index, "user_comment_id": comment_id}),
        "douyin": inbox.open("douyin", video_comment, {"item_id": em["douyin"].watched_video, "comment_id": video_comment}),
        "mastodon": inbox.open("mastodon", toot, {"server": em["mastodon"].base_url}),
        "bluesky": inbox.open("bluesky", skeet, {"uri": skeet, "cid": cid, "root_uri": skeet, "root_cid": cid}),
        "x": inbox.open("x", tweet, {}),
    }


TEXTS = {"weibo": ("您好，已为您处理。", "zh"), "wechat": ("已全面恢复，感谢耐心等待。", "zh"), "douyin": ("网点9点开门。", "zh"),
         "mastodon": ("@ann Sorry, your card is unblocked.", "en"), "bluesky": ("It is back up, sorry!", "en"),
         "x": ("Sorry, your transfer has gone through.", "en")}


def test_approved_replies_reach_every_platform_once_and_their_conversations_become_replied(inbox: Inbox) -> None:
    world = inbox.desk.world
    targets = _targets(inbox)
    replies = {p: inbox.approved_reply(post_key, *TEXTS[p]) for p, post_key in targets.items()}
    inbox.queue(*replies.values())
    world.pump(duplicate_next=True)  # every message delivered twice, as SQS may
    assert world.redeliveries
    em = world.emulators
    sent = {"x": em["x"].replies, "weibo": em["weibo"].replies, "wechat": em["wechat"].replies,
            "douyin": em["douyin"].replies, "mastodon": em["mastodon"].replies, "bluesky": em["bluesky"].replies}
    assert {p: len(r) for p, r in sent.items()} == dict.fromkeys(sent, 1), "each reply exactly once"
    for platform, reply_id in replies.items():
        reply = inbox.reply(reply_id)
        assert (reply["state"], reply["attempts"]) == ("SENT", 1), (platform, reply)
        assert reply["platform_reply_id"], platform
        conversation = inbox.conversation(targets[platform])
        assert (conversation["state"], conversation["reply_ids"], conversation["queue"]) == (
            "REPLIED", [reply_id], "harbor#REPLIED"), platform
    assert em["weibo"].replies[0].reply_to == int(targets["weibo"].split("#")[1])
    assert em["mastodon"].replies[0].idempotency_key == f"{replies['mastodon']}.0"
    status, verify = inbox.desk.call("GET", "/audit/verify", as_="auditor:zhou")
    assert status == 200 and verify["ok"], verify


def test_x_refuses_an_uninvited_reply_and_it_fails_with_xs_reason(inbox: Inbox) -> None:
    world = inbox.desk.world
    tweet = world.emulators["x"].add_external_post(inbox.desk.clock(), text="Harbor Bank is a mess")  # no mention
    post_key = inbox.open("x", tweet, {})
    reply_id = inbox.approved_reply(post_key, "We are sorry; service is restored.", "en")
    inbox.queue(reply_id)
    world.pump()
    reply = inbox.reply(reply_id)
    assert (reply["state"], reply["error_code"]) == ("FAILED", "reply_not_allowed")
    assert REPLY_NOT_ALLOWED_DETAIL in reply["error"] and "public statement" in reply["error"]
    assert inbox.conversation(post_key)["state"] == "NEW" and world.emulators["x"].replies == []


def test_transient_trouble_retries_and_a_lost_answer_is_found(inbox: Inbox) -> None:
    world, now = inbox.desk.world, inbox.desk.clock()
    targets = _targets(inbox)
    weibo = inbox.approved_reply(targets["weibo"], *TEXTS["weibo"])
    douyin = inbox.approved_reply(targets["douyin"], *TEXTS["douyin"])
    world.emulators["weibo"].add_fault(Fault(start=now, end=now + timedelta(minutes=1), kind="http_status", status=503,
                                             target="reply"))
    world.emulators["douyin"].add_fault(Fault(start=now, end=now + timedelta(minutes=1), kind="timeout_after_send"))
    inbox.queue(weibo, douyin)
    world.pump(rounds=1)
    assert inbox.reply(weibo)["state"] == "RETRYING"
    assert (inbox.reply(douyin)["state"], inbox.reply(douyin)["resolved_by"]) == ("SENT", "lookup")
    inbox.desk.clock.advance(timedelta(minutes=2))
    world.pump()
    assert (inbox.reply(weibo)["state"], inbox.reply(weibo)["attempts"]) == ("SENT", 2)
    assert len(world.emulators["weibo"].replies) == 1 and len(world.emulators["douyin"].replies) == 1


@pytest.fixture
def sqs_on_the_clock(inbox: Inbox) -> Any:
    """Local SQS's delays pass with the simulated clock (as in the drill), not in real seconds."""
    from crisiscomms_local.desk_world import sqs_follows_clock

    undo = sqs_follows_clock(inbox.desk.clock)
    yield
    undo()


def test_one_answer_to_many_people_is_paced_per_platform(inbox: Inbox, sqs_on_the_clock: None) -> None:
    world = inbox.desk.world
    configure(inbox.desk, {"douyin": {"base_url": world.emulators["douyin"].base_url},
                           "weibo": {"per_minute": 60, "burst": 2}})  # two at once, then one a second
    status = world.emulators["weibo"].add_own_post("我行声明 https://newsroom.examplebank.com/s/2",
                                                   created_at=inbox.desk.clock() - timedelta(hours=1))
    replies = []
    for i in range(4):
        comment = world.emulators["weibo"].add_comment(text=f"第{i}位客户的问题", author=f"客户{i}",
                                                       created_at=inbox.desk.clock() - timedelta(minutes=1), post_id=status)
        post_key = inbox.open("weibo", comment, {"id": status, "cid": comment})
        replies.append(inbox.approved_reply(post_key, f"您好，第{i}位客户，已为您处理。"))
    inbox.queue(*replies)
    world.pump()
    states = [inbox.reply(r)["state"] for r in replies]
    assert states.count("SENT") == 2 and states.count("APPROVED") == 2, "the burst went, the rest wait untouched"
    for _ in range(6):  # a deferred message is visible once the clock has passed its delay
        if all(inbox.reply(r)["state"] == "SENT" for r in replies):
            break
        inbox.desk.clock.advance(timedelta(seconds=1))
        world.pump()
    assert [inbox.reply(r)["state"] for r in replies] == ["SENT"] * 4
    assert len(world.emulators["weibo"].replies) == 4
    sent_at = sorted(r.created_at for r in world.emulators["weibo"].replies)
    assert sent_at[2] - sent_at[0] >= timedelta(seconds=1), "after the burst, no faster than the pace"

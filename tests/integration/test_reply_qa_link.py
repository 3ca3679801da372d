"""A reply too long for Weibo, end to end: a Q&A entry naming its situation is published on the newsroom's
Q&A page, a long approved template of that situation answers a comment, and the reply the real API makes
is cut, links to the entry's anchor, fits Weibo's 140 characters link included, and the real Publisher
delivers exactly that text to the Weibo emulator (which refuses anything longer)."""
from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest

from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.inbox_store import InboxRepository
from crisiscomms.inbox.replies import reply_text_hash
from crisiscomms.models.inbox import conversation_id
from crisiscomms.statements import channel_rules as rules
from crisiscomms.statements.qa import qa_url

from .conftest import DeskClient

pytestmark = pytest.mark.integration
NEWSROOM = "https://newsroom.examplebank.com"
QA = {"zh": {"question": "转账失败，我的钱安全吗？", "answer": "安全。延迟的转账已于 10:30 全部到账，手续费将退还。"},
      "en": {"question": "My transfer failed: is my money safe?", "answer": "Yes. Every delayed transfer arrived by 10:30."}}
RULES = {"handle": {"pattern": r"@?[A-Za-z0-9_\u4e00-\u9fff]{1,30}", "max": 31}, "hotline": {"pattern": r"[0-9]{5}", "max": 5}}
LONG_ZH = ("{handle} 您好，关于您反映的转账失败问题，我们深表歉意。经核查，今日上午九点至十点半，因清算系统升级，部分跨行转账出现延迟，"
           "您的资金安全，没有任何损失，延迟的转账已于十点半全部到账。如您仍未收到款项，请致电客服热线 {hotline}，"
           "我们的专员会在二十四小时内为您逐笔核对，并视情况为您办理手续费退还。再次感谢您的理解与耐心。")
VALUES = {"handle": "@小王", "hotline": "95555"}


def _published_entry(desk: DeskClient, situation: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"text": QA}
    if situation:
        body["situation"] = situation
    status, entry = desk.call("POST", "/qa-entries", body, as_="author:li")
    assert status == 201, entry
    desk.approve_and_publish(entry["id"])
    desk.world.pump()
    published = desk.get(entry["id"])
    assert published["state"] == "PUBLISHED", published
    return published


def _approved_template(desk: DeskClient, situation: str) -> str:
    status, template = desk.call("POST", "/templates", {"kind": "reply", "situation": situation, "title": "转账失败致歉",
                                                        "text": {"zh": LONG_ZH}, "placeholders": RULES}, as_="author:li")
    assert status == 201, template
    status, body = desk.call("POST", f"/templates/{template['id']}/approve", {"version": 1}, as_="approver:wang")
    assert status == 200, body
    return str(template["id"])


def _weibo_conversation(desk: DeskClient) -> tuple[str, str]:
    weibo, now = desk.world.emulators["weibo"], desk.clock()
    status = weibo.add_own_post("我行声明 https://newsroom.examplebank.com/s/1", created_at=now - timedelta(hours=1))
    comment = weibo.add_comment(text="转账失败，钱去哪了？", author="小王", created_at=now - timedelta(minutes=5), post_id=status)
    created = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    post_key = f"weibo#{comment}"
    assert InboxRepository(os.environ["INBOX_TABLE"], clients=AwsClients()).open_conversation({
        "post_key": post_key, "topic": "harbor", "topics": ["harbor"], "platform": "weibo", "native_id": str(comment),
        "author": "小王", "text": "转账失败，钱去哪了？", "reply_ref": {"id": status, "cid": comment}, "to_bank": True,
        "kind": "complaint", "language": "zh-Hans", "priority": 500, "state": "NEW", "priority_key": f"499#{created}",
        "created_at": created, "due_at": created, "version": 1})
    return post_key, conversation_id(post_key)


def test_a_long_template_reply_is_cut_linked_to_its_situations_entry_and_delivered_as_approved(desk: DeskClient) -> None:
    entry = _published_entry(desk, "service_failure_apology")
    _published_entry(desk, None)  # an entry naming no situation is never chosen by one
    template = _approved_template(desk, "service_failure_apology")
    post_key, path_id = _weibo_conversation(desk)

    status, reply = desk.call("POST", f"/inbox/{path_id}/replies", {"template": template, "values": VALUES}, as_="author:li")
    assert status == 201, reply
    url = qa_url(NEWSROOM, entry["id"], "zh")
    assert url == entry["qa_urls"]["zh"]
    uncut = LONG_ZH.format(**VALUES)
    assert rules.weibo_length(uncut) > 280 >= rules.weibo_length(reply["text"])
    assert reply["state"] == "APPROVED" and reply["text"].endswith(f" {url}")
    assert uncut.startswith(reply["text"].removesuffix(f" {url}").removesuffix("…"))
    assert reply["qa_link"] == {"entry": entry["id"], "statement_id": entry["id"], "language": "zh", "url": url,
                                "uncut_text_hash": reply_text_hash(uncut)}

    desk.world.pump()
    status, sent = desk.call("GET", f"/replies/{reply['id']}", as_="auditor:zhou")
    assert status == 200 and sent["state"] == "SENT", sent
    [delivered] = desk.world.emulators["weibo"].replies
    assert delivered.text == reply["text"], "exactly the text approved, link included, and Weibo took it"
    log = AuditLog(os.environ["AUDIT_TABLE"], os.environ["STATE_TABLE"], clients=AwsClients())
    [drafted] = [r for r in log.records() if r["target"] == f"reply#{reply['id']}" and r["action"] == "reply_from_template"]
    assert drafted["after"]["qa_entry"] == entry["id"] and drafted["text_hash"] == reply_text_hash(reply["text"])
    status, verify = desk.call("GET", "/audit/verify", as_="auditor:zhou")
    assert status == 200 and verify["ok"], verify


def test_a_named_entry_not_yet_published_is_refused_and_nothing_is_queued(desk: DeskClient) -> None:
    status, draft = desk.call("POST", "/qa-entries", {"text": QA, "situation": "service_failure_apology"}, as_="author:li")
    assert status == 201, draft
    template = _approved_template(desk, "service_failure_apology")
    _, path_id = _weibo_conversation(desk)
    status, answer = desk.call("POST", f"/inbox/{path_id}/replies",
                               {"template": template, "values": VALUES, "qa_entry": draft["id"]}, as_="author:li")
    assert status == 422 and answer["details"][0]["field"] == "qa_entry", answer
    status, answer = desk.call("POST", f"/inbox/{path_id}/replies", {"template": template, "values": VALUES},
                               as_="author:li")
    assert status == 422 and "no published Q&A entry answers service_failure_apology" in answer["error"], answer
    assert desk.world.pump() == 0

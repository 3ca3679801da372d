"""Statements end to end: the API handler, the Publisher and every channel emulator on local AWS."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from crisiscomms.statements.render import render
from crisiscomms_local.aws import client
from crisiscomms_local.emulators import Fault

from .conftest import DeskClient

pytestmark = pytest.mark.integration
ALL = ["newsroom", "x", "weibo", "wechat", "mastodon", "bluesky", "telegram", "webhook"]
TEXT = {
    "zh": {"full": "港湾银行声明：所有账户正常，部分ATM因线路故障取款延迟，现已恢复。", "short": "港湾银行：所有账户正常，ATM取款已恢复。"},
    "en": {"full": "Harbor Bank statement: all accounts are available. A card-network outage delayed some ATM "
                   "withdrawals; it has been fixed.", "short": "All Harbor Bank accounts are available; ATM service is restored."},
}


def _published(desk: DeskClient, channels: list[str] = ALL, text: dict = TEXT) -> dict:
    sid = desk.draft(text, channels)["id"]
    desk.approve_and_publish(sid)
    desk.world.pump()
    return desk.get(sid)


def _retried_until_settled(desk: DeskClient, statement: dict, rounds: int = 3) -> dict:
    """The statement once a slow answer's delivery is done: on a loaded machine a channel's answer can outlast
    the tests' client timeout (0.25 s); the Publisher then looks the post up or retries that delivery alone
    when its message comes back (the queue's visibility timeout), as it would in Lambda."""
    for _ in range(rounds):
        if statement["state"] != "PUBLISHING":
            break
        desk.clock.advance(LOOK_LATER)
        desk.world.pump()
        statement = desk.get(statement["id"])
    return statement


def test_draft_approve_publish_reaches_every_channel_once_with_the_approved_text(desk: DeskClient) -> None:
    statement = _retried_until_settled(desk, _published(desk))
    assert statement["state"] == "PUBLISHED", statement["deliveries"]
    assert {(d["channel"], d["state"]) for d in statement["deliveries"]} == {(c, "SENT") for c in ALL}
    for channel in ALL:
        assert len(desk.world.channel_posts(channel)) == (2 if channel == "newsroom" else 1), channel
    approved = statement["approval"]["hashes"]
    x_text = render(TEXT["en"], "x", language="en", newsroom_url=f"https://newsroom.examplebank.com/statements/{statement['id']}.en.html")
    assert approved["x#en"] == x_text.sha256
    assert desk.world.channel_posts("x")[0].submitted_text == x_text.text
    assert desk.world.channel_posts("mastodon")[0].idempotency_key == next(
        d["delivery_id"] for d in statement["deliveries"] if d["channel"] == "mastodon")
    status, verify = desk.call("GET", "/audit/verify", as_="auditor:zhou")
    assert status == 200 and verify["ok"] and verify["entries"] >= 3 + 9 * 2


HANT = {"full": "港灣銀行聲明：所有帳戶正常，部分自動櫃員機因線路故障提款延遲，現已恢復。",
        "short": "港灣銀行：所有帳戶正常，自動櫃員機提款已恢復。"}


def test_a_statement_in_both_chinese_scripts_reaches_each_channel_in_the_script_it_speaks(desk: DeskClient) -> None:
    """A bank in Hong Kong or Taiwan: Traditional Chinese on its own accounts, Simplified on the Mainland's, English
    beside both, and the newsroom carries every language on a page of its own."""
    desk.speak({"newsroom": ["zh", "zh-Hant", "en"], "weibo": ["zh"], "mastodon": ["zh-Hant", "en"], "telegram": ["zh-Hant"]})
    channels = ["newsroom", "weibo", "mastodon", "telegram"]
    statement = _retried_until_settled(desk, _published(desk, channels, {**TEXT, "zh-Hant": HANT}))
    assert statement["state"] == "PUBLISHED", statement["deliveries"]
    assert sorted((d["channel"], d["language"]) for d in statement["deliveries"]) == [
        ("mastodon", "en"), ("mastodon", "zh-Hant"), ("newsroom", "en"), ("newsroom", "zh"), ("newsroom", "zh-Hant"),
        ("telegram", "zh-Hant"), ("weibo", "zh")]
    page = f"https://newsroom.examplebank.com/statements/{statement['id']}.zh-Hant.html"
    [toot_en, toot_hant] = sorted(desk.world.channel_posts("mastodon"), key=lambda s: s.language != "en")
    assert (toot_hant.text, toot_hant.language) == (f"{HANT['short']}\n{page}", "zh")
    assert toot_en.text.startswith(TEXT["en"]["short"])
    [message] = desk.world.channel_posts("telegram")
    assert message.text == f"{HANT['short']}\n{page}"
    [weibo] = desk.world.channel_posts("weibo")
    assert weibo.text.startswith(TEXT["zh"]["short"])
    html = client("s3").get_object(Bucket=desk.world.stack.refs["NewsroomBucket"],
                                   Key=f"statements/{statement['id']}.zh-Hant.html")["Body"].read().decode()
    assert html.startswith('<!doctype html><html lang="zh-Hant">') and "<title>聲明" in html and HANT["full"] in html


def test_the_author_cannot_approve_their_own_version(desk: DeskClient) -> None:
    sid = desk.draft(TEXT, ["x"], as_="author:li")["id"]
    status, body = desk.call("POST", f"/statements/{sid}/approve", {"version": 1}, as_="approver:li")
    assert status == 403 and "two-person" in body["error"]
    assert desk.get(sid)["state"] == "DRAFT"


@pytest.mark.parametrize(("method", "path", "body", "who"), [
    ("POST", "/statements", {"channels": ["x"], "text": TEXT}, "approver:wang"),
    ("POST", "/statements", {"channels": ["x"], "text": TEXT}, "auditor:zhou"),
    ("GET", "/statements", None, "oncall:chen"),
    ("GET", "/audit/verify", None, "author:li"),
    ("GET", "/statements", None, "nobody:eve"),
])
def test_roles_are_enforced(desk: DeskClient, method: str, path: str, body, who: str) -> None:
    status, answer = desk.call(method, path, body, as_=who)
    assert status == 403, answer


def test_too_long_for_a_channel_is_refused_before_approval_naming_channel_length_and_limit(desk: DeskClient) -> None:
    long_text = {"zh": {"full": TEXT["zh"]["full"], "short": "港湾银行" * 40},
                 "en": {"full": TEXT["en"]["full"], "short": "Harbor Bank statement " * 14}}
    sid = desk.draft(long_text, ["x", "weibo", "newsroom"], as_="author:li")["id"]
    status, body = desk.call("POST", f"/statements/{sid}/approve", {"version": 1}, as_="approver:wang")
    assert status == 422
    problems = {p["channel"]: p for p in body["details"]}
    assert set(problems) == {"x", "weibo"}
    assert problems["x"]["limit"] == 280 and problems["x"]["length"] > 280
    assert "x (en):" in body["error"] and "limit 280" in body["error"]
    statement = desk.get(sid)
    assert statement["state"] == "DRAFT" and "approval" not in statement
    fixed = TEXT
    status, body = desk.call("PUT", f"/statements/{sid}/draft", {"text": fixed}, as_="author:li")
    assert status == 200 and body["current_version"] == 2
    status, body = desk.call("POST", f"/statements/{sid}/approve", {"version": 2}, as_="approver:wang")
    assert status == 200 and body["state"] == "APPROVED"


def test_an_edit_after_approval_needs_approval_again(desk: DeskClient) -> None:
    sid = desk.draft(TEXT, ["x", "newsroom"])["id"]
    assert desk.call("POST", f"/statements/{sid}/approve", {"version": 1}, as_="approver:wang")[0] == 200
    status, body = desk.call("PUT", f"/statements/{sid}/draft", {"text": {"en": TEXT["en"]}}, as_="author:li")
    assert status == 200 and body["state"] == "DRAFT" and body["current_version"] == 2 and "approval" not in body
    assert desk.call("POST", f"/statements/{sid}/publish", as_="approver:wang")[0] == 409
    status, body = desk.call("POST", f"/statements/{sid}/approve", {"version": 1}, as_="approver:wang")
    assert status == 409 and "not the current version" in body["error"]


def test_bad_input_gets_a_clear_4xx_and_stores_nothing(desk: DeskClient) -> None:
    before = desk.call("GET", "/statements", as_="auditor:zhou")[1]["statements"]
    status, body = desk.call("POST", "/statements", raw='{"channels": ["x"], "text": ', as_="author:li")
    assert status == 422 and body["error"] == "invalid request"
    status, body = desk.call("POST", "/statements", {"channels": ["myspace"], "text": TEXT}, as_="author:li")
    assert status == 422 and any(d["field"].startswith("channels") for d in body["details"])
    status, body = desk.call("POST", "/statements", {"channels": ["x"], "text": {}}, as_="author:li")
    assert status == 422 and any("at least one of zh, zh-Hant, en" in d["reason"] for d in body["details"])
    status, body = desk.call("POST", "/statements", {"channels": ["x"], "text": {"zh-TW": TEXT["zh"]}}, as_="author:li")
    assert status == 422 and [d["field"] for d in body["details"]] == ["text.zh-TW"], body
    status, body = desk.call("POST", "/statements", {"channels": ["x"], "text": {"en": {"full": "x" * 70_000, "short": "y"}}},
                             as_="author:li")
    assert status == 413
    assert desk.call("GET", "/statements/st-0000000000000000", as_="auditor:zhou")[0] == 404
    assert desk.call("GET", "/statements/not-an-id", as_="auditor:zhou")[0] == 422
    assert desk.call("GET", "/statements", as_="auditor:zhou")[1]["statements"] == before


def test_wrong_states_are_refused(desk: DeskClient) -> None:
    statement = _published(desk, ["newsroom"])
    sid = statement["id"]
    for path, body in ((f"/statements/{sid}/approve", {"version": 1}), (f"/statements/{sid}/reject", {"reason": "late"})):
        status, answer = desk.call("POST", path, body, as_="approver:wang")
        assert status == 409, answer
    assert desk.call("PUT", f"/statements/{sid}/draft", {"text": TEXT}, as_="author:li")[0] == 409
    assert desk.call("POST", f"/statements/{sid}/deliveries/newsroom/retry", as_="approver:wang")[0] == 409


def test_x_failing_twice_then_succeeding_is_retried_alone(desk: DeskClient) -> None:
    now = desk.clock()
    desk.world.emulators["x"].add_fault(Fault(start=now, end=now + timedelta(minutes=2), kind="http_status", status=503))
    sid = desk.draft(TEXT, ["x", "mastodon", "newsroom"])["id"]
    desk.approve_and_publish(sid)
    desk.world.pump(rounds=1)
    states = {d["channel"]: d["state"] for d in desk.get(sid)["deliveries"]}
    assert states["x"] == "RETRYING" and states["mastodon"] == "SENT"
    desk.clock.advance(timedelta(minutes=1))
    desk.world.pump(rounds=1)
    desk.clock.advance(timedelta(minutes=1))
    desk.world.pump()
    statement = desk.get(sid)
    x = next(d for d in statement["deliveries"] if d["channel"] == "x")
    assert (x["state"], x["attempts"], statement["state"]) == ("SENT", 3, "PUBLISHED")
    assert len(desk.world.channel_posts("x")) == 1 and len(desk.world.channel_posts("mastodon")) == 1


def test_a_lost_answer_is_resolved_by_looking_the_post_up(desk: DeskClient) -> None:
    now = desk.clock()
    desk.world.emulators["mastodon"].add_fault(Fault(start=now, end=now + timedelta(minutes=1), kind="timeout_after_send"))
    statement = _published(desk, ["mastodon"])
    [delivery] = statement["deliveries"]
    assert delivery["state"] == "SENT" and statement["state"] == "PUBLISHED"
    assert len(desk.world.channel_posts("mastodon")) == 1


def test_a_lost_webhook_answer_is_sent_again_under_the_same_webhook_id_and_received_once(desk: DeskClient) -> None:
    """A receiver cannot be asked, but the Standard Webhooks spec has it dedupe on webhook-id: the delivery is
    retried alone, not left for a person, and the partner records the statement once."""
    now = desk.clock()
    desk.world.emulators["webhook"].add_fault(Fault(start=now, end=now + timedelta(minutes=1), kind="timeout_after_send"))
    sid = desk.draft(TEXT, ["webhook", "newsroom"])["id"]
    desk.approve_and_publish(sid)
    desk.world.pump(rounds=1)
    webhook = next(d for d in desk.get(sid)["deliveries"] if d["channel"] == "webhook")
    assert webhook["state"] == "RETRYING" and "same webhook-id" in webhook["error"], webhook
    desk.clock.advance(timedelta(minutes=2))
    desk.world.pump()
    statement = desk.get(sid)
    webhook = next(d for d in statement["deliveries"] if d["channel"] == "webhook")
    assert (webhook["state"], webhook["attempts"], statement["state"]) == ("SENT", 2, "PUBLISHED"), webhook
    assert len(desk.world.channel_posts("webhook")) == 1
    ids = [r.headers["webhook-id"] for r in desk.world.emulators["webhook"].requests_log]
    assert len(ids) == 2 and len(set(ids)) == 1, ids


def test_a_lost_answer_that_cannot_be_looked_up_is_flagged_for_a_person_then_retried(desk: DeskClient) -> None:
    now = desk.clock()
    desk.world.emulators["telegram"].add_fault(Fault(start=now, end=now + timedelta(minutes=1), kind="timeout_after_send"))
    statement = _published(desk, ["telegram", "newsroom"])
    telegram = next(d for d in statement["deliveries"] if d["channel"] == "telegram")
    assert telegram["state"] == "UNKNOWN" and telegram["needs_person"] is True
    assert statement["state"] == "PARTIAL"
    assert len(desk.world.channel_posts("telegram")) == 1, "posted once, and not again blindly"
    desk.clock.advance(timedelta(minutes=5))
    status, body = desk.call("POST", f"/statements/{statement['id']}/deliveries/telegram/retry", as_="approver:wang")
    assert status == 202
    desk.world.pump()
    statement = desk.get(statement["id"])
    assert statement["state"] == "PUBLISHED"


def test_a_retry_the_queue_did_not_take_is_a_503_and_asking_again_hands_it_over(desk: DeskClient, monkeypatch) -> None:
    """The retry is recorded (RETRYING) when SQS does not answer; asking for it again sends that retry, which
    would otherwise be refused as no longer FAILED and wait for a message that never comes."""
    from crisiscomms_local.aws import reset_process_caches

    now = desk.clock()
    desk.world.emulators["telegram"].add_fault(Fault(start=now, end=now + timedelta(minutes=1), kind="http_status", status=400))
    statement = _published(desk, ["telegram"])
    assert statement["deliveries"][0]["state"] == "FAILED", statement
    desk.clock.advance(timedelta(minutes=2))
    retry = f"/statements/{statement['id']}/deliveries/telegram/retry"
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9")  # a closed port: no answer
    reset_process_caches()
    status, body = desk.call("POST", retry, as_="approver:wang")
    assert status == 503, body
    monkeypatch.delenv("AWS_ENDPOINT_URL_SQS")
    reset_process_caches()
    assert desk.get(statement["id"])["deliveries"][0]["state"] == "RETRYING"
    status, body = desk.call("POST", retry, as_="approver:wang")
    assert status == 202, body
    desk.world.pump()
    statement = desk.get(statement["id"])
    assert statement["state"] == "PUBLISHED" and statement["deliveries"][0]["generation"] == 1, statement
    assert len(desk.world.channel_posts("telegram")) == 1
    status, body = desk.call("POST", retry, as_="approver:wang")
    assert status == 409 and "SENT" in body["error"], "a sent delivery is not retried"


def test_a_publish_the_queue_takes_only_in_part_is_a_503_and_publishing_again_sends_the_rest(
        desk: DeskClient, local_aws: Any) -> None:
    """SQS may answer a batch with some entries under `Failed`: those deliveries are recorded PENDING and no
    message would ever come for them, so the desk hears 503 with Retry-After; publishing again sends them,
    and every channel gets the statement once."""
    sid = desk.draft(TEXT, ALL)["id"]
    status, _ = desk.call("POST", f"/statements/{sid}/approve", {"version": 1}, as_="approver:wang")
    assert status == 200
    assert local_aws.refuse_batch_entries(desk.world.stack.refs["DeliveryQueue"], 3)
    status, body = desk.call("POST", f"/statements/{sid}/publish", as_="approver:wang")
    assert status == 503 and "send the same request again" in body["error"], body
    desk.world.pump()
    statement = desk.get(sid)
    pending = [d for d in statement["deliveries"] if d["state"] == "PENDING"]
    assert statement["state"] == "PUBLISHING" and len(pending) == 3, statement["deliveries"]
    status, body = desk.call("POST", f"/statements/{sid}/publish", as_="approver:wang")
    assert status == 202, body
    desk.world.pump()
    statement = desk.get(sid)
    assert statement["state"] == "PUBLISHED", statement["deliveries"]
    for channel in ALL:
        assert len(desk.world.channel_posts(channel)) == (2 if channel == "newsroom" else 1), channel


SUBMITS = "/cgi-bin/freepublish/submit"
LOOK_LATER = timedelta(minutes=3)  # the delivery queue's visibility timeout: when the message comes back


def _audit(desk: DeskClient, sid: str) -> list[dict]:
    status, body = desk.call("GET", "/audit/entries", as_="auditor:zhou", query=f"target=statement%23{sid}&limit=100")
    assert status == 200, body
    return body["entries"]


def _wechat_answer_lost(desk: DeskClient) -> tuple[str, dict]:
    """A statement on WeChat, its draft prepared at approval, whose publish submit loses its answer:
    WeChat's publish task runs on, and the article is listed only once it is done."""
    sid = _approved_and_prepared(desk, ["wechat", "newsroom"])["id"]
    now = desk.clock()
    desk.world.emulators["wechat"].add_fault(Fault(start=now, end=now + timedelta(minutes=1), kind="timeout_after_send"))
    status, _ = desk.call("POST", f"/statements/{sid}/publish", as_="approver:wang")
    assert status == 202
    desk.world.pump()
    statement = desk.get(sid)
    return sid, next(d for d in statement["deliveries"] if d["channel"] == "wechat")


def test_a_delivery_move_that_needs_a_field_unchanged_is_refused_once_another_copy_changed_it(desk: DeskClient) -> None:
    """What keeps two copies of a message from both counting one look: the count read must still be there."""
    from crisiscomms.aws.audit_log import AuditLog
    from crisiscomms.aws.clients import AwsClients
    from crisiscomms.aws.statement_store import StatementRepository

    refs = desk.world.stack.refs
    repo = StatementRepository(refs["StatementsTable"], AuditLog(refs["AuditTable"], refs["StateTable"], clients=AwsClients()))
    sid = desk.draft(TEXT, ["mastodon"])["id"]
    desk.approve_and_publish(sid)  # not pumped: the delivery waits PENDING
    [delivery] = desk.get(sid)["deliveries"]

    def count(seen: int | None, to: int) -> bool:
        return repo.move_delivery(sid, delivery["key"], expect=("PENDING",), updates={"lookups": to},
                                  unchanged={"lookups": seen})

    assert count(None, 1) and not count(None, 1)  # absent, then no longer
    assert count(1, 2) and not count(1, 2) and not count(3, 4)
    assert desk.get(sid)["deliveries"][0]["lookups"] == 2


def test_a_lost_wechat_answer_is_looked_for_again_and_found_once_the_article_is_out(desk: DeskClient) -> None:
    wechat = desk.world.emulators["wechat"]
    sid, delivery = _wechat_answer_lost(desk)
    assert (delivery["state"], delivery["lookups"], delivery.get("needs_person")) == ("SENDING", 1, None)
    assert wechat.articles == [] and desk.get(sid)["state"] == "PUBLISHING"  # the publish task is still running
    desk.clock.advance(LOOK_LATER)
    desk.world.pump()
    statement = desk.get(sid)
    delivery = next(d for d in statement["deliveries"] if d["channel"] == "wechat")
    assert (delivery["state"], delivery["resolved_by"], delivery["lookups"]) == ("SENT", "lookup", 2)
    assert statement["state"] == "PUBLISHED"
    [article] = wechat.articles
    assert (delivery["platform_id"], delivery["url"]) == (article.article_id, article.url)
    assert [r.path for r in wechat.requests_log].count(SUBMITS) == 1, "submitted once, never again"
    assert sum(e["action"] == "delivery_looking" for e in _audit(desk, sid)) == 1


def test_a_wechat_article_that_never_shows_goes_to_a_person_after_the_last_look_and_a_retry_looks_afresh(
        desk: DeskClient) -> None:
    wechat = desk.world.emulators["wechat"]
    wechat.publishing_seconds = 24 * 3600  # a publish task that does not finish today
    sid, delivery = _wechat_answer_lost(desk)
    for _ in range(2):
        desk.clock.advance(LOOK_LATER)
        desk.world.pump()
    statement = desk.get(sid)
    delivery = next(d for d in statement["deliveries"] if d["channel"] == "wechat")
    assert (delivery["state"], delivery["needs_person"], delivery["lookups"]) == ("UNKNOWN", True, 3)
    assert "did not show the post in 3 looks over 6 min 0 s" in delivery["error"]
    assert statement["state"] == "PARTIAL" and wechat.articles == []
    assert [r.path for r in wechat.requests_log].count(SUBMITS) == 1
    # The person sends it again, and that answer is lost too: the looks start again from the first.
    now = desk.clock()
    wechat.add_fault(Fault(start=now, end=now + timedelta(minutes=1), kind="timeout_after_send"))
    wechat.publishing_seconds = 30
    assert desk.call("POST", f"/statements/{sid}/deliveries/wechat/retry", as_="approver:wang")[0] == 202
    desk.world.pump()
    delivery = next(d for d in desk.get(sid)["deliveries"] if d["channel"] == "wechat")
    assert (delivery["state"], delivery["lookups"]) == ("SENDING", 1)
    desk.clock.advance(LOOK_LATER)
    desk.world.pump()
    delivery = next(d for d in desk.get(sid)["deliveries"] if d["channel"] == "wechat")
    assert (delivery["state"], delivery["resolved_by"]) == ("SENT", "lookup")


def test_a_retry_after_an_article_never_confirmed_checks_afresh(desk: DeskClient) -> None:
    """WeChat accepted the submit but its publish task never finished: after the last check the delivery
    is UNKNOWN. A person's retry submits again, and its checks start from the first, not the last."""
    wechat = desk.world.emulators["wechat"]
    wechat.publishing_polls, wechat.publishing_seconds = 100, 24 * 3600  # "publishing" all day
    statement = _published(desk, ["wechat", "newsroom"])
    sid = statement["id"]
    for _ in range(10):
        delivery = next(d for d in desk.get(sid)["deliveries"] if d["channel"] == "wechat")
        if delivery["state"] == "UNKNOWN":
            break
        desk.clock.advance(LOOK_LATER)
        desk.world.pump()
    assert delivery["state"] == "UNKNOWN" and "not confirmed after" in delivery["error"], delivery
    wechat.publishing_seconds = 30  # this time the task finishes on its own, half a minute after the submit
    assert desk.call("POST", f"/statements/{sid}/deliveries/wechat/retry", as_="approver:wang")[0] == 202
    desk.world.pump()
    delivery = next(d for d in desk.get(sid)["deliveries"] if d["channel"] == "wechat")
    assert (delivery["state"], delivery["confirm_pending"]) == ("SENT", True), delivery  # waiting, not given up
    assert [r.path for r in wechat.requests_log].count(SUBMITS) == 2
    desk.clock.advance(LOOK_LATER)
    desk.world.pump()
    delivery = next(d for d in desk.get(sid)["deliveries"] if d["channel"] == "wechat")
    assert (delivery["state"], delivery["confirm_pending"]) == ("SENT", False) and delivery["url"], delivery


def test_the_same_message_twice_and_publish_twice_post_once(desk: DeskClient) -> None:
    sid = desk.draft(TEXT, ALL)["id"]
    desk.approve_and_publish(sid)
    status, _ = desk.call("POST", f"/statements/{sid}/publish", as_="approver:wang")
    assert status == 202
    desk.world.pump(duplicate_next=True)
    assert desk.world.redeliveries
    for channel in ALL:
        assert len(desk.world.channel_posts(channel)) == (2 if channel == "newsroom" else 1), channel
    assert desk.get(sid)["state"] == "PUBLISHED"


def test_a_permanent_refusal_fails_that_channel_only(desk: DeskClient) -> None:
    desk.world.emulators["weibo"].fail_next(21327, "expired_token", http_status=401)
    statement = _published(desk, ["weibo", "x", "newsroom"])
    states = {d["channel"]: d["state"] for d in statement["deliveries"]}
    assert states["weibo"] == "FAILED" and states["x"] == "SENT" and statement["state"] == "PARTIAL"
    assert "expired_token" in next(d["error"] for d in statement["deliveries"] if d["channel"] == "weibo")


def test_a_correction_goes_to_every_channel_linked_to_the_original(desk: DeskClient) -> None:
    original = _published(desk, ["x", "mastodon", "newsroom"])
    correction_text = {"en": {"full": "Correction: the outage lasted two hours, not one.", "short": "The outage lasted two hours, not one."}}
    status, body = desk.call("POST", f"/statements/{original['id']}/corrections", {"text": correction_text}, as_="author:li")
    assert status == 201 and body["corrects"] == original["id"] and body["kind"] == "correction"
    desk.approve_and_publish(body["id"])
    desk.world.pump()
    correction = desk.get(body["id"])
    assert correction["state"] == "PUBLISHED"
    x_posts = desk.world.channel_posts("x")
    original_x = next(d for d in original["deliveries"] if d["channel"] == "x")["platform_id"]
    assert x_posts[-1].in_reply_to == original_x and x_posts[-1].submitted_text.startswith("Correction: ")
    original_m = next(d for d in original["deliveries"] if d["channel"] == "mastodon")["platform_id"]
    assert desk.world.channel_posts("mastodon")[-1].in_reply_to_id == original_m


def test_list_and_get_show_versions_approvals_and_deliveries(desk: DeskClient) -> None:
    statement = _published(desk, ["newsroom"])
    assert statement["versions"][0]["text"]["zh"]["short"] == TEXT["zh"]["short"]
    assert statement["approval"]["approver"] == "wang" and statement["approval"]["version"] == 1
    status, listing = desk.call("GET", "/statements", query="limit=5", as_="approver:wang")
    assert status == 200 and listing["statements"][0]["id"] == statement["id"]
    status, listing = desk.call("GET", "/statements", query="state=DRAFT", as_="approver:wang")
    assert statement["id"] not in [s["id"] for s in listing["statements"]]


def test_api_gateway_scopes_in_the_template_match_the_roles_the_handler_enforces(desk: DeskClient) -> None:
    """For every route, a caller in a group the template's scopes admit gets past the handler's role check,
    and a caller in any other group is refused with 403 by the handler too."""
    from crisiscomms.identity import DESK_GROUPS, SCOPE_PREFIX
    from crisiscomms_local.apigw import rest_event
    from crisiscomms_local.lambda_runtime import invoke
    from crisiscomms_local.template import load_template

    events = load_template()["Resources"]["DeskApiFunction"]["Properties"]["Events"]
    bodies = {"/statements": {"channels": ["newsroom"], "text": TEXT}, "/draft": {"text": TEXT}, "/approve": {"version": 1},
              "/reject": {"reason": "no"}, "/corrections": {"text": TEXT}}
    for name, event in events.items():
        props = event["Properties"]
        path = (props["Path"].replace("{statement_id}", "st-0000000000000000").replace("{channel}", "x")
                .replace("{alert_id}", "harbor-20261128-0922"))
        query = "topic=harbor" if path == "/alerts" else ""
        body = next((b for suffix, b in bodies.items() if path.endswith(suffix)), None) if props["Method"] != "get" else None
        admitted = {s.removeprefix(SCOPE_PREFIX) for s in props["Auth"]["AuthorizationScopes"]}
        for group in DESK_GROUPS:
            result = invoke("api", rest_event(props["Method"], path, body=body, user=f"user-{group}", groups=[group],
                                              query=query))
            refused = result["statusCode"] == 403
            assert refused == (group not in admitted), (name, group, result["statusCode"], result["body"])


# --- preparation at approval: publishing is one call per channel ------------------------------------

PREPARED = {("newsroom", "zh"), ("newsroom", "en"), ("wechat", "zh")}


def _approved_and_prepared(desk: DeskClient, channels: list[str] = ALL, text: dict = TEXT) -> dict:
    sid = desk.draft(text, channels)["id"]
    status, body = desk.call("POST", f"/statements/{sid}/approve", {"version": 1}, as_="approver:wang")
    assert status == 200, body
    desk.world.pump()  # the prepare messages the approval queued
    return desk.get(sid)


def _s3_writes() -> list[tuple[str, str]]:
    """The Publisher's S3 writes from now on, as (operation, key)."""
    from crisiscomms.wiring import container

    writes: list[tuple[str, str]] = []
    for operation in ("PutObject", "CopyObject"):
        container().clients("s3").meta.events.register(
            f"before-parameter-build.s3.{operation}", lambda params, model, **_: writes.append((model.name, params["Key"])))
    return writes


def _object(desk: DeskClient, key: str) -> bytes:
    return client("s3").get_object(Bucket=desk.world.stack.refs["NewsroomBucket"], Key=key)["Body"].read()


def test_approval_prepares_and_publishing_makes_one_call_per_channel(desk: DeskClient) -> None:
    statement = _approved_and_prepared(desk)
    sid = statement["id"]
    assert {(p["channel"], p["language"]): p["state"] for p in statement["prepared"]} == {k: "READY" for k in PREPARED}
    wechat = desk.world.emulators["wechat"]
    [media_id] = wechat.drafts
    assert wechat.articles == [] and desk.world.channel_posts("newsroom") == []  # nothing public yet
    assert all(em.requests_log == [] for name, em in desk.world.emulators.items() if name != "wechat")
    for em in desk.world.emulators.values():
        em.clear_log()
    s3_writes = _s3_writes()

    status, _ = desk.call("POST", f"/statements/{sid}/publish", as_="approver:wang")
    assert status == 202
    desk.world.pump()

    statement = desk.get(sid)
    assert statement["state"] == "PUBLISHED"
    assert {(d["channel"], d["state"]) for d in statement["deliveries"]} == {(c, "SENT") for c in ALL}
    assert {(d["channel"], d["language"]) for d in statement["deliveries"] if d.get("prepared_used")} == PREPARED
    assert {p["state"] for p in statement["prepared"]} == {"USED"}
    for name, em in desk.world.emulators.items():
        paths = [r.path for r in em.requests_log]
        if name == "wechat":
            # One publishing call; the reads after it confirm the article once the delivery is recorded SENT.
            assert paths[0] == "/cgi-bin/freepublish/submit" and set(paths[1:]) == {"/cgi-bin/freepublish/get"}, paths
        else:
            assert len(paths) == 1, (name, paths)
    pages = sorted(key for op, key in s3_writes if key.startswith("statements/"))
    assert pages == [f"statements/{sid}.en.html", f"statements/{sid}.zh.html"]
    assert {op for op, key in s3_writes if key.startswith("statements/")} == {"CopyObject"}  # one copy per page
    assert len(desk.world.channel_posts("newsroom")) == 2 and len(wechat.articles) == 1
    wechat_delivery = next(d for d in statement["deliveries"] if d["channel"] == "wechat")
    assert wechat.tasks[next(iter(wechat.tasks))].media_id == media_id
    assert (wechat_delivery["platform_id"], wechat_delivery["url"]) == (wechat.articles[0].article_id, wechat.articles[0].url)
    assert wechat_delivery["confirm_pending"] is False and wechat_delivery["confirmed_at"]
    assert b"<p>Harbor Bank statement: all accounts are available." in _object(desk, f"statements/{sid}.en.html")
    feed = _object(desk, "feed.xml").decode()
    assert f"statements/{sid}.en.html" in feed and f"statements/{sid}.zh.html" in feed
    status, verify = desk.call("GET", "/audit/verify", as_="auditor:zhou")
    assert status == 200 and verify["ok"]


def test_an_edit_after_approval_discards_what_was_prepared(desk: DeskClient) -> None:
    statement = _approved_and_prepared(desk, ["wechat", "newsroom", "x"])
    sid = statement["id"]
    items = {p["channel"] + "#" + p["language"]: p["data"] for p in statement["prepared"]}
    wechat = desk.world.emulators["wechat"]
    media_id = items["wechat#zh"]["media_id"]
    assert list(wechat.drafts) == [media_id]

    edited = {"zh": {**TEXT["zh"], "short": "港湾银行：所有账户正常。"}, "en": TEXT["en"]}
    status, body = desk.call("PUT", f"/statements/{sid}/draft", {"text": edited}, as_="author:li")
    assert status == 200 and body["state"] == "DRAFT"
    assert {p["state"] for p in body["prepared"]} == {"DISCARDING"}
    desk.world.pump()  # the discard messages

    assert list(wechat.deleted_drafts) == [media_id] and wechat.drafts == {}
    assert [r.path for r in wechat.requests_log].count("/cgi-bin/draft/delete") == 1
    for key in ("newsroom#zh", "newsroom#en"):
        assert _object(desk, items[key]["key"]) == b""  # overwritten: the Publisher may not delete
    assert {p["state"] for p in desk.get(sid)["prepared"]} == {"DISCARDED"}

    desk.approve_and_publish(sid, version=2)  # approves version 2, which prepares again, then publishes
    desk.world.pump()
    statement = desk.get(sid)
    assert statement["state"] == "PUBLISHED" and len(wechat.articles) == 1
    assert wechat.articles[0].news_item["digest"] == "港湾银行：所有账户正常。"
    by_version = {(p["version"], p["channel"], p["language"]): p["state"] for p in statement["prepared"]}
    assert {k: v for k, v in by_version.items() if k[0] == 1} == {(1, "wechat", "zh"): "DISCARDED", (1, "newsroom", "zh"): "DISCARDED",
                                                                    (1, "newsroom", "en"): "DISCARDED"}
    assert set(v for k, v in by_version.items() if k[0] == 2) <= {"USED", "SKIPPED", "DISCARDED"}


def test_a_rejection_discards_what_was_prepared(desk: DeskClient) -> None:
    statement = _approved_and_prepared(desk, ["wechat", "newsroom"])
    sid = statement["id"]
    wechat = desk.world.emulators["wechat"]
    [media_id] = wechat.drafts
    status, body = desk.call("POST", f"/statements/{sid}/reject", {"reason": "wrong figures"}, as_="approver:zhang")
    assert status == 200 and body["state"] == "REJECTED"
    desk.world.pump()
    assert list(wechat.deleted_drafts) == [media_id] and wechat.drafts == {} and wechat.articles == []
    assert {p["state"] for p in desk.get(sid)["prepared"]} == {"DISCARDED"}
    assert desk.world.channel_posts("newsroom") == []


def test_publishing_does_not_depend_on_preparation(desk: DeskClient) -> None:
    sid = desk.draft(TEXT, ALL)["id"]
    assert desk.call("POST", f"/statements/{sid}/approve", {"version": 1}, as_="approver:wang")[0] == 200
    client("sqs").purge_queue(QueueUrl=desk.world.stack.refs["DeliveryQueue"])  # the prepare messages never ran
    assert {p["state"] for p in desk.get(sid)["prepared"]} == {"PENDING"}
    s3_writes = _s3_writes()

    status, body = desk.call("POST", f"/statements/{sid}/publish", as_="approver:wang")
    assert status == 202 and {p["state"] for p in body["prepared"]} == {"SKIPPED"}
    desk.world.pump()

    statement = desk.get(sid)
    assert statement["state"] == "PUBLISHED"
    assert not any(d.get("prepared_used") for d in statement["deliveries"])
    wechat = desk.world.emulators["wechat"]
    assert [r.path for r in wechat.requests_log][:2] == ["/cgi-bin/draft/add", "/cgi-bin/freepublish/submit"]
    assert len(wechat.articles) == 1 and len(wechat.drafts) == 1
    assert sorted(op for op, key in s3_writes if key.startswith("statements/")) == ["PutObject", "PutObject"]
    assert {p["state"] for p in statement["prepared"]} == {"DISCARDED"}  # passed over, holding nothing
    for channel in ALL:
        assert len(desk.world.channel_posts(channel)) == (2 if channel == "newsroom" else 1), channel


def test_a_preparation_still_queued_when_publishing_starts_is_passed_over(desk: DeskClient) -> None:
    sid = desk.draft(TEXT, ["wechat", "newsroom", "x"])["id"]
    desk.approve_and_publish(sid)  # the prepare messages are still in the queue, behind nothing
    desk.world.pump()  # prepare, deliver and discard messages together
    statement = desk.get(sid)
    assert statement["state"] == "PUBLISHED"
    wechat = desk.world.emulators["wechat"]
    assert [r.path for r in wechat.requests_log].count("/cgi-bin/draft/add") == 1  # the delivery's own, none prepared
    assert len(wechat.articles) == 1 and wechat.deleted_drafts == {}
    assert {p["state"] for p in statement["prepared"]} == {"DISCARDED"}
    assert len(desk.world.channel_posts("newsroom")) == 2


def _delivery_reads() -> list[str]:
    """The sort keys of the Publisher's GetItems of delivery records from now on."""
    from crisiscomms.wiring import container

    reads: list[str] = []

    def read(params: dict, **_: Any) -> None:
        sk = params["Key"].get("sk", {}).get("S", "")
        if sk.startswith("delivery#"):
            reads.append(sk)

    container().clients("dynamodb").meta.events.register("before-parameter-build.dynamodb.GetItem", read)
    return reads


def _requeued(desk: DeskClient, change: Any) -> list[dict]:
    """Take every message off the delivery queue and send it back as `change(body)` made it; the bodies sent."""
    sqs, url = client("sqs"), desk.world.stack.refs["DeliveryQueue"]
    bodies = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
        for m in batch:
            body = json.loads(m["Body"])
            change(body)
            bodies.append(body)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    return bodies


def test_a_first_delivery_is_sent_as_queued_without_reading_its_record(desk: DeskClient) -> None:
    reads = _delivery_reads()
    sid = desk.draft(TEXT, ALL)["id"]
    desk.approve_and_publish(sid)
    bodies = [b for b in _requeued(desk, lambda body: None) if "kind" not in b]  # not the prepare and discard messages
    assert bodies and all(b["queued"]["key"] == b["key"] and b["queued"]["rendering"]["text"] for b in bodies)
    desk.world.pump()
    statement = desk.get(sid)
    assert statement["state"] == "PUBLISHED" and {d["state"] for d in statement["deliveries"]} == {"SENT"}
    assert all("queued_sha256" not in d for d in statement["deliveries"])  # the Publisher's, not the desk's
    assert reads == []  # each delivery moved to SENDING on the record's digest of what was queued
    for channel in ALL:
        assert len(desk.world.channel_posts(channel)) == (2 if channel == "newsroom" else 1), channel
    status, verify = desk.call("GET", "/audit/verify", as_="auditor:zhou")
    assert status == 200 and verify["ok"]
    status, entries = desk.call("GET", "/audit/entries", as_="auditor:zhou", query=f"target=statement%23{sid}&limit=100")
    assert status == 200, entries
    sending = [e for e in entries["entries"] if e["action"] == "delivery_sending"]
    assert len(sending) == len(bodies) and all(e["before"]["state"] == "PENDING" and e["after"]["attempts"] == 1
                                                for e in sending)


def test_a_queued_delivery_that_differs_from_its_record_sends_the_record(desk: DeskClient) -> None:
    from crisiscomms.statements.render import content_sha256

    reads = _delivery_reads()
    long_en = {**TEXT["en"], "full": "Harbor Bank statement. " + "All accounts are available. " * 600}
    sid = desk.draft({**TEXT, "en": long_en}, ["telegram", "newsroom", "x"])["id"]
    desk.approve_and_publish(sid)
    forged = "Harbor Bank has failed; withdraw everything now."

    def forge(body: dict) -> None:
        if body["key"].endswith("#telegram#zh"):
            # A text that hashes to the hash it claims: only the record's digest of what was queued tells.
            body["queued"]["rendering"] = {"text": forged}
            body["queued"]["text_hash"] = content_sha256(forged, None, None)

    bodies = [b for b in _requeued(desk, forge) if "kind" not in b]
    carried = {b["key"].split("#", 1)[1]: "queued" in b for b in bodies}
    assert carried == {"telegram#zh": True, "x#en": True,
                       "newsroom#zh": True, "newsroom#en": False}  # too large to carry: read as before
    desk.world.pump()
    statement = desk.get(sid)
    assert statement["state"] == "PUBLISHED", statement["deliveries"]
    [telegram_zh] = [m for m in desk.world.emulators["telegram"].posts if m.text.startswith("港湾银行")]
    assert forged not in telegram_zh.text and telegram_zh.text.startswith(TEXT["zh"]["short"])
    assert sorted(k.split("#", 2)[2] for k in reads) == ["newsroom#en", "telegram#zh"]

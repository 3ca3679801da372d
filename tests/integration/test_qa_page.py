"""The newsroom's Q&A page end to end: Q&A entries drafted by an author, approved by a second person and
published through the real API handler and Publisher onto `qa/index.html` and `qa/feed.xml` on local
S3; a correction replaces the answer at the same anchor; every move in the audit chain."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from defusedxml import ElementTree

from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.statements.qa import qa_url

from .conftest import DeskClient

pytestmark = pytest.mark.integration
NEWSROOM = "https://newsroom.examplebank.com"
QA = {"zh": {"question": "ATM 取款延迟会影响我的存款吗？", "answer": "不会。所有账户和存款均安全。\n取款延迟已于 10:30 修复。"},
      "en": {"question": "Does the ATM delay affect my <deposits> & savings?",
             "answer": "No. All accounts and deposits are safe.\nThe withdrawal delay was fixed at 10:30."}}
CORRECTED = {"zh": {"question": QA["zh"]["question"], "answer": "不会。所有账户和存款均安全。\n取款延迟已于 11:15 修复。"},
             "en": {"question": QA["en"]["question"], "answer": "No. All accounts and deposits are safe.\n"
                                                               "The withdrawal delay was fixed at 11:15."}}


def _object(desk: DeskClient, key: str) -> str:
    from crisiscomms_local.aws import client

    return client("s3").get_object(Bucket=desk.world.stack.refs["NewsroomBucket"], Key=key)["Body"].read().decode("utf-8")


def _feed(desk: DeskClient) -> list[Any]:
    return ElementTree.fromstring(_object(desk, "qa/feed.xml").encode("utf-8")).findall("./channel/item")


def _published_entry(desk: DeskClient, text: dict = QA) -> dict[str, Any]:
    status, entry = desk.call("POST", "/qa-entries", {"text": text, "ref": "atm-qa"}, as_="author:li")
    assert status == 201, entry
    desk.approve_and_publish(entry["id"])
    desk.world.pump()
    return desk.get(entry["id"])


def _actions(desk: DeskClient, sid: str) -> list[tuple[str, str]]:
    refs = desk.world.stack.refs
    return [(r["action"], r["actor"]) for r in AuditLog(refs["AuditTable"], refs["StateTable"], clients=AwsClients()).records()
            if r["target"] == f"statement#{sid}"]


def test_a_published_entry_is_on_the_qa_page_in_both_languages_and_in_its_feed(desk: DeskClient) -> None:
    status, draft = desk.call("POST", "/qa-entries", {"text": QA}, as_="author:li")
    assert status == 201, draft
    sid = draft["id"]
    assert (draft["kind"], draft["channels"], draft["state"], draft["qa_entry"]) == ("qa", ["newsroom"], "DRAFT", sid)
    assert draft["qa_urls"] == {"zh": qa_url(NEWSROOM, sid, "zh"), "en": qa_url(NEWSROOM, sid, "en")}
    assert draft["qa_urls"]["en"] == f"{NEWSROOM}/qa/index.html#{sid}-en"
    status, body = desk.call("POST", f"/statements/{sid}/approve", {"version": 1}, as_="approver:li")
    assert status == 403 and "two-person" in body["error"]
    desk.approve_and_publish(sid)
    assert desk.get(sid)["prepared"] == [], "a Q&A entry has nothing to prepare"
    desk.world.pump()

    entry = desk.get(sid)
    assert entry["state"] == "PUBLISHED"
    assert {(d["language"], d["state"], d["url"]) for d in entry["deliveries"]} == {
        ("zh", "SENT", entry["qa_urls"]["zh"]), ("en", "SENT", entry["qa_urls"]["en"])}
    page = _object(desk, "qa/index.html")
    zh, en = page.index('<section id="zh" lang="zh">'), page.index('<section id="en" lang="en">')
    assert zh < page.index(f'<article id="{sid}-zh">') < en < page.index(f'<article id="{sid}-en">')
    assert "<h3>ATM 取款延迟会影响我的存款吗？</h3><p>不会。所有账户和存款均安全。</p><p>取款延迟已于 10:30 修复。</p>" in page
    assert "Does the ATM delay affect my &lt;deposits&gt; &amp; savings?" in page and "<deposits>" not in page
    items = _feed(desk)
    assert {(i.findtext("link"), i.findtext("title")) for i in items} == {
        (entry["qa_urls"]["zh"], QA["zh"]["question"]), (entry["qa_urls"]["en"], QA["en"]["question"])}
    assert desk.world.channel_posts("newsroom") == [], "no statement page for a Q&A entry"
    assert _actions(desk, sid)[:3] == [("qa_draft", "li"), ("approve", "wang"), ("publish", "wang")]
    status, verify = desk.call("GET", "/audit/verify", as_="auditor:zhou")
    assert status == 200 and verify["ok"], verify


def test_an_entry_in_traditional_chinese_has_its_own_section_between_simplified_and_english(desk: DeskClient) -> None:
    desk.speak({"newsroom": ["zh", "zh-Hant", "en"]})
    hant = {"question": "自動櫃員機提款延遲會影響我的存款嗎？", "answer": "不會。所有帳戶和存款均安全。"}
    entry = _published_entry(desk, {**QA, "zh-Hant": hant})
    sid = entry["id"]
    assert entry["state"] == "PUBLISHED" and sorted(entry["qa_urls"]) == ["en", "zh", "zh-Hant"]
    assert {(d["language"], d["state"]) for d in entry["deliveries"]} == {("zh", "SENT"), ("zh-Hant", "SENT"), ("en", "SENT")}
    page = _object(desk, "qa/index.html")
    zh, hant_at, en = (page.index(f'<section id="{lang}" lang="{lang}"><h2>{heading}</h2>')
                       for lang, heading in (("zh", "常见问题"), ("zh-Hant", "常見問題"), ("en", "Questions and answers")))
    article = page.index(f'<article id="{sid}-zh-Hant"><h3>{hant["question"]}</h3><p>{hant["answer"]}</p><footer>更新於 ')
    assert zh < hant_at < article < en


def test_a_correction_updates_the_page_at_the_same_anchor_and_the_feed(desk: DeskClient) -> None:
    original = _published_entry(desk)
    sid = original["id"]
    desk.clock.advance(timedelta(minutes=30))
    status, correction = desk.call("POST", f"/qa-entries/{sid}/corrections", {"text": CORRECTED}, as_="author:zhao")
    assert status == 201, correction
    assert (correction["kind"], correction["corrects"], correction["qa_entry"], correction["qa_revision"]) == \
        ("qa", sid, sid, 1)
    assert correction["qa_urls"] == original["qa_urls"], "the entry keeps its address"
    desk.approve_and_publish(correction["id"])
    desk.world.pump()

    assert desk.get(correction["id"])["state"] == "PUBLISHED"
    page = _object(desk, "qa/index.html")
    assert page.count(f'<article id="{sid}-en">') == 1 and page.count(f'<article id="{sid}-zh">') == 1
    assert "11:15" in page and "10:30" not in page and "2026-11-28T09:30:00" in page
    items = _feed(desk)
    assert len(items) == 4
    assert [i.findtext("category") for i in items] == ["correction", "correction", None, None]
    assert {i.findtext("link") for i in items[:2]} == set(original["qa_urls"].values())
    assert "11:15" in items[0].findtext("description")
    assert _actions(desk, correction["id"])[:3] == [("qa_correction", "zhao"), ("approve", "wang"), ("publish", "wang")]


def test_qa_entries_and_statements_keep_to_their_own_routes(desk: DeskClient) -> None:
    draft = desk.call("POST", "/qa-entries", {"text": QA}, as_="author:li")[1]
    edited = {"en": {"question": "Is my money safe?", "answer": "Yes."}}
    status, body = desk.call("PUT", f"/qa-entries/{draft['id']}/draft", {"text": edited}, as_="author:zhao")
    assert status == 200 and body["current_version"] == 2 and body["versions"][-1]["text"] == edited, body
    assert _actions(desk, draft["id"]) == [("qa_draft", "li"), ("qa_edit", "zhao")]
    statement_text = {"en": {"full": "Harbor Bank statement.", "short": "Harbor Bank statement."}}
    assert desk.call("PUT", f"/statements/{draft['id']}/draft", {"text": statement_text}, as_="author:li")[0] == 409
    statement = desk.draft(statement_text, ["newsroom"])
    assert desk.call("PUT", f"/qa-entries/{statement['id']}/draft", {"text": edited}, as_="author:li")[0] == 409
    published = _published_entry(desk)
    assert desk.call("POST", f"/statements/{published['id']}/corrections", {"text": statement_text},
                     as_="author:li")[0] == 409
    assert desk.call("POST", f"/qa-entries/{draft['id']}/corrections", {"text": QA}, as_="author:li")[0] == 409, \
        "only a published entry is corrected"
    status, body = desk.call("POST", "/qa-entries", {"text": {"en": {"question": "?" * 301, "answer": "a"}}}, as_="author:li")
    assert status == 422 and any(d["field"].endswith("question") for d in body["details"]), body


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/qa-entries", {"text": QA}),
    ("PUT", "/qa-entries/st-0000000000000000/draft", {"text": QA}),
    ("POST", "/qa-entries/st-0000000000000000/corrections", {"text": QA}),
])
@pytest.mark.parametrize("who", ["approver:wang", "auditor:zhou", "oncall:chen", "nobody:eve"])
def test_only_authors_write_qa_entries_refused_before_the_body_is_read(desk: DeskClient, method: str, path: str,
                                                                       body: Any, who: str) -> None:
    assert desk.call(method, path, body, as_=who)[0] == 403
    assert desk.call(method, path, raw="{", as_=who)[0] == 403


def test_auditors_read_qa_entries_and_approvers_approve_them(desk: DeskClient) -> None:
    entry = _published_entry(desk)
    status, body = desk.call("GET", f"/statements/{entry['id']}", as_="auditor:zhou")
    assert status == 200 and body["kind"] == "qa" and body["qa_urls"] == entry["qa_urls"]
    draft = desk.call("POST", "/qa-entries", {"text": QA}, as_="author:li")[1]
    assert desk.call("POST", f"/statements/{draft['id']}/approve", {"version": 1}, as_="author:zhao")[0] == 403
    assert desk.call("POST", f"/statements/{draft['id']}/approve", {"version": 1}, as_="auditor:zhou")[0] == 403
    assert desk.call("POST", f"/statements/{draft['id']}/approve", {"version": 1}, as_="approver:wang")[0] == 200

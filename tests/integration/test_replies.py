"""The reply library (应对话术) and replies on local AWS, through the real API handler with API Gateway events.

Templates: drafted, edited (a new version, the approval withdrawn), approved by a second person
only, rejected with a reason, every move in the audit chain. Replies: from an approved template by
one author (APPROVED at once, one `{"kind": "reply"}` message on the delivery queue), as free text
by two (AWAITING_APPROVAL until a second person approves), the CRISIS switch read from the
Detector's state item and the watch configuration, and the refusals.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from crisiscomms.aws.audit_log import AuditLog
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import to_item
from crisiscomms.aws.inbox_store import InboxRepository
from crisiscomms.inbox.opening import conversation_for
from crisiscomms.inbox.triage import Triage
from crisiscomms.models import Post, ScoredPost
from crisiscomms.models.inbox import conversation_id
from crisiscomms.watch.inbox import InboxSettings
from crisiscomms_local.aws import Stack, client, put_watch_config, reset_process_caches
from crisiscomms_local.lambda_runtime import invoke

pytestmark = pytest.mark.integration
TOPICS = [{"id": "harbor", "names": ["Harbor Bank", "港湾银行"]}]
QUIET = {"CONFIG_MAX_AGE_SECONDS": "0", "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"}

RULES = {"handle": {"pattern": r"@?[A-Za-z0-9_\u4e00-\u9fff]{1,30}", "max": 31},
         "hotline": {"pattern": r"[0-9]{5}", "max": 5}}
APOLOGY = {"zh": "{handle} 您好，给您带来不便深表歉意。请致电客服热线 {hotline}，我们会尽快处理。",
           "en": "{handle} we are sorry for the trouble. Please call our hotline {hotline}; we will help at once."}
VALUES = {"handle": "@小王", "hotline": "95555"}
FILLED_ZH = "@小王 您好，给您带来不便深表歉意。请致电客服热线 95555，我们会尽快处理。"


@dataclass
class ReplyApi:
    """The real API handler as named people in Cognito groups, and what the replies leave behind."""

    stack: Stack
    clock: Any
    queue_url: str

    ROLES = {"author": ["comms-author"], "approver": ["comms-approver"], "auditor": ["auditor"], "oncall": ["oncall"]}

    def call(self, method: str, path: str, body: Any = None, *, as_: str = "author:li", raw: str | None = None,
             query: str = "") -> tuple[int, Any]:
        from crisiscomms_local.apigw import rest_event

        role, user = as_.split(":")
        event = rest_event(method, path, body=raw if raw is not None else body, user=user, groups=self.ROLES[role],
                           query=query)
        result = invoke("api", event)
        return result["statusCode"], json.loads(result["body"]) if result.get("body") else None

    def queued(self) -> list[dict[str, Any]]:
        """Every message on the delivery queue, drained (as the Publisher's event source would take them)."""
        sqs, out = client("sqs"), []
        while True:
            batch = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
                "Messages", [])
            if not batch:
                return out
            out += [json.loads(m["Body"]) for m in batch]
            sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)])

    def audit_actions(self, target: str) -> list[tuple[str, str]]:
        log = AuditLog(self.stack.refs["AuditTable"], self.stack.refs["StateTable"], clients=AwsClients())
        return [(r["action"], r["actor"]) for r in log.records() if r["target"] == target]

    def audit_ok(self) -> None:
        status, verify = self.call("GET", "/audit/verify", as_="auditor:zhou")
        assert status == 200 and verify["ok"], verify

    def open_conversation(self, platform: str = "weibo", native_id: str = "4990000000000001",
                          topics: tuple[str, ...] = ("harbor",), *, language: str = "zh-Hans",
                          text: str = "@ExampleBank 港湾银行转账一直失败，你们什么时候修好？") -> str:
        """A conversation as the Poller opens it (the inbox's own opening code, written by its repository);
        its path id. `language` is the scoring's for the post's `text`."""
        clock = self.clock
        post = Post(platform=platform, native_id=native_id, source_type="social", source_id="mentions",  # type: ignore[arg-type]
                    url=f"https://{platform}.example/{native_id}", author="xiaowang", followers=1200,
                    text=text, published_at=clock() - timedelta(minutes=5), to_bank=True)
        scored = ScoredPost(post=post, topics=topics, language=language, sentiment=-0.6, sentiment_label="negative",
                            crisis_terms=(), crisis_categories=(), crisis_weight=0.0, is_crisis=False, risk=40,
                            ingested_at=clock())
        item = conversation_for(scored, Triage(kind="complaint", opens=True, priority=500), level=None, now=clock(),
                                settings=InboxSettings())
        assert InboxRepository(self.stack.refs["InboxTable"], clients=AwsClients()).open_conversation(item)
        return conversation_id(item["post_key"])

    def set_level(self, topic: str, level: str) -> None:
        """The Detector's state item for the topic at `level`: what AlertRepository.topic_level reads."""
        client("dynamodb").put_item(TableName=self.stack.refs["StateTable"],
                                    Item=to_item({"pk": f"detector#{topic}", "level": level}))

    def configure(self, **inbox: Any) -> None:
        document: dict[str, Any] = {"version": 1, "topics": TOPICS}
        if inbox:
            document["inbox"] = inbox
        put_watch_config(self.stack, json.dumps(document))

    # --- the library, as the desk uses it ---------------------------------------------------------

    def draft_template(self, *, as_: str = "author:li", text: dict[str, str] | None = None,
                       placeholders: dict[str, Any] | None = None) -> dict[str, Any]:
        status, body = self.call("POST", "/templates", {
            "kind": "reply", "situation": "service_failure_apology", "title": "转账失败致歉",
            "text": text or APOLOGY, "placeholders": RULES if placeholders is None else placeholders}, as_=as_)
        assert status == 201, body
        return body

    def approved_template(self, **kwargs: Any) -> str:
        template = self.draft_template(**kwargs)
        status, body = self.call("POST", f"/templates/{template['id']}/approve", {"version": 1}, as_="approver:wang")
        assert status == 200 and body["state"] == "APPROVED", body
        return template["id"]


@pytest.fixture
def api(stack: Stack, sim_clock: Any) -> Iterator[ReplyApi]:
    saved = dict(os.environ)
    environment = stack.function_environment("DeskApiFunction", QUIET)
    os.environ.update(environment)
    reset_process_caches()
    world = ReplyApi(stack, sim_clock, environment["DELIVERY_QUEUE_URL"])
    world.configure()
    yield world
    os.environ.clear()
    os.environ.update(saved)
    reset_process_caches()


def _fields(answer: dict[str, Any]) -> set[str]:
    return {d.get("field") for d in answer.get("details") or []}


# --- 1. the library: draft, approve by a second person, edit, reject ----------------------------------------

def test_a_template_is_approved_only_by_a_second_person_and_the_approval_binds_its_hashes(api: ReplyApi) -> None:
    template = api.draft_template()
    tid = template["id"]
    assert (template["state"], template["current_version"], template["author"]) == ("DRAFT", 1, "li")
    assert template["text"] == APOLOGY and template["placeholders"] == RULES and "approval" not in template
    assert [(v["version"], v["state"]) for v in template["versions"]] == [(1, "DRAFT")]

    status, body = api.call("POST", f"/templates/{tid}/approve", {"version": 1}, as_="approver:li")
    assert status == 403 and "two-person" in body["error"], "its author may not approve it, even as an approver"
    assert api.call("GET", f"/templates/{tid}", as_="auditor:zhou")[1]["state"] == "DRAFT"

    status, body = api.call("POST", f"/templates/{tid}/approve", {"version": 1}, as_="approver:wang")
    assert status == 200 and body["state"] == "APPROVED", body
    approval = body["approval"]
    assert (approval["version"], approval["by"], body["approved_by"]) == (1, "wang", "wang")
    assert (approval["text_hash"], approval["rules_hash"]) == (template["text_hash"], template["rules_hash"])
    assert [(v["version"], v["state"], v.get("approved_by")) for v in body["versions"]] == [(1, "APPROVED", "wang")]

    for reader in ("author:zhao", "approver:wang", "auditor:zhou", "oncall:chen"):
        status, library = api.call("GET", "/templates", as_=reader, query="kind=reply")
        assert status == 200 and [(t["id"], t["state"]) for t in library["templates"]] == [(tid, "APPROVED")], reader
    assert api.call("GET", "/templates", query="kind=holding")[1]["templates"] == []
    assert api.audit_actions(f"template#{tid}") == [("template_draft", "li"), ("template_approve", "wang")]
    api.audit_ok()


def test_editing_makes_a_new_version_that_withdraws_the_approval_until_it_is_approved_again(api: ReplyApi) -> None:
    tid = api.approved_template()
    conversation = api.open_conversation()
    edited = {"zh": APOLOGY["zh"].replace("深表歉意", "非常抱歉"), "en": APOLOGY["en"]}

    status, body = api.call("PUT", f"/templates/{tid}/draft", {"text": edited, "placeholders": RULES}, as_="author:zhao")
    assert status == 200, body
    assert (body["state"], body["current_version"], body["author"], body["text"]) == ("DRAFT", 2, "zhao", edited)
    assert not {"approval", "approved_by", "approved_at"} & set(body), "the edit withdrew the approval"
    assert [(v["version"], v["state"]) for v in body["versions"]] == [(1, "APPROVED"), (2, "DRAFT")]

    status, answer = api.call("POST", f"/inbox/{conversation}/replies", {"template": tid, "values": VALUES})
    assert status == 409 and "DRAFT" in answer["error"], "an edited template cannot ride on the old approval"
    status, answer = api.call("POST", f"/templates/{tid}/approve", {"version": 1}, as_="approver:wang")
    assert status == 409, "an approval names the version its approver read"
    status, answer = api.call("POST", f"/templates/{tid}/approve", {"version": 2}, as_="approver:zhao")
    assert status == 403, "the new version's author may not approve it"
    assert api.queued() == []

    status, body = api.call("POST", f"/templates/{tid}/approve", {"version": 2}, as_="approver:li")
    assert status == 200 and body["approval"]["version"] == 2 and body["approval"]["text_hash"] != \
        body["versions"][0]["text_hash"], "li did not write version 2, so li may approve it"
    status, reply = api.call("POST", f"/inbox/{conversation}/replies", {"template": tid, "values": VALUES})
    assert status == 201 and "非常抱歉" in reply["text"] and reply["template_version"] == 2, reply
    assert api.audit_actions(f"template#{tid}") == [("template_draft", "li"), ("template_approve", "wang"),
                                                    ("template_edit", "zhao"), ("template_approve", "li")]
    api.audit_ok()


def test_a_template_is_rejected_with_a_reason_and_can_then_not_be_used(api: ReplyApi) -> None:
    tid = api.approved_template()
    conversation = api.open_conversation()
    status, body = api.call("POST", f"/templates/{tid}/reject", {"reason": ""}, as_="approver:zhou")
    assert status == 422 and "reason" in _fields(body), "a rejection needs a reason"
    status, body = api.call("POST", f"/templates/{tid}/reject", {"reason": "热线号码已停用"}, as_="author:zhao")
    assert status == 403, "authors do not reject"

    status, body = api.call("POST", f"/templates/{tid}/reject", {"reason": "热线号码已停用"}, as_="approver:zhou")
    assert status == 200 and body["state"] == "REJECTED", body
    assert (body["rejection"]["by"], body["rejection"]["reason"], body["rejection"]["version"]) == ("zhou", "热线号码已停用", 1)
    assert "approval" not in body and body["versions"][0]["state"] == "REJECTED"
    status, body = api.call("POST", f"/templates/{tid}/approve", {"version": 1}, as_="approver:zhou")
    assert status == 409, "a rejected template is not approved again without a new version"
    status, body = api.call("POST", f"/inbox/{conversation}/replies", {"template": tid, "values": VALUES})
    assert status == 409 and "REJECTED" in body["error"]
    assert api.call("GET", f"/inbox/{conversation}/replies")[1]["replies"] == [] and api.queued() == []
    assert api.audit_actions(f"template#{tid}") == [("template_draft", "li"), ("template_approve", "wang"),
                                                    ("template_reject", "zhou")]
    api.audit_ok()


# --- 2. and 3. replies: from a template by one author, free text by two ----------------------------------------

def test_a_template_reply_by_one_author_is_approved_at_once_and_queued_once(api: ReplyApi) -> None:
    tid = api.approved_template()
    conversation = api.open_conversation()
    assert api.queued() == []

    status, reply = api.call("POST", f"/inbox/{conversation}/replies", {"template": tid, "values": VALUES})
    assert status == 201, reply
    assert (reply["state"], reply["author"], reply["language"], reply["text"]) == ("APPROVED", "li", "zh", FILLED_ZH)
    assert (reply["template_id"], reply["template_version"], reply["values"]) == (tid, 1, VALUES)
    assert reply["conversation_id"] == conversation and reply["platform"] == "weibo"
    assert reply["target"]["native_id"] == "4990000000000001" and not reply.get("approval_required")
    assert api.queued() == [{"kind": "reply", "reply_id": reply["id"], "generation": 0}]

    api.clock.advance(timedelta(minutes=1))
    status, english = api.call("POST", f"/inbox/{conversation}/replies",
                               {"template": tid, "values": {"handle": "xiaowang", "hotline": "95555"}, "language": "en"})
    assert status == 201 and english["text"].startswith("xiaowang we are sorry") and english["language"] == "en"
    assert api.queued() == [{"kind": "reply", "reply_id": english["id"], "generation": 0}]

    status, stored = api.call("GET", f"/replies/{reply['id']}", as_="auditor:zhou")
    assert status == 200 and stored["state"] == "APPROVED" and stored["text"] == FILLED_ZH
    status, listing = api.call("GET", f"/inbox/{conversation}/replies", as_="oncall:chen")
    assert status == 200 and [r["id"] for r in listing["replies"]] == [reply["id"], english["id"]]
    assert {"pk", "sk", "queue"}.isdisjoint(listing["replies"][0])
    assert api.audit_actions(f"reply#{reply['id']}") == [("reply_from_template", "li")]
    api.audit_ok()


def test_a_person_writing_traditional_chinese_is_answered_in_it_else_in_simplified(api: ReplyApi) -> None:
    """The person's script first, the other Chinese script before English: never a converted text."""
    hant = "{handle} 您好，給您帶來不便深表歉意。請致電客服熱線 {hotline}，我們會盡快處理。"
    three_scripts = api.approved_template(text={**APOLOGY, "zh-Hant": hant})
    two_languages = api.approved_template(text=APOLOGY)
    conversation = api.open_conversation(language="zh-Hant", text="@ExampleBank 港灣銀行轉帳一直失敗，你們甚麼時候修好？")

    status, reply = api.call("POST", f"/inbox/{conversation}/replies", {"template": three_scripts, "values": VALUES})
    assert status == 201, reply
    assert (reply["language"], reply["text"]) == ("zh-Hant", hant.replace("{handle}", "@小王").replace("{hotline}", "95555"))
    assert reply["values"] == VALUES
    api.clock.advance(timedelta(minutes=1))
    status, fallback = api.call("POST", f"/inbox/{conversation}/replies", {"template": two_languages, "values": VALUES})
    assert status == 201 and (fallback["language"], fallback["text"]) == ("zh", FILLED_ZH)
    status, refused = api.call("POST", f"/inbox/{conversation}/replies",
                               {"template": two_languages, "values": VALUES, "language": "zh-Hant"})
    assert status == 422 and _fields(refused) == {"language"}, refused


@pytest.mark.parametrize(("text", "language"), [("您好，請致電客服熱線，我們會盡快處理。", "zh-Hant"),
                                              ("您好，请致电客服热线，我们会尽快处理。", "zh"),
                                              ("Hello, please call our hotline and we will help at once.", "en")])
def test_a_free_reply_to_a_post_in_no_known_language_is_in_the_language_it_is_written_in(
        api: ReplyApi, text: str, language: str) -> None:
    conversation = api.open_conversation(language="other", text="@ExampleBank 🙏🙏🙏")
    status, reply = api.call("POST", f"/inbox/{conversation}/replies", {"text": text})
    assert status == 201 and (reply["state"], reply["language"]) == ("AWAITING_APPROVAL", language), reply


def test_a_reply_the_queue_did_not_take_is_a_503_and_the_same_request_again_hands_the_same_reply_over(
        api: ReplyApi, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQS down while a template reply is made, or a free one approved: the reply is recorded, the answer is 503
    with Retry-After, and sending the same request again once SQS answers queues that reply, never a second."""
    tid = api.approved_template()
    conversation = api.open_conversation()
    request = {"template": tid, "values": VALUES}

    def sqs_down(down: bool) -> None:
        if down:
            monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9")  # a closed port: no answer
        else:
            monkeypatch.delenv("AWS_ENDPOINT_URL_SQS")
        reset_process_caches()

    sqs_down(True)
    status, body = api.call("POST", f"/inbox/{conversation}/replies", request)
    assert status == 503 and "send the same request again" in body["error"], body
    status, listing = api.call("GET", f"/inbox/{conversation}/replies", as_="auditor:zhou")
    [recorded] = listing["replies"]
    assert recorded["state"] == "APPROVED"
    status, again = api.call("POST", f"/inbox/{conversation}/replies", request)
    assert status == 503, "still down: still not handed over"
    sqs_down(False)
    status, reply = api.call("POST", f"/inbox/{conversation}/replies", request)
    assert status == 201 and reply["id"] == recorded["id"] and reply["state"] == "APPROVED", reply
    assert api.queued() == [{"kind": "reply", "reply_id": reply["id"], "generation": 0}]
    status, listing = api.call("GET", f"/inbox/{conversation}/replies", as_="auditor:zhou")
    assert [r["id"] for r in listing["replies"]] == [reply["id"]]
    assert api.audit_actions(f"reply#{reply['id']}") == [("reply_from_template", "li")]

    free = api.open_conversation(native_id="4990000000000002")
    status, draft = api.call("POST", f"/inbox/{free}/replies", {"text": "您好，转账已恢复。"})
    assert status == 201 and draft["state"] == "AWAITING_APPROVAL", draft
    sqs_down(True)
    status, body = api.call("POST", f"/replies/{draft['id']}/approve", as_="approver:wang")
    assert status == 503 and "send the same request again" in body["error"], body
    sqs_down(False)
    status, approved = api.call("POST", f"/replies/{draft['id']}/approve", as_="approver:wang")
    assert status == 200 and approved["state"] == "APPROVED" and approved["approver"] == "wang", approved
    assert api.queued() == [{"kind": "reply", "reply_id": draft["id"], "generation": 0}]
    api.audit_ok()


def test_a_free_reply_waits_for_a_second_person_and_is_queued_only_when_approved(api: ReplyApi) -> None:
    conversation = api.open_conversation()
    text = "您好，转账问题已修复，给您带来不便非常抱歉。"
    status, reply = api.call("POST", f"/inbox/{conversation}/replies", {"text": text})
    assert status == 201, reply
    assert (reply["state"], reply["approval_required"], reply["language"]) == ("AWAITING_APPROVAL", "free_text", "zh")
    assert api.queued() == [], "nothing is sent before the approval"

    status, body = api.call("POST", f"/replies/{reply['id']}/approve", as_="approver:li")
    assert status == 403 and "two-person" in body["error"], "its author may not approve it, even as an approver"
    assert api.call("GET", f"/replies/{reply['id']}")[1]["state"] == "AWAITING_APPROVAL" and api.queued() == []

    status, approved = api.call("POST", f"/replies/{reply['id']}/approve", as_="approver:wang")
    assert status == 200, approved
    assert (approved["state"], approved["approver"], approved["text"]) == ("APPROVED", "wang", text)
    assert api.queued() == [{"kind": "reply", "reply_id": reply["id"], "generation": 0}]
    assert api.call("GET", f"/replies/{reply['id']}", as_="auditor:zhou")[1]["state"] == "APPROVED"
    assert api.audit_actions(f"reply#{reply['id']}") == [("reply_draft", "li"), ("reply_approve", "wang")]
    api.audit_ok()


# --- 4. the CRISIS switch ----------------------------------------------------------------------------------

def test_at_crisis_a_template_reply_waits_for_approval(api: ReplyApi) -> None:
    tid = api.approved_template()
    conversation = api.open_conversation()
    api.set_level("harbor", "CRISIS")

    status, reply = api.call("POST", f"/inbox/{conversation}/replies", {"template": tid, "values": VALUES})
    assert status == 201, reply
    assert (reply["state"], reply["approval_required"], reply["crisis_topics"]) == ("AWAITING_APPROVAL", "crisis", ["harbor"])
    assert api.queued() == []
    status, approved = api.call("POST", f"/replies/{reply['id']}/approve", as_="approver:wang")
    assert status == 200 and approved["state"] == "APPROVED"
    assert api.queued() == [{"kind": "reply", "reply_id": reply["id"], "generation": 0}]
    assert api.audit_actions(f"reply#{reply['id']}") == [("reply_draft", "li"), ("reply_approve", "wang")]

    api.set_level("harbor", "WARNING")
    status, reply = api.call("POST", f"/inbox/{conversation}/replies", {"template": tid, "values": VALUES})
    assert status == 201 and reply["state"] == "APPROVED", "below CRISIS one author suffices"
    assert api.queued() == [{"kind": "reply", "reply_id": reply["id"], "generation": 0}]


def test_at_crisis_with_the_switch_off_a_template_reply_is_approved_at_once(api: ReplyApi) -> None:
    tid = api.approved_template()
    conversation = api.open_conversation()
    api.set_level("harbor", "CRISIS")
    api.configure(approve_every_reply_at_crisis=False)

    status, reply = api.call("POST", f"/inbox/{conversation}/replies", {"template": tid, "values": VALUES})
    assert status == 201, reply
    assert reply["state"] == "APPROVED" and not reply.get("approval_required") and reply["crisis_topics"] == ["harbor"]
    assert api.queued() == [{"kind": "reply", "reply_id": reply["id"], "generation": 0}]
    status, free = api.call("POST", f"/inbox/{conversation}/replies", {"text": "您好，我们正在处理。"})
    assert status == 201 and free["state"] == "AWAITING_APPROVAL", "the switch never frees a free reply"
    assert api.queued() == []

    api.configure(approve_every_reply_at_crisis=True)
    status, again = api.call("POST", f"/inbox/{conversation}/replies", {"template": tid, "values": VALUES})
    assert status == 201 and again["id"] == reply["id"] and api.queued() == [
        {"kind": "reply", "reply_id": reply["id"], "generation": 0}], "the same reply again, unsent yet: the same reply"
    status, reply = api.call("POST", f"/inbox/{conversation}/replies",
                             {"template": tid, "values": {**VALUES, "handle": "@小王2"}})
    assert status == 201 and reply["state"] == "AWAITING_APPROVAL", "the switch is read on each reply"
    assert api.queued() == []


# --- 5. refusals -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("values", "field"), [
    ({"handle": "@小王 {hotline}", "hotline": "95555"}, "values.handle"),     # template syntax
    ({"handle": "@小王"}, "values.hotline"),                                   # missing
    ({"handle": "@小王", "hotline": "95555", "branch": "浦东"}, "values.branch"),  # not declared
])
def test_placeholder_values_no_approval_can_mend_are_refused_naming_the_value(
        api: ReplyApi, values: dict[str, str], field: str) -> None:
    tid = api.approved_template()
    conversation = api.open_conversation()
    status, body = api.call("POST", f"/inbox/{conversation}/replies", {"template": tid, "values": values})
    assert status == 422 and _fields(body) == {field}, body
    assert api.call("GET", f"/inbox/{conversation}/replies")[1]["replies"] == [] and api.queued() == []


@pytest.mark.parametrize(("values", "field"), [
    ({"handle": "小王!", "hotline": "95555"}, "values.handle"),               # not a full match of the pattern
    ({"handle": "@小王", "hotline": "9555x"}, "values.hotline"),              # not a full match of the pattern
    ({"handle": "@小王", "hotline": "955550"}, "values.hotline"),             # over max 5
    ({"handle": "a" * 32, "hotline": "95555"}, "values.handle"),             # over max 31
])
def test_placeholder_values_outside_their_rules_wait_for_a_second_person_naming_the_value(
        api: ReplyApi, values: dict[str, str], field: str) -> None:
    tid = api.approved_template()
    conversation = api.open_conversation()
    status, body = api.call("POST", f"/inbox/{conversation}/replies", {"template": tid, "values": values})
    assert status == 201, body
    assert (body["state"], body["approval_required"]) == ("AWAITING_APPROVAL", "values_outside_rules")
    assert [p["field"] for p in body["values_outside_rules"]] == [field] and api.queued() == []


def test_a_reply_too_long_for_the_platform_is_refused(api: ReplyApi) -> None:
    tid = api.approved_template(text={"zh": "{handle} " + "您" * 135}, placeholders={"handle": RULES["handle"]})
    conversation = api.open_conversation("weibo", "4990000000000002")
    status, body = api.call("POST", f"/inbox/{conversation}/replies", {"text": "抱" * 200})
    assert status == 422, body
    [problem] = body["details"]
    assert (problem["platform"], problem["length"], problem["limit"]) == ("weibo", 400, 280)
    status, body = api.call("POST", f"/inbox/{conversation}/replies",
                            {"template": tid, "values": {"handle": "@" + "王" * 10}})
    assert status == 422 and body["details"][0]["platform"] == "weibo", "a filled template is measured too"
    status, fits = api.call("POST", f"/inbox/{conversation}/replies", {"template": tid, "values": {"handle": "@王"}})
    assert status == 201 and fits["state"] == "APPROVED", "135 Chinese characters and a short handle fit in 140"
    assert [r["id"] for r in api.call("GET", f"/inbox/{conversation}/replies")[1]["replies"]] == [fits["id"]]
    assert api.queued() == [{"kind": "reply", "reply_id": fits["id"], "generation": 0}]


def test_unknown_ids_are_404_and_malformed_ids_are_refused(api: ReplyApi) -> None:
    conversation = api.open_conversation()
    unknown_template, unknown_reply = "tp-0123456789abcdef", "rp-0123456789abcdef"
    assert api.call("GET", f"/templates/{unknown_template}")[0] == 404
    assert api.call("PUT", f"/templates/{unknown_template}/draft", {"text": APOLOGY, "placeholders": RULES})[0] == 404
    assert api.call("POST", f"/templates/{unknown_template}/approve", {"version": 1}, as_="approver:wang")[0] == 404
    assert api.call("POST", f"/templates/{unknown_template}/reject", {"reason": "no"}, as_="approver:wang")[0] == 404
    assert api.call("GET", f"/replies/{unknown_reply}")[0] == 404
    assert api.call("POST", f"/replies/{unknown_reply}/approve", as_="approver:wang")[0] == 404
    assert api.call("POST", "/inbox/weibo:4990000000009999/replies", {"text": "您好"})[0] == 404
    assert api.call("GET", "/inbox/weibo:4990000000009999/replies")[0] == 404
    status, body = api.call("POST", f"/inbox/{conversation}/replies", {"template": unknown_template, "values": VALUES})
    assert status == 422 and _fields(body) == {"template"}, "a reply naming no template is refused, naming it"

    # "weibo:~NDk5" is the plain id 499 spelt in base64: one post has one path, so it names none.
    for path in ("/inbox/weibo:~NDk5/replies", "/inbox/weibo:~_w/replies"):
        status, body = api.call("POST", path, {"text": "您好"})
        assert status == 400 and _fields(body) == {"conversation_id"}, (path, body)
    # A template or reply id that breaks its pattern is refused by the path's validation, naming it.
    for method, path, field in (("GET", "/templates/tp-XYZ", "path.template_id"),
                                ("POST", "/templates/tp-1/approve", "path.template_id"),
                                ("GET", "/replies/rp-123", "path.reply_id"),
                                ("GET", f"/replies/{unknown_template}", "path.reply_id"),
                                ("POST", "/replies/rp-0123456789ABCDEF/approve", "path.reply_id")):
        status, body = api.call(method, path, {"version": 1} if method == "POST" else None, as_="approver:wang")
        assert status == 422 and _fields(body) == {field}, (path, body)
    assert api.call("GET", f"/inbox/{conversation}/replies")[1]["replies"] == [] and api.queued() == []


@pytest.mark.parametrize("who", ["approver:wang", "auditor:zhou"])
def test_a_reply_by_a_caller_who_is_no_author_is_refused_before_the_body_is_read(api: ReplyApi, who: str) -> None:
    tid = api.approved_template()
    conversation = api.open_conversation()
    status, body = api.call("POST", f"/inbox/{conversation}/replies", raw='{"template": "' + tid + '", "values": {', as_=who)
    assert status == 403, body
    status, body = api.call("POST", "/templates", raw="{not json at all", as_=who)
    assert status == 403, body
    status, body = api.call("POST", f"/inbox/{conversation}/replies", raw="{not json at all")
    assert status == 422, "the same broken body from an author is read, and refused as invalid"
    assert api.call("GET", f"/inbox/{conversation}/replies", as_=who)[1]["replies"] == [] and api.queued() == []

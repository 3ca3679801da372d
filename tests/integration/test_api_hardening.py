"""Findings of a hostile review of the desk API, each reproduced against the real handler on local AWS."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import pytest

from crisiscomms.statements import rules

from .conftest import DeskClient

pytestmark = pytest.mark.integration
TEXT = {"en": {"full": "Harbor Bank statement: all accounts are available.", "short": "All accounts are available."}}


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# --- 1. list cursors: opaque, validated, a 400 naming `next` when bad ------------------------------

@pytest.mark.parametrize("cursor", [
    "foo", "{}", "[1]", "null", "%7B%7D",
    json.dumps({"pk": {"S": "statement#st-0000000000000000"}, "sk": {"S": "meta"}}),  # the old, raw key layout
    json.dumps({"list_pk": {"N": "1"}}),
    _b64("{}"), _b64("[1]"), _b64("null"), _b64('["2026-01-01T00:00:00+00:00"]'),
    _b64('["not a date", "st-0000000000000000"]'), _b64('["2026-01-01T00:00:00+00:00", "statement#x"]'),
    _b64('["2026-01-01T00:00:00+00:00", 7]'), "\u00ff\u00fe", "A" * 300,
])
def test_a_bad_list_cursor_is_a_400_naming_next(desk: DeskClient, cursor: str) -> None:
    from urllib.parse import quote

    status, body = desk.call("GET", "/statements", query="next=" + quote(cursor), as_="auditor:zhou")
    assert status == 400, body
    assert body["details"] == [{"field": "next", "reason": body["details"][0]["reason"]}]


def test_list_cursors_are_opaque_and_page_through_every_statement(desk: DeskClient) -> None:
    made = [desk.draft(TEXT, ["newsroom"])["id"] for _ in range(3)]
    seen, query = [], "limit=1"
    for _ in range(100):
        status, page = desk.call("GET", "/statements", query=query, as_="auditor:zhou")
        assert status == 200, page
        seen += [s["id"] for s in page["statements"]]
        if not page["next"]:
            break
        assert "statement#" not in page["next"] and "pk" not in page["next"] and "{" not in page["next"]
        query = f"limit=1&next={page['next']}"
    assert set(made) <= set(seen) and len(seen) == len(set(seen)), "every statement once"
    # A cursor naming a position that exists nowhere is harmless: it starts after that position.
    forged = _b64(json.dumps([datetime(2000, 1, 1, tzinfo=timezone.utc).isoformat(), "st-0123456789abcdef"]))
    status, page = desk.call("GET", "/statements", query=f"next={forged}", as_="auditor:zhou")
    assert status == 200 and page["statements"] == []
    assert desk.call("GET", "/statements", query="next=", as_="auditor:zhou")[0] == 200


# --- 2. nesting ----------------------------------------------------------------------------------

def test_a_deeply_nested_body_is_refused_before_it_is_parsed(desk: DeskClient) -> None:
    for raw in ("[" * 5000 + "]" * 5000, '{"text":' * 5000 + "1" + "}" * 5000, "[" * 33 + "]" * 33):
        status, body = desk.call("POST", "/statements", raw=raw, as_="author:li")
        assert status == 422, (status, body)
        assert body["details"][0]["field"] == "body" and "nested" in body["details"][0]["reason"]
    # brackets inside strings do not count
    text = {"en": {"full": "[" * 100 + " {{{ " * 50, "short": "ok"}}
    status, body = desk.call("POST", "/statements", {"channels": ["newsroom"], "text": text}, as_="author:li")
    assert status == 201, body


# --- 3. versions: capped, and responses carry only the current text ------------------------------

def test_the_versions_of_a_statement_are_capped_with_a_409_naming_the_cap(desk: DeskClient, monkeypatch) -> None:
    assert rules.MAX_VERSIONS == 50
    monkeypatch.setattr(rules, "MAX_VERSIONS", 3)
    sid = desk.draft(TEXT, ["newsroom"])["id"]
    for version in (2, 3):
        status, body = desk.call("PUT", f"/statements/{sid}/draft", {"text": TEXT}, as_="author:li")
        assert status == 200 and body["current_version"] == version
    status, body = desk.call("PUT", f"/statements/{sid}/draft", {"text": TEXT}, as_="author:li")
    assert status == 409 and "at most 3 versions" in body["error"]
    assert desk.get(sid)["current_version"] == 3


def test_responses_carry_the_current_text_and_older_texts_have_their_own_route(desk: DeskClient) -> None:
    long = "Harbor Bank statement. " * 850  # 19,550 characters
    sid = desk.draft({"en": {"full": long[:19_500], "short": "v1"}}, ["newsroom"])["id"]
    for n in range(2, 16):
        status, body = desk.call("PUT", f"/statements/{sid}/draft", {"text": {"en": {"full": long[:19_500], "short": f"v{n}"}}},
                                 as_="author:li")
        assert status == 200, body
    size = len(json.dumps(body).encode())
    assert size < 60_000, f"an edit's answer is {size} bytes"  # was 1.87 MB: every version's full text
    assert [v["version"] for v in body["versions"]] == list(range(1, 16))
    assert [v["version"] for v in body["versions"] if "text" in v] == [15]
    assert body["versions"][-1]["text"]["en"]["short"] == "v15"
    assert all(len(v["text_hash"]) == 64 and v["author"] == "li" and v["created_at"] for v in body["versions"])
    status, v1 = desk.call("GET", f"/statements/{sid}/versions/1", as_="approver:wang")
    assert status == 200 and v1["text"]["en"]["short"] == "v1" and v1["version"] == 1
    assert v1["text_hash"] == body["versions"][0]["text_hash"]
    assert desk.call("GET", f"/statements/{sid}/versions/16", as_="auditor:zhou")[0] == 404
    assert desk.call("GET", "/statements/st-0000000000000000/versions/1", as_="auditor:zhou")[0] == 404
    assert desk.call("GET", f"/statements/{sid}/versions/1", as_="oncall:chen")[0] == 403
    assert desk.call("GET", f"/statements/{sid}/versions/0", as_="auditor:zhou")[0] == 422


# --- 4. strict input, invisible and control characters, the role before the body ---------------

@pytest.mark.parametrize("version", [True, "1", 1.0, "one"])
def test_the_approved_version_must_be_an_integer(desk: DeskClient, version) -> None:
    sid = desk.draft(TEXT, ["newsroom"])["id"]
    status, body = desk.call("POST", f"/statements/{sid}/approve", {"version": version}, as_="approver:wang")
    assert status == 422 and body["details"][0]["field"] == "version", body
    assert desk.get(sid)["state"] == "DRAFT"


@pytest.mark.parametrize(("text", "title", "field"), [
    ("\u200b\u200b\u200b", None, "text.en.full"),
    ("\u200b \u2060\ufeff\u3164", None, "text.en.full"),
    ("Harbor Bank \u202etnemetats", None, "text.en.full"),
    ("Harbor Bank \u2066isolate\u2069", None, "text.en.full"),
    ("Harbor Bank\x07 statement", None, "text.en.full"),
    ("Harbor Bank\x85 statement", None, "text.en.full"),
    ("Harbor Bank\x7f statement", None, "text.en.full"),
    ("Harbor Bank statement", "\u200b", "title"),
    ("Harbor Bank statement", "Title \u202e", "title"),
])
def test_invisible_or_control_characters_are_refused_naming_the_field(desk: DeskClient, text: str, title, field: str) -> None:
    body = {"channels": ["newsroom"], "text": {"en": {"full": text, "short": "ok"}}}
    if title is not None:
        body["title"] = title
    status, answer = desk.call("POST", "/statements", body, as_="author:li")
    assert status == 422, answer
    assert field in [d["field"] for d in answer["details"]], answer


def test_a_rejection_reason_must_be_visible(desk: DeskClient) -> None:
    sid = desk.draft(TEXT, ["newsroom"])["id"]
    status, answer = desk.call("POST", f"/statements/{sid}/reject", {"reason": "\u200b\u200c"}, as_="approver:wang")
    assert status == 422 and answer["details"][0]["field"] == "reason"


def test_newlines_tabs_and_chinese_stay_welcome(desk: DeskClient) -> None:
    text = {"zh": {"full": "港湾银行声明：\n\t所有账户正常。", "short": "港湾银行：账户正常。"}}
    assert desk.call("POST", "/statements", {"channels": ["newsroom"], "text": text, "title": "声明"}, as_="author:li")[0] == 201


@pytest.mark.parametrize(("method", "path", "who"), [
    ("POST", "/statements", "approver:wang"), ("POST", "/statements", "oncall:chen"),
    ("PUT", "/statements/st-0000000000000000/draft", "approver:wang"),
    ("POST", "/statements/st-0000000000000000/approve", "author:li"),
    ("POST", "/statements/st-0000000000000000/reject", "auditor:zhou"),
    ("POST", "/statements/not-an-id/corrections", "approver:wang"),
    ("POST", "/alerts/harbor-20261128-0922/ack", "author:li"),
])
def test_the_role_is_checked_before_the_body(desk: DeskClient, method: str, path: str, who: str) -> None:
    status, answer = desk.call(method, path, raw='{"nonsense": [1, 2, 3], "version": "x"}', as_=who)
    assert status == 403, answer
    assert "details" not in answer


def test_alerts_honour_limit(desk: DeskClient) -> None:
    from crisiscomms.aws.alert_store import AlertRepository
    from crisiscomms.aws.audit_log import AuditLog
    from crisiscomms.aws.clients import AwsClients
    from crisiscomms.models.audit import AuditEntry

    refs = desk.world.stack.refs
    repo = AlertRepository(refs["AlertsTable"], refs["StateTable"],
                           AuditLog(refs["AuditTable"], refs["StateTable"], clients=AwsClients(), sleep=lambda s: None))
    for minute in range(5):
        at = datetime(2026, 11, 28, 9, minute, tzinfo=timezone.utc)
        alert_id = f"harbor-20261128-09{minute:02d}"
        repo.create({"alert_id": alert_id, "topic": "harbor", "status": "TRIGGERED", "level": "WARNING",
                     "triggered_at": at.isoformat()},
                    AuditEntry(actor="detector", role="system", action="alert_triggered", target=f"alert#{alert_id}", at=at))
    status, body = desk.call("GET", "/alerts", query="topic=harbor&limit=2", as_="oncall:chen")
    assert status == 200 and [a["alert_id"] for a in body["alerts"]] == ["harbor-20261128-0904", "harbor-20261128-0903"]
    status, body = desk.call("GET", "/alerts", query="topic=harbor", as_="auditor:zhou")
    assert status == 200 and len(body["alerts"]) == 5


# --- AWS not answering: a 503 the desk can retry, never an internal error -------------------------------

@pytest.mark.parametrize("service", ["dynamodb", "sqs"])
def test_aws_not_answering_is_a_503_with_retry_after_and_the_desk_works_again_after(desk: DeskClient, service: str,
                                                                                    monkeypatch) -> None:
    from crisiscomms_local.aws import reset_process_caches

    sid = desk.draft(TEXT, ["newsroom"])["id"]
    status, _ = desk.call("POST", f"/statements/{sid}/approve", {"version": 1}, as_="approver:wang")
    assert status == 200
    monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service.upper()}", "http://127.0.0.1:9")  # a closed port: no answer
    reset_process_caches()
    status, body = desk.call("POST", f"/statements/{sid}/publish", as_="approver:wang")  # writes, then queues
    assert status == 503 and "did not answer" in body["error"], body
    monkeypatch.delenv(f"AWS_ENDPOINT_URL_{service.upper()}")
    reset_process_caches()
    status, body = desk.call("POST", f"/statements/{sid}/publish", as_="approver:wang")
    assert status == 202, body  # publishing again sends what the first call recorded but could not queue
    desk.world.pump()
    statement = desk.get(sid)
    assert statement["state"] == "PUBLISHED" and {d["state"] for d in statement["deliveries"]} == {"SENT"}, statement


def test_only_aws_not_answering_is_taken_for_unavailable() -> None:
    from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ParamValidationError

    from crisiscomms.aws.clients import aws_unavailable

    def refused(status: int, code: str) -> ClientError:
        return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutItem")

    assert aws_unavailable(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"))
    assert aws_unavailable(ConnectionClosedError(endpoint_url="http://127.0.0.1:9"))
    assert aws_unavailable(refused(500, "InternalServerError")) and aws_unavailable(refused(503, "ServiceUnavailable"))
    assert aws_unavailable(refused(400, "ProvisionedThroughputExceededException"))
    assert aws_unavailable(refused(400, "ThrottlingException"))
    assert not aws_unavailable(refused(400, "ConditionalCheckFailedException"))
    assert not aws_unavailable(refused(400, "ValidationException"))
    assert not aws_unavailable(refused(403, "AccessDeniedException"))
    assert not aws_unavailable(ParamValidationError(report="bad"))
    assert not aws_unavailable(KeyError("x"))

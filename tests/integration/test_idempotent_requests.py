"""A desk client that did not hear an answer sends the same request again with the same Idempotency-Key:
the real API handler on local AWS answers it once, and refuses a key reused for another request."""
from __future__ import annotations

import json
import os
from typing import Any

import pytest

from crisiscomms_local.apigw import rest_event
from crisiscomms_local.aws import client
from crisiscomms_local.lambda_runtime import invoke

from .conftest import DeskClient

pytestmark = pytest.mark.integration
TEXT = {"en": {"full": "Harbor Bank statement: all accounts are available.", "short": "All accounts are available."}}
DRAFT = {"channels": ["newsroom"], "text": TEXT}


def _send(method: str, path: str, body: Any = None, *, key: str | None, user: str = "li",
          groups: tuple[str, ...] = ("comms-author",)) -> tuple[int, Any, dict[str, Any]]:
    headers = {"Idempotency-Key": key} if key is not None else {}
    result = invoke("api", rest_event(method, path, body=body, user=user, groups=list(groups), headers=headers))
    return result["statusCode"], json.loads(result["body"]) if result.get("body") else None, result


def _statements(desk: DeskClient) -> list[dict[str, Any]]:
    status, body = desk.call("GET", "/statements", as_="auditor:zhou")
    assert status == 200, body
    return body["statements"]


def _replayed(result: dict[str, Any]) -> bool:
    return (result.get("multiValueHeaders") or {}).get("Idempotent-Replayed") == ["true"]


def test_a_draft_sent_twice_with_one_key_is_drafted_once_and_answered_alike(desk: DeskClient) -> None:
    first = _send("POST", "/statements", DRAFT, key="draft-7f3a")
    again = _send("POST", "/statements", DRAFT, key="draft-7f3a")
    assert first[0] == again[0] == 201 and first[1] == again[1]
    assert not _replayed(first[2]) and _replayed(again[2])
    assert [s["id"] for s in _statements(desk)] == [first[1]["id"]]
    # another key, or none, is another request
    assert _send("POST", "/statements", DRAFT, key="draft-8b21")[1]["id"] != first[1]["id"]
    assert _send("POST", "/statements", DRAFT, key=None)[0] == 201
    assert len(_statements(desk)) == 3
    # kept where the API's role may reach (LeadingKeys api#*), apart from the Publisher's delivery records
    kept = client("dynamodb").scan(TableName=desk.world.stack.refs["IdempotencyTable"])["Items"]
    assert len(kept) == 2 and all(item["id"]["S"].startswith("api#") for item in kept), kept


def test_an_approval_repeated_with_its_key_approves_once(desk: DeskClient) -> None:
    sid = desk.draft(TEXT, ["newsroom"])["id"]
    approve = {"version": 1}
    first = _send("POST", f"/statements/{sid}/approve", approve, key="ok-1", user="wang", groups=("comms-approver",))
    again = _send("POST", f"/statements/{sid}/approve", approve, key="ok-1", user="wang", groups=("comms-approver",))
    # the repeat hears the first answer (run again it would be a 409: the statement is no longer a draft)
    assert first[0] == again[0] == 200 and first[1] == again[1] and _replayed(again[2])
    assert _send("POST", f"/statements/{sid}/approve", approve, key=None, user="wang", groups=("comms-approver",))[0] == 409
    assert desk.get(sid)["approval"]["approver"] == "wang"


def test_a_key_reused_for_another_body_is_refused_naming_the_header(desk: DeskClient) -> None:
    assert _send("POST", "/statements", DRAFT, key="k-1")[0] == 201
    other = {"channels": ["newsroom"], "text": {"en": {**TEXT["en"], "short": "Accounts are available."}}}
    status, body, _ = _send("POST", "/statements", other, key="k-1")
    assert status == 422 and body["details"][0]["field"] == "Idempotency-Key", body
    assert len(_statements(desk)) == 1


def test_keys_are_per_person_and_a_refused_request_is_answered_alike_again(desk: DeskClient) -> None:
    assert _send("POST", "/statements", DRAFT, key="shared", user="li")[0] == 201
    assert _send("POST", "/statements", DRAFT, key="shared", user="zhao")[0] == 201
    assert len(_statements(desk)) == 2
    bad = {"channels": ["newsroom"], "text": {}}
    first, again = _send("POST", "/statements", bad, key="bad-1"), _send("POST", "/statements", bad, key="bad-1")
    assert first[0] == again[0] == 422 and first[1] == again[1] and _replayed(again[2])


@pytest.mark.parametrize("key", ["", "x" * 65, "has space", "ключ", "a/b"])
def test_a_malformed_key_is_a_400_naming_the_header(desk: DeskClient, key: str) -> None:
    status, body, _ = _send("POST", "/statements", DRAFT, key=key)
    assert status == 400 and body["details"][0]["field"] == "Idempotency-Key", body
    assert _statements(desk) == []


def test_an_answer_aws_could_not_give_is_not_kept_and_the_retry_drafts(desk: DeskClient) -> None:
    from crisiscomms_local.aws import reset_process_caches

    saved = os.environ.get("AWS_ENDPOINT_URL_SQS")
    os.environ["AWS_ENDPOINT_URL_SQS"] = "http://127.0.0.1:9"        # the statement table answers, SQS does not
    reset_process_caches()
    try:
        sid = desk.draft(TEXT, ["newsroom"])["id"]
        assert _send("POST", f"/statements/{sid}/approve", {"version": 1}, key=None, user="wang",
                     groups=("comms-approver",))[0] == 200
        status, body, result = _send("POST", f"/statements/{sid}/publish", key="pub-1", user="wang",
                                     groups=("comms-approver",))
        assert status == 503, body
        retry_after = (result.get("headers") or {}).get("Retry-After") or (result.get("multiValueHeaders") or {}).get("Retry-After")
        assert retry_after, result       # as on every route: try again, and when
    finally:
        if saved is None:
            os.environ.pop("AWS_ENDPOINT_URL_SQS")
        else:
            os.environ["AWS_ENDPOINT_URL_SQS"] = saved
        reset_process_caches()
    status, body, result = _send("POST", f"/statements/{sid}/publish", key="pub-1", user="wang", groups=("comms-approver",))
    assert status == 202 and not _replayed(result), body


def test_the_largest_draft_the_api_takes_is_kept_and_replayed(desk: DeskClient) -> None:
    """Its answer (the text and every channel's rendering) must fit one idempotency record (DynamoDB: 400 KB)."""
    zh = "港湾银行声明：所有账户正常，资金安全。" * 1000          # 20,000 characters, 60 KB in UTF-8
    text = {"zh": {"full": zh[:20_000], "short": zh[:140]}, "en": {"full": ("All accounts are available. " * 800)[:6_000],
                                                                   "short": "All accounts are available."}}
    channels = ["newsroom", "x", "weibo", "wechat", "mastodon", "bluesky", "telegram", "webhook"]
    draft = {"channels": channels, "text": text}
    assert len(json.dumps(draft, ensure_ascii=False).encode()) < 64 * 1024
    first = _send("POST", "/statements", draft, key="big-1")
    again = _send("POST", "/statements", draft, key="big-1")
    assert len(first[2]["body"].encode()) < 200_000     # about 120 KB: the record has room to spare
    assert first[0] == again[0] == 201 and first[1] == again[1] and _replayed(again[2]), first[1]

"""Findings of a hostile review of the desk API and its local server, reproduced without local AWS."""
from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pydantic import ValidationError

from crisiscomms.api import ApiServices, handle
from crisiscomms.statements.holding import HoldingRequest
from crisiscomms.statements.rules import ApproveRequest, CorrectionRequest, DraftRequest, RejectRequest
from crisiscomms_local.apigw import rest_event
from crisiscomms_local.openapi import OPENAPI_PATH


def _no_desk() -> Any:
    raise AssertionError("the desk must not be reached")


NO_DESK = ApiServices(desk=_no_desk, alerts=_no_desk, verify_audit=_no_desk)


def _call(method: str, path: str, *, raw: str | None = None, groups: list[str], query: str = "") -> tuple[int, dict]:
    result = handle(rest_event(method, path, body=raw, user="someone", groups=groups, query=query), None, NO_DESK)
    return result["statusCode"], json.loads(result["body"])


# --- nesting -------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["[" * 5000 + "]" * 5000, '{"a":' * 5000 + "1" + "}" * 5000, "[" * 5000, "[{" * 17 + "}]" * 17])
def test_deep_nesting_is_refused_with_422_before_parsing(raw: str) -> None:
    assert len(raw) <= 64 * 1024
    status, body = _call("POST", "/statements", raw=raw, groups=["comms-author"])
    assert status == 422 and body["details"][0]["field"] == "body"


def test_brackets_inside_strings_are_not_nesting() -> None:
    from crisiscomms.api import nesting_deeper_than

    assert not nesting_deeper_than(json.dumps({"a": "[" * 1000, "b": ['{"\\"[[['] * 3}), 32)
    assert nesting_deeper_than("[" * 33 + "]" * 33, 32) and not nesting_deeper_than("[" * 32 + "]" * 32, 32)


# --- the role before the body --------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "groups"), [
    ("POST", "/statements", ["comms-approver"]),
    ("POST", "/statements/st-0000000000000000/approve", ["comms-author"]),
    ("PUT", "/statements/st-0000000000000000/draft", ["auditor"]),
    ("POST", "/statements/st-0000000000000000/corrections", []),
    ("GET", "/statements/st-0000000000000000/versions/1", ["oncall"]),
    ("GET", "/alerts", ["comms-author"]),
])
def test_a_caller_without_the_role_learns_nothing_about_the_body(method: str, path: str, groups: list[str]) -> None:
    status, body = _call(method, path, raw='{"version": "x", "extra": 1}', groups=groups)
    assert status == 403 and "details" not in body, body


# --- strict models and visible text --------------------------------------------------------------

@pytest.mark.parametrize("version", [True, "1", 1.5, None])
def test_the_approved_version_is_a_strict_integer(version: Any) -> None:
    with pytest.raises(ValidationError):
        ApproveRequest.model_validate({"version": version})
    assert ApproveRequest.model_validate({"version": 1}).version == 1


@pytest.mark.parametrize("text", ["\u200b", "\u200b\u200c\u200d\u2060\ufeff", " \u3000\u00a0", "\u3164\u115f",
                                  "a\u202eb", "a\u202ab", "a\u2066b", "a\u2069b", "a\x00b", "a\x1bb", "a\rb", "a\x7fb",
                                  "a\x9bb"])
def test_invisible_text_and_control_characters_are_refused(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        DraftRequest.model_validate({"channels": ["x"], "text": {"en": {"full": text, "short": "ok"}}})
    assert caught.value.errors()[0]["loc"] == ("text", "en", "full")
    with pytest.raises(ValidationError):
        DraftRequest.model_validate({"channels": ["x"], "text": {"en": {"full": "ok", "short": "ok"}}, "title": text})
    with pytest.raises(ValidationError):
        RejectRequest.model_validate({"reason": text})


def test_ordinary_text_is_accepted() -> None:
    request = DraftRequest.model_validate({"channels": ["x"], "title": "港湾银行 😀",
                                           "text": {"zh": {"full": "港湾银行声明：\n\t所有账户正常。", "short": "账户正常 👍🏽"},
                                                    "en": {"full": "Harbor Bank — all accounts are available.", "short": "e\u0301"}}})
    assert request.text.zh is not None


@pytest.mark.parametrize("ref", ["s1", "2027-03-声明-1", "HK/holding#2", "x" * 64])
def test_an_authors_reference_may_be_written_in_any_script(ref: str) -> None:
    text = {"en": {"full": "ok", "short": "ok"}}
    assert DraftRequest.model_validate({"channels": ["x"], "text": text, "ref": ref}).ref == ref
    assert CorrectionRequest.model_validate({"text": text, "ref": ref}).ref == ref
    assert HoldingRequest.model_validate({"template": "tp-0123456789abcdef", "channels": ["x"], "ref": ref}).ref == ref


@pytest.mark.parametrize("ref", ["", "s 1", "s\t1", "s\u00851", "x" * 65])
def test_an_authors_reference_without_whitespace_or_control_characters(ref: str) -> None:
    with pytest.raises(ValidationError) as caught:
        DraftRequest.model_validate({"channels": ["x"], "text": {"en": {"full": "ok", "short": "ok"}}, "ref": ref})
    assert caught.value.errors()[0]["loc"] == ("ref",)


# --- list cursors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cursor", ["foo", "{}", "[1]", "null", "eyJwayI6IHt9fQ", "W10", "WyIiLCIiXQ", "////", "a" * 300])
def test_a_cursor_the_api_did_not_issue_is_refused_naming_next(cursor: str) -> None:
    from crisiscomms.aws.statement_store import decode_cursor
    from crisiscomms.errors import InvalidParameter

    with pytest.raises(InvalidParameter) as caught:
        decode_cursor(cursor)
    assert caught.value.status == 400 and caught.value.details[0]["field"] == "next"


def test_a_cursor_round_trips_without_showing_the_key_layout() -> None:
    from crisiscomms.aws.dynamo import to_item
    from crisiscomms.aws.statement_store import decode_cursor, encode_cursor

    key = to_item({"pk": "statement#st-0123456789abcdef", "sk": "meta", "list_pk": "statement",
                   "created_at": "2026-11-28T09:30:00+00:00"})
    cursor = encode_cursor(key)
    assert "statement" not in cursor and "pk" not in cursor and decode_cursor(cursor) == key


# --- the OpenAPI document describes every status ----------------------------------------------------

def test_the_document_names_every_status_a_route_can_answer() -> None:
    paths = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert {"400", "403", "413", "422"} <= statuses, (method, path)
            if "{statement_id}" in path or "{alert_id}" in path:
                assert "404" in statuses, (method, path)
            if method in ("post", "put"):
                # drafting a statement or a Q&A entry, asking for an export or a report creates a new item
                # under a new id: nothing to conflict with
                creates = ("/statements", "/qa-entries", "/audit/exports", "/topics/{topic}/reports")
                assert {"409", "503"} <= statuses or path in creates and "503" in statuses, (method, path)
    assert "get" in paths["/statements/{statement_id}/versions/{version}"]


# --- the local server ------------------------------------------------------------------------------

@pytest.fixture
def server_with(request: pytest.FixtureRequest):
    from crisiscomms_local.serve import ApiServer
    from crisiscomms_local.servers import shutdown_promptly

    servers = []

    def start(call_api) -> ApiServer:
        server = ApiServer(0, call_api, quiet=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        shutdown_promptly(server)
        server.server_close()


def _request(server, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_the_local_server_calls_the_handler_one_request_at_a_time(server_with) -> None:
    inside, most = 0, 0
    guard = threading.Lock()

    def call_api(event: dict) -> dict:
        nonlocal inside, most
        with guard:
            inside += 1
            most = max(most, inside)
        time.sleep(0.01)
        with guard:
            inside -= 1
        return {"statusCode": 201, "multiValueHeaders": {"Content-Type": ["application/json"]}, "body": "{}"}

    server = server_with(call_api)
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: _request(server, "POST", "/statements", b"{}")[0], range(20)))
    assert answers == [201] * 20 and most == 1


def test_the_local_server_answers_invalid_utf8_with_400(server_with) -> None:
    server = server_with(lambda event: pytest.fail("the handler must not be called"))
    status, headers, body = _request(server, "POST", "/statements", b'{"text": "\xff\xfe"}')
    assert status == 400 and headers["content-type"] == "application/json"
    assert json.loads(body)["details"][0]["field"] == "body"


def test_the_local_server_passes_multi_value_headers_through(server_with) -> None:
    server = server_with(lambda event: {"statusCode": 503, "headers": {"Retry-After": "2"},
                                        "multiValueHeaders": {"Content-Type": ["application/json"], "X-Two": ["a", "b"]},
                                        "body": '{"error": "busy"}'})
    status, headers, body = _request(server, "GET", "/statements")
    assert status == 503 and headers["content-type"] == "application/json" and headers["retry-after"] == "2"
    assert headers["x-two"] in ("a, b", "b") and json.loads(body) == {"error": "busy"}

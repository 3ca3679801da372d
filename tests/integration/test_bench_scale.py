"""What the scale work changed in local AWS and the emulators behaves as before, and the benchmark runs end to end."""
from __future__ import annotations

import http.client
import json
import socket
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from crisiscomms.clock import SimulatedClock
from crisiscomms_local import aws as local_aws_module
from crisiscomms_local.aws import client, request_counts
from crisiscomms_local.emulators import NewsEmulator, XEmulator

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)


def _signed(stack, target: str, body: dict) -> tuple[dict, bytes]:
    """Headers and body of a request botocore signed, captured before it was sent."""
    captured: dict = {}
    dynamodb = client("dynamodb")

    def capture(request, **_):
        captured["headers"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
        captured["body"] = request.body

    dynamodb.meta.events.register(f"before-send.dynamodb.{target}", capture)
    try:
        getattr(dynamodb, {"GetItem": "get_item", "PutItem": "put_item"}[target])(**body)
    except Exception:  # noqa: BLE001 - only the request matters here
        pass
    finally:
        dynamodb.meta.events.unregister(f"before-send.dynamodb.{target}", capture)
    return captured["headers"], captured["body"]


def _endpoint() -> tuple[str, int]:
    import os

    host, port = os.environ["AWS_ENDPOINT_URL"].split("//", 1)[1].rsplit(":", 1)
    return host, int(port)


def test_one_connection_carries_many_requests(stack) -> None:
    headers, body = _signed(stack, "GetItem", {"TableName": stack.refs["StateTable"], "Key": {"pk": {"S": "nothing"}}})
    connection = http.client.HTTPConnection(*_endpoint(), timeout=5)
    try:
        for _ in range(3):
            connection.request("POST", "/", body=body, headers=headers)
            response = connection.getresponse()
            assert response.status == 200 and json.loads(response.read()) == {}
            assert response.getheader("Connection") != "close"
    finally:
        connection.close()


def test_dynamodb_answers_the_same_straight_or_through_moto_s_flask_app(stack, monkeypatch: pytest.MonkeyPatch) -> None:
    table = stack.refs["StateTable"]
    client("dynamodb").put_item(TableName=table, Item={"pk": {"S": "taken"}, "n": {"N": "1"}})
    requests = [
        _signed(stack, "GetItem", {"TableName": table, "Key": {"pk": {"S": "taken"}}}),
        _signed(stack, "PutItem", {"TableName": table, "Item": {"pk": {"S": "taken"}},
                                   "ConditionExpression": "attribute_not_exists(pk)"}),
        _signed(stack, "GetItem", {"TableName": "no-such-table", "Key": {"pk": {"S": "x"}}}),
    ]
    volatile = {"date", "server", "x-amzn-requestid", "x-amz-crc32", "content-length"}

    def answer(headers: dict, body: bytes) -> tuple:
        connection = http.client.HTTPConnection(*_endpoint(), timeout=5)
        try:
            connection.request("POST", "/", body=body, headers=headers)
            response = connection.getresponse()
            return (response.status, {k.lower(): v for k, v in response.getheaders() if k.lower() not in volatile},
                    json.loads(response.read() or b"{}"))
        finally:
            connection.close()

    straight = [answer(*r) for r in requests]
    monkeypatch.setattr(local_aws_module, "_DYNAMODB_TARGET", "not-a-target")
    through_flask = [answer(*r) for r in requests]
    assert straight == through_flask
    assert [s[0] for s in straight] == [200, 400, 400]


def test_a_request_with_expect_continue_is_told_to_go_on_then_answered_on_the_same_connection(stack) -> None:
    """botocore asks so for S3 bodies: the client waits for 100 Continue before sending the body."""
    headers, body = _signed(stack, "GetItem", {"TableName": stack.refs["StateTable"], "Key": {"pk": {"S": "nothing"}}})
    head = "".join(f"{name}: {value}\r\n" for name, value in {**headers, "Expect": "100-continue",
                                                              "Content-Length": str(len(body))}.items())
    connection = socket.create_connection(_endpoint(), timeout=5)
    try:
        connection.sendall(f"POST / HTTP/1.1\r\nHost: local\r\n{head}\r\n".encode())
        assert connection.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"  # nothing more until the body comes
        connection.sendall(body if isinstance(body, bytes) else body.encode())
        answer = b""
        while not (b"\r\n\r\n" in answer and answer.endswith(b"{}")):
            answer += connection.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200") and b"Connection: close" not in answer
    finally:
        connection.close()
    # http.client sends the body at once and skips the interim answer: answered the same
    connection = http.client.HTTPConnection(*_endpoint(), timeout=5)
    try:
        for _ in range(2):
            connection.request("POST", "/", body=body, headers={**headers, "Expect": "100-continue"})
            response = connection.getresponse()
            assert response.status == 200 and json.loads(response.read()) == {}
    finally:
        connection.close()


def test_requests_are_counted_by_operation(stack) -> None:
    before = request_counts().get("DynamoDB_20120810.GetItem", 0)
    for _ in range(3):
        client("dynamodb").get_item(TableName=stack.refs["StateTable"], Key={"pk": {"S": "nothing"}})
    assert request_counts()["DynamoDB_20120810.GetItem"] - before >= 3


def test_stopping_local_aws_closes_kept_alive_connections() -> None:
    server = local_aws_module._MotoServer("127.0.0.1")
    server.start()
    host, port = server.get_host_and_port()
    connection = socket.create_connection((host, port), timeout=5)
    try:
        connection.sendall(b"GET /moto-api/data.json HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        first = connection.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        server.stop()
        connection.settimeout(5)
        rest = b""
        while chunk := connection.recv(65536):
            rest += chunk
    finally:
        connection.close()
    with pytest.raises(OSError):
        socket.create_connection((host, port), timeout=1)


def test_x_search_stays_exact_over_a_large_archive() -> None:
    clock = SimulatedClock(T0)
    with XEmulator(clock, timeout_delay=0.3) as x:
        for i in range(3_000):
            x.add_post(text=f"Harbor Bank post {i}", author=f"user{i % 7}", created_at=T0 + timedelta(seconds=i))
        clock.set(T0 + timedelta(seconds=1_500))
        params = {"query": '"Harbor Bank"', "max_results": "100", "expansions": "author_id",
                  "user.fields": "public_metrics", "tweet.fields": "created_at"}
        headers = {"Authorization": "Bearer local-x-token"}
        seen: list[str] = []
        first = httpx.get(f"{x.base_url}/2/tweets/search/recent", params=params, headers=headers).json()
        users = {u["username"]: u["public_metrics"]["tweet_count"] for u in first["includes"]["users"]}
        assert users == {f"user{k}": len(range(k, 1_501, 7)) for k in range(7)}   # posts up to now only
        page = first
        for _ in range(40):
            seen += [t["id"] for t in page["data"]]
            if "next_token" not in page["meta"]:
                break
            page = httpx.get(f"{x.base_url}/2/tweets/search/recent", headers=headers,
                             params={**params, "next_token": page["meta"]["next_token"]}).json()
        assert len(seen) == len(set(seen)) == 1_501
        newer = httpx.get(f"{x.base_url}/2/tweets/search/recent", headers=headers,
                          params={**params, "since_id": seen[10]}).json()
        assert [t["id"] for t in newer["data"]] == seen[:10]
        assert x.errors == []


def test_a_feed_shows_its_newest_items_whatever_order_they_were_scripted_in() -> None:
    clock = SimulatedClock(T0 + timedelta(hours=2))
    with NewsEmulator(clock, items_per_feed=3) as news:
        for minutes in (30, 10, 50, 20, 40, 130):
            news.add_item("wire", title=f"at {minutes}", summary="", published_at=T0 + timedelta(minutes=minutes))
        body = httpx.get(news.url_for("wire", "rss")).text
        assert [t for t in ("at 50", "at 40", "at 30", "at 20", "at 130") if f"<title>{t}</title>" in body] == \
            ["at 50", "at 40", "at 30"]
        assert body.index("at 50") < body.index("at 40") < body.index("at 30")


@pytest.mark.slow(seconds=7)
def test_the_benchmark_runs_a_small_bank_run_end_to_end() -> None:
    from crisiscomms_local.bench_scale import run_size

    result = run_size(300)
    assert result["checks_passed"], result["checks"]
    assert result["stored"] == 300 and result["missed"] == 0
    assert 0 < result["dynamodb_requests"]["TransactWriteItems"] < 300, "a page's new posts share transactions"
    breakdown = result["cpu_breakdown_s"]
    assert breakdown["AWS SDK calls (botocore: build, sign, send, parse)"] > 0
    unaccounted = breakdown["not accounted (garbage collection, idle threads, interpreter)"]
    assert abs(unaccounted) < 0.2 * result["cpu_s"]     # the components add up to the process's CPU time

"""X-Ray subsegments without the SDK: the daemon gets well-formed documents, nested under the invocation."""
from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from crisiscomms.tracing import Tracer

ROOT_ID = "1-5759e988-bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(2)
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", f"127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={ROOT_ID};Parent={PARENT};Sampled=1")
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    yield listener
    listener.close()


def _received(listener: socket.socket, n: int) -> list[dict]:
    documents = []
    for _ in range(n):
        data, _ = listener.recvfrom(65536)
        header, body = data.split(b"\n", 1)
        assert json.loads(header) == {"format": "json", "version": 1}
        documents.append(json.loads(body))
    return documents


def test_the_handler_and_nested_work_become_subsegments_of_the_invocation(daemon: socket.socket) -> None:
    tracer = Tracer()

    @tracer.capture_method
    def inner() -> int:
        tracer.put_annotation("topic", "harbor")
        return 1

    @tracer.capture_lambda_handler
    def handler(event: dict, context: object) -> int:
        return inner()

    assert handler({}, None) == 1
    nested, outer = _received(daemon, 2)
    assert outer["name"] == "## handler" and outer["parent_id"] == PARENT and outer["trace_id"] == ROOT_ID
    assert outer["annotations"]["ColdStart"] is True and outer["end_time"] >= outer["start_time"]
    assert nested["parent_id"] == outer["id"] and nested["annotations"] == {"topic": "harbor"}
    assert nested["type"] == "subsegment" and len(nested["id"]) == 16
    handler({}, None)
    assert _received(daemon, 2)[1]["annotations"]["ColdStart"] is False


def test_a_failure_is_recorded_as_a_fault_and_still_raised(daemon: socket.socket) -> None:
    tracer = Tracer()

    @tracer.capture_lambda_handler
    def handler(event: dict, context: object) -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError):
        handler({}, None)
    [document] = _received(daemon, 1)
    assert document["fault"] is True and document["cause"]["exceptions"][0]["type"] == "ValueError"


def test_work_in_threads_hangs_under_the_invocation(daemon: socket.socket) -> None:
    tracer = Tracer()

    @tracer.capture_lambda_handler
    def handler(event: dict, context: object) -> None:
        worker = threading.Thread(target=lambda: tracer.end(tracer.begin("record")))
        worker.start()
        worker.join()

    handler({}, None)
    record, outer = _received(daemon, 2)
    assert record["parent_id"] == outer["id"]


@pytest.mark.parametrize("header", ["", f"Root={ROOT_ID};Parent={PARENT};Sampled=0"])
def test_nothing_is_sent_when_the_invocation_is_not_sampled(daemon: socket.socket, monkeypatch: pytest.MonkeyPatch,
                                                            header: str) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", header)
    tracer = Tracer()
    tracer.capture_lambda_handler(lambda event, context: None)({}, None)
    daemon.settimeout(0.2)
    with pytest.raises(socket.timeout):
        daemon.recvfrom(65536)


def test_platform_calls_are_traced_with_their_tokens_redacted(daemon: socket.socket) -> None:
    from crisiscomms.adapters.http import make_client, send

    served = httpx.MockTransport(lambda request: httpx.Response(429, json={}))
    client = make_client("https://api.weixin.qq.com", timeout_seconds=1)
    client._transport = served  # the real client and its hooks, answered in memory
    send(client, client.build_request("POST", "/cgi-bin/draft/add?access_token=SECRET-TOKEN"))
    [document] = _received(daemon, 1)
    assert document["namespace"] == "remote" and document["name"] == "api.weixin.qq.com"
    assert document["http"] == {"request": {"method": "POST", "url": "https://api.weixin.qq.com/cgi-bin/draft/add"},
                                "response": {"status": 429}}
    assert document["error"] is True and "SECRET-TOKEN" not in json.dumps(document)


def test_an_xray_sdk_is_never_imported_by_a_function() -> None:
    import subprocess
    import sys

    from ..conftest import ROOT

    code = ("import importlib.util, sys\n"
            f"for name in ('poller', 'api', 'publisher', 'detector', 'token_scopes', 'digest'):\n"
            f"    spec = importlib.util.spec_from_file_location('app_' + name, r'{ROOT}/functions/' + name + '/app.py')\n"
            "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
            "print('aws_xray_sdk' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"AWS_DEFAULT_REGION": "eu-west-1", "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "False"

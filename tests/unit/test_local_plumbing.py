"""What the test command shares or shortcuts for speed behaves as what it replaces."""
from __future__ import annotations

import ssl
import threading
import time

import httpx


def test_a_server_stops_without_waiting_out_its_poll_interval() -> None:
    """Emulators, local AWS and the local API stop this way; the loop here would look at the stop
    request only every 30 s, so a plain shutdown() would take that long."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from crisiscomms_local.servers import shutdown_promptly

    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    loop = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 30}, daemon=True)
    loop.start()
    try:
        started = time.monotonic()
        shutdown_promptly(server)
        assert time.monotonic() - started < 10
        loop.join(5)
        assert not loop.is_alive()
    finally:
        server.server_close()


def _tls_context(client: httpx.Client) -> ssl.SSLContext:
    return client._transport._pool._ssl_context  # type: ignore[attr-defined]  # httpx's and httpcore's own


def test_httpx_clients_share_the_tls_context_httpx_builds_and_other_settings_get_their_own() -> None:
    """tests/conftest.py: one context for every client verifying as httpx does by default."""
    from httpx._config import create_ssl_context as httpx_own

    with httpx.Client() as first, httpx.Client(timeout=1) as second, httpx.Client(verify=False) as unverified:
        shared = _tls_context(first)
        assert _tls_context(second) is shared
        reference = httpx_own()
        assert (shared.verify_mode, shared.check_hostname, shared.minimum_version) == \
            (reference.verify_mode, reference.check_hostname, reference.minimum_version) == \
            (ssl.CERT_REQUIRED, True, reference.minimum_version)
        assert shared.cert_store_stats() == reference.cert_store_stats()
        assert _tls_context(unverified) is not shared and _tls_context(unverified).verify_mode == ssl.CERT_NONE


def test_the_template_lint_builds_cfn_lint_s_rules_once_and_still_finds_errors(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from cfnlint.runner.cli import Runner

    from crisiscomms_local.template import _lint_rules, lint

    _lint_rules()
    built: list[object] = []
    build = Runner._get_rules
    monkeypatch.setattr(Runner, "_get_rules", lambda self: built.append(self) or build(self))
    assert lint('{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}') == []
    assert lint('{"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"Nope": 1}}}}') == [
        "E3002 Additional properties are not allowed ('Nope' was unexpected) (template.yaml:1)"]
    assert lint('{"Resources": ')[0].startswith("E0000 ")  # a template that does not parse
    assert built == [], "the rules were built again"


def test_slow_tests_are_dealt_first_longest_first_and_the_rest_keep_their_order() -> None:
    import pytest

    from ..conftest import pytest_collection_modifyitems

    class Item:
        def __init__(self, name: str, marker: object) -> None:
            self.name, self.marker = name, marker

        def get_closest_marker(self, name: str) -> object:
            return self.marker if name == "slow" else None

    items = [Item("a", None), Item("b", pytest.mark.slow(seconds=3).mark), Item("c", None),
             Item("d", pytest.mark.slow.mark), Item("e", pytest.mark.slow(seconds=26).mark), Item("f", None)]
    pytest_collection_modifyitems(None, items)  # type: ignore[arg-type]
    assert [item.name for item in items] == ["e", "b", "d", "a", "c", "f"]


def test_the_user_agent_header_is_the_one_botocore_builds_part_by_part() -> None:
    """Under pytest each part of the header is cleaned once (crisiscomms_local.aws); the text is the same."""
    import botocore.session
    from botocore.useragent import UserAgentComponent, UserAgentComponentSizeConfig

    memo = UserAgentComponent.to_string
    assert getattr(memo, "_crisiscomms_kept", False)
    parts = [UserAgentComponent("os", "linux", "6.1 (x86) é"), UserAgentComponent("md", "a b", None),
             UserAgentComponent("m", "Z,e,D", size_config=UserAgentComponentSizeConfig(3, ",")),
             UserAgentComponent("m", "Z,e,D", size_config=UserAgentComponentSizeConfig(1024, ","))]
    for part in parts * 2:
        assert part.to_string() == memo.original(part)
    client = botocore.session.get_session().create_client("dynamodb", region_name="eu-west-1",
                                                          aws_access_key_id="x", aws_secret_access_key="y")
    built = client._user_agent_creator.to_string()  # noqa: SLF001 - botocore's own
    UserAgentComponent.to_string = memo.original
    try:
        assert client._user_agent_creator.to_string() == built  # noqa: SLF001
    finally:
        UserAgentComponent.to_string = memo

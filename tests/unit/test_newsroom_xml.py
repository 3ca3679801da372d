"""The newsroom's feed and pages stay well-formed whatever characters a statement holds, and a
failed read of the feed index never empties the feed."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError
from defusedxml import ElementTree

from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.newsroom_site import FEED_INDEX_KEY, FEED_KEY, NewsroomAdapter, xml_text
from crisiscomms.errors import PermanentPlatformError, TransientPlatformError
from crisiscomms.models.delivery import DeliveryRequest

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=timezone.utc)
BASE = "https://newsroom.examplebank.com"
# Everything XML 1.0 forbids: C0 controls other than tab, LF and CR, U+FFFE/U+FFFF, a lone surrogate.
FORBIDDEN = "".join(chr(c) for c in range(0x20) if chr(c) not in "\t\n\r") + "\ufffe\uffff\ud800\udfff"


def _request(**changes: Any) -> DeliveryRequest:
    fields: dict[str, Any] = dict(delivery_id="d-newsroom-en", statement_id="st-0123456789abcdef", version=1,
                                  channel="newsroom", language="en", title="Statement\x0b update",
                                  text="Harbor Bank\x02 statement & <notice>.\nAll accounts\x0b are available.")
    fields.update(changes)
    return DeliveryRequest(**fields)


@pytest.fixture
def site(stack: Any) -> tuple[NewsroomAdapter, Any, str]:
    bucket = stack.refs["NewsroomBucket"]
    adapter = NewsroomAdapter(bucket, clients=AwsClients(), base_url=BASE, site_title="Example Bank Newsroom",
                              clock=lambda: NOW)
    return adapter, AwsClients()("s3"), bucket


def _body(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_xml_text_drops_exactly_what_xml_forbids() -> None:
    assert xml_text(f"a{FORBIDDEN}b\t\n\r\u00e9\u4e2d\U0001f600\ufffd") == "ab\t\n\r\u00e9\u4e2d\U0001f600\ufffd"


def test_a_statement_with_control_characters_leaves_the_feed_and_page_well_formed(site) -> None:
    adapter, s3, bucket = site
    request = _request()
    sent = adapter.publish(request)
    adapter.confirm(request, sent)
    # a later statement: the broken item would still be among the last 50
    later = _request(delivery_id="d-later", statement_id="st-later", text=f"Fine{FORBIDDEN}text", title="Later")
    adapter.confirm(later, adapter.publish(later))

    feed = ElementTree.fromstring(_body(s3, bucket, FEED_KEY))
    items = feed.findall("./channel/item")
    assert [i.findtext("guid") for i in items] == ["d-later", "d-newsroom-en"]
    assert items[1].findtext("title") == "Statement update"
    assert items[1].findtext("description") == "Harbor Bank statement & <notice>.\nAll accounts are available."
    assert items[0].findtext("description") == "Finetext"

    page = _body(s3, bucket, sent.platform_id).decode("utf-8")
    assert not any(ch in page for ch in FORBIDDEN if ch < "\ud800" or ch > "\udfff")
    assert "<p>All accounts are available.</p>" in page and "&lt;notice&gt;" in page


def test_a_prepared_page_is_clean_too(site) -> None:
    adapter, s3, bucket = site
    item = adapter.prepare(_request(text="A\x00B\ud800C"))
    assert b"<p>ABC</p>" in _body(s3, bucket, item.data["key"])


def test_an_index_already_holding_forbidden_characters_is_written_out_cleanly(site) -> None:
    """Items stored before the fix are cleaned when the feed is next written."""
    adapter, s3, bucket = site
    old = [{"guid": "d-old", "title": "Old\x02", "link": f"{BASE}/x\x0b", "summary": "bad\x0bsummary",
            "published": "Sat, 28 Nov 2026 09:00:00 +0000", "language": "en"}]
    s3.put_object(Bucket=bucket, Key=FEED_INDEX_KEY, Body=json.dumps(old).encode())
    request = _request(text="clean", title="Clean")
    adapter.confirm(request, adapter.publish(request))
    feed = ElementTree.fromstring(_body(s3, bucket, FEED_KEY))
    assert [i.findtext("description") for i in feed.findall("./channel/item")] == ["clean", "badsummary"]


@pytest.mark.parametrize(("code", "raised"), [("AccessDenied", PermanentPlatformError), ("SlowDown", TransientPlatformError),
                                             ("InternalError", TransientPlatformError), ("403", PermanentPlatformError),
                                             ("500", TransientPlatformError)])
def test_any_read_error_but_no_such_key_keeps_the_index(site, code: str, raised: type) -> None:
    """...and reaches the Publisher as a platform error: retried alone when S3 may answer later."""
    adapter, s3, bucket = site
    first = _request(text="first", title="First")
    adapter.confirm(first, adapter.publish(first))
    before = _body(s3, bucket, FEED_INDEX_KEY), _body(s3, bucket, FEED_KEY)

    real = adapter._clients("s3")

    class FailingReads:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def get_object(self, **kwargs: Any) -> Any:
            if kwargs.get("Key") == FEED_INDEX_KEY:
                raise ClientError({"Error": {"Code": code, "Message": "no"}}, "GetObject")
            return real.get_object(**kwargs)

    clients = lambda service: FailingReads() if service == "s3" else real  # noqa: E731
    broken = NewsroomAdapter(bucket, clients=clients, base_url=BASE, site_title="Example Bank Newsroom",  # type: ignore[arg-type]
                             clock=lambda: NOW)
    second = _request(delivery_id="d-second", statement_id="st-second", text="second")
    with pytest.raises(raised) as refused:
        broken.confirm(second, broken.publish(second))
    assert type(refused.value) is raised and code in str(refused.value)
    assert (_body(s3, bucket, FEED_INDEX_KEY), _body(s3, bucket, FEED_KEY)) == before


def test_only_no_such_key_means_an_empty_index(site) -> None:
    adapter, s3, bucket = site
    request = _request(text="only", title="Only")
    adapter.confirm(request, adapter.publish(request))
    assert [i["guid"] for i in json.loads(_body(s3, bucket, FEED_INDEX_KEY))] == ["d-newsroom-en"]


def _failing(site_parts: Any, operation: str, error: Exception) -> NewsroomAdapter:
    """The adapter over an S3 client whose `operation` fails with `error` (the rest answer as local AWS does)."""
    _, _, bucket = site_parts
    real = AwsClients()("s3")

    class Failing:
        def __getattr__(self, name: str) -> Any:
            if name == operation:
                def fail(**_: Any) -> Any:
                    raise error
                return fail
            return getattr(real, name)

    return NewsroomAdapter(bucket, clients=lambda service: Failing(), base_url=BASE,  # type: ignore[arg-type]
                           site_title="Example Bank Newsroom", clock=lambda: NOW)


def test_no_answer_from_s3_is_transient_for_every_step_of_a_delivery(site) -> None:
    """The writes are repeatable (same key, each delivery once in the feed), so the Publisher may simply retry."""
    from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

    request = _request()
    for operation, step in (("put_object", lambda a: a.publish(request)), ("put_object", lambda a: a.prepare(request)),
                            ("head_object", lambda a: a.find(request)), ("get_object", lambda a: a.confirm(
                                request, a._result("statements/st-0123456789abcdef.en.html")))):
        for error in (ConnectionClosedError(endpoint_url="http://s3"), ReadTimeoutError(endpoint_url="http://s3")):
            with pytest.raises(TransientPlatformError, match="did not answer"):
                step(_failing(site, operation, error))


def test_find_is_none_only_when_s3_says_the_page_is_not_there(site) -> None:
    request = _request()
    missing = ClientError({"Error": {"Code": "404", "Message": "Not Found"},
                           "ResponseMetadata": {"HTTPStatusCode": 404}}, "HeadObject")
    assert _failing(site, "head_object", missing).find(request) is None
    for status, raised in ((503, TransientPlatformError), (403, PermanentPlatformError)):
        error = ClientError({"Error": {"Code": str(status), "Message": ""}, "ResponseMetadata": {"HTTPStatusCode": status}},
                            "HeadObject")
        with pytest.raises(raised):
            _failing(site, "head_object", error).find(request)

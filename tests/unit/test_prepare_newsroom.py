"""Newsroom: the page written at approval under an unlinked key, linked by one copy, overwritten when withdrawn."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.newsroom_site import FEED_INDEX_KEY, FEED_KEY, NewsroomAdapter
from crisiscomms.models.delivery import ConfirmingAdapter, DeliveryRequest, PreparedItem, PreparingAdapter

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=timezone.utc)
BASE = "https://newsroom.examplebank.com"


def _request(**changes: Any) -> DeliveryRequest:
    fields: dict[str, Any] = dict(delivery_id="d-newsroom-en", statement_id="st-0123456789abcdef", version=1,
                                  channel="newsroom", language="en", title="Statement",
                                  text="Harbor Bank statement.\nAll accounts are available.")
    fields.update(changes)
    return DeliveryRequest(**fields)


@pytest.fixture
def site(stack: Any) -> tuple[NewsroomAdapter, Any, str, list[tuple[str, str]]]:
    clients = AwsClients()
    bucket = stack.refs["NewsroomBucket"]
    calls: list[tuple[str, str]] = []
    clients("s3").meta.events.register(
        "before-parameter-build.s3", lambda params, model, **_: calls.append((model.name, params.get("Key", ""))))
    adapter = NewsroomAdapter(bucket, clients=clients, base_url=BASE, site_title="Example Bank Newsroom", clock=lambda: NOW)
    return adapter, AwsClients()("s3"), bucket, calls  # the checks' own client: `calls` are the adapter's alone


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


def _body(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_the_adapter_declares_it_prepares_and_confirms(site) -> None:
    adapter, *_ = site
    assert isinstance(adapter, PreparingAdapter) and isinstance(adapter, ConfirmingAdapter)


def test_prepare_writes_the_page_where_nothing_links_to_it(site) -> None:
    adapter, s3, bucket, calls = site
    item = adapter.prepare(_request())
    key = item.data["key"]
    assert key.startswith("prepared/st-0123456789abcdef.en.") and len(key) > len("prepared/st-0123456789abcdef.en..html") + 30
    assert _keys(s3, bucket, "statements/") == [] and _keys(s3, bucket, "feed") == []
    assert b"<p>All accounts are available.</p>" in _body(s3, bucket, key)
    assert item.data["etag"] and calls == [("PutObject", key)]
    assert adapter.prepare(_request()).data["key"] != key  # every preparation its own unguessable key


def test_publishing_a_prepared_page_is_one_copy_then_confirm_adds_it_to_the_feed_once(site) -> None:
    adapter, s3, bucket, calls = site
    request = _request()
    item = adapter.prepare(request)
    calls.clear()
    sent = adapter.publish(request, prepared=item)
    assert calls == [("CopyObject", "statements/st-0123456789abcdef.en.html")]
    assert (sent.platform_id, sent.url) == ("statements/st-0123456789abcdef.en.html",
                                            f"{BASE}/statements/st-0123456789abcdef.en.html")
    assert sent.details == {"confirm": "pending"}
    page = s3.get_object(Bucket=bucket, Key=sent.platform_id)
    assert page["Body"].read() == _body(s3, bucket, item.data["key"])
    assert page["Metadata"] == {"delivery-id": "d-newsroom-en", "version": "1"}
    assert page["ContentType"] == "text/html; charset=utf-8" and page["CacheControl"] == "max-age=60"
    assert adapter.find(request) is not None
    confirmed = adapter.confirm(request, sent)
    assert (confirmed.platform_id, confirmed.url) == (sent.platform_id, sent.url)
    adapter.confirm(request, sent)
    feed = json.loads(_body(s3, bucket, FEED_INDEX_KEY))
    assert [i["guid"] for i in feed] == ["d-newsroom-en"] and feed[0]["link"] == sent.url
    assert sent.url.encode() in _body(s3, bucket, FEED_KEY)


def test_without_a_usable_prepared_page_publish_writes_the_page(site) -> None:
    adapter, s3, bucket, calls = site
    request = _request()
    sent = adapter.publish(request, prepared=PreparedItem(channel="newsroom", data={"key": "prepared/gone.html", "etag": '"x"'}))
    assert [name for name, _ in calls] == ["CopyObject", "PutObject"]  # the copy found nothing: nothing went out
    assert b"<p>All accounts are available.</p>" in _body(s3, bucket, sent.platform_id)
    calls.clear()
    adapter.publish(request)
    assert calls == [("PutObject", sent.platform_id)]


def test_discard_overwrites_the_prepared_page_and_touches_nothing_else(site) -> None:
    adapter, s3, bucket, calls = site
    item = adapter.prepare(_request())
    adapter.discard(item)
    assert _body(s3, bucket, item.data["key"]) == b""
    assert s3.head_object(Bucket=bucket, Key=item.data["key"])["Metadata"] == {"discarded": "true"}
    adapter.discard(PreparedItem(channel="newsroom", data={"key": "statements/st-0123456789abcdef.en.html"}))
    assert [name for name, _ in calls] == ["PutObject", "PutObject"]  # never a page outside prepared/
    assert _keys(s3, bucket, "statements/") == []


def test_deliveries_confirmed_at_once_all_land_in_the_feed(site) -> None:
    import threading

    adapter, s3, bucket, _ = site
    requests = [_request(delivery_id=f"d-{n}", statement_id=f"st-{n:016x}", language=("zh", "en")[n % 2]) for n in range(6)]
    sent = [adapter.publish(r) for r in requests]
    threads = [threading.Thread(target=adapter.confirm, args=(r, s)) for r, s in zip(requests, sent)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    index = json.loads(_body(s3, bucket, FEED_INDEX_KEY))
    assert sorted(i["guid"] for i in index) == sorted(r.delivery_id for r in requests)
    feed = _body(s3, bucket, FEED_KEY).decode()
    assert all(f">{r.delivery_id}</guid>" in feed for r in requests)

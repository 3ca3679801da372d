"""The newsroom's Q&A page and feed, written by the newsroom adapter on local S3: both languages,
corrections in place at a stable anchor, a late older text ignored, repeats idempotent, the feed
well-formed XML and the page escaped."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from typing import Any

import pytest
from defusedxml import ElementTree

from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.newsroom_site import QA_FEED_KEY, QA_INDEX_KEY, QA_PAGE_KEY, NewsroomAdapter
from crisiscomms.errors import PermanentPlatformError
from crisiscomms.models.delivery import DeliveryRequest
from crisiscomms.statements.qa import qa_url

BASE = "https://newsroom.examplebank.com"
ENTRY = "st-0123456789abcdef"


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 9, 30, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


def _qa(language: str = "en", *, revision: int = 0, delivery_id: str | None = None, entry: str = ENTRY,
        question: str = "Are my deposits safe?", answer: str = "Yes. Deposits are insured.") -> DeliveryRequest:
    return DeliveryRequest(delivery_id=delivery_id or f"d-{entry}-{language}-{revision}", statement_id=entry, version=1,
                           channel="newsroom", language=language, text=answer, title=question,
                           newsroom_url=qa_url(BASE, entry, language), kind="qa", revision=revision)


@pytest.fixture
def site(stack: Any) -> tuple[NewsroomAdapter, Any, str, _Clock]:
    clock = _Clock()
    bucket = stack.refs["NewsroomBucket"]
    adapter = NewsroomAdapter(bucket, clients=AwsClients(), base_url=BASE, site_title="Example Bank Newsroom", clock=clock)
    return adapter, AwsClients()("s3"), bucket, clock


def _text(s3: Any, bucket: str, key: str) -> str:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")


class _Page(HTMLParser):
    """Each article of the page: (section language, anchor) -> its text."""

    def __init__(self) -> None:
        super().__init__()
        self.articles: dict[tuple[str, str], str] = {}
        self._section: str | None = None
        self._article: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self._section = dict(attrs)["lang"]
        if tag == "article":
            self._article = dict(attrs)["id"]
            self.articles[(self._section or "", self._article or "")] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "article":
            self._article = None

    def handle_data(self, data: str) -> None:
        if self._article:
            self.articles[(self._section or "", self._article)] += data


def _page(s3: Any, bucket: str) -> dict[tuple[str, str], str]:
    parser = _Page()
    parser.feed(_text(s3, bucket, QA_PAGE_KEY))
    return parser.articles


def _feed(s3: Any, bucket: str) -> list[Any]:
    return ElementTree.fromstring(_text(s3, bucket, QA_FEED_KEY).encode("utf-8")).findall("./channel/item")


def test_both_languages_land_on_one_page_with_stable_anchors_and_in_one_feed(site) -> None:
    adapter, s3, bucket, _ = site
    en = adapter.publish(_qa("en"))
    zh = adapter.publish(_qa("zh", question="我的存款安全吗？", answer="安全。存款受存款保险保障。"))
    assert (en.url, zh.url) == (qa_url(BASE, ENTRY, "en"), qa_url(BASE, ENTRY, "zh"))
    assert en.url == f"{BASE}/qa/index.html#{ENTRY}-en" and "confirm" not in en.details
    articles = _page(s3, bucket)
    assert set(articles) == {("zh", f"{ENTRY}-zh"), ("en", f"{ENTRY}-en")}
    assert "我的存款安全吗？" in articles[("zh", f"{ENTRY}-zh")] and "Deposits are insured." in articles[("en", f"{ENTRY}-en")]
    items = _feed(s3, bucket)
    assert [i.findtext("link") for i in items] == [zh.url, en.url]
    assert s3.list_objects_v2(Bucket=bucket, Prefix="statements/").get("KeyCount", 0) == 0, "no statement page"
    assert s3.list_objects_v2(Bucket=bucket, Prefix="feed").get("KeyCount", 0) == 0, "not in the statements' feed"


def test_a_correction_replaces_the_answer_at_the_same_anchor_and_a_late_older_copy_changes_nothing(site) -> None:
    adapter, s3, bucket, clock = site
    adapter.publish(_qa("en"))
    clock.now += timedelta(minutes=20)
    corrected = adapter.publish(_qa("en", revision=1, answer="Yes. Deposits are insured up to the legal limit."))
    clock.now += timedelta(minutes=1)
    late = adapter.publish(_qa("en", revision=0, delivery_id="d-late-original"))
    assert corrected.url == late.url == qa_url(BASE, ENTRY, "en")
    assert late.details == {"superseded": "true"}
    [(key, text)] = _page(s3, bucket).items()
    assert key == ("en", f"{ENTRY}-en") and "up to the legal limit" in text and "2026-11-28T09:50:00" in text
    items = _feed(s3, bucket)
    assert [i.findtext("category") for i in items] == ["correction", None]
    assert "legal limit" in items[0].findtext("description")
    assert adapter.find(_qa("en", revision=1)) is not None and adapter.find(_qa("en", delivery_id="d-late-original")) is None


def test_repeating_a_delivery_adds_nothing_and_find_knows_it(site) -> None:
    adapter, s3, bucket, _ = site
    assert adapter.find(_qa("en")) is None
    first = adapter.publish(_qa("en"))
    index = _text(s3, bucket, QA_INDEX_KEY)
    assert adapter.publish(_qa("en")) == first
    assert _text(s3, bucket, QA_INDEX_KEY) == index
    assert len(_feed(s3, bucket)) == 1
    assert adapter.find(_qa("en")) == first
    adapter.publish(_qa("en", entry="st-fedcba9876543210", question="Is the app down?", answer="No."))
    assert len(json.loads(_text(s3, bucket, QA_INDEX_KEY))["entries"]) == 2 and len(_feed(s3, bucket)) == 2


def test_the_page_is_escaped_and_the_feed_stays_well_formed(site) -> None:
    adapter, s3, bucket, _ = site
    question = 'Is <script>alert("x")</script> & "this" safe?\x0b'
    answer = "Line one <b>bold</b> & more.\x02\nLine two ]]> </description>"
    adapter.publish(_qa("en", question=question, answer=answer))
    page = _text(s3, bucket, QA_PAGE_KEY)
    assert "<script>" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;this&quot; safe?" in page
    assert "<p>Line one &lt;b&gt;bold&lt;/b&gt; &amp; more.</p><p>Line two ]]&gt; &lt;/description&gt;</p>" in page
    [item] = _feed(s3, bucket)  # parses: the feed is well-formed XML
    assert item.findtext("title") == 'Is <script>alert("x")</script> & "this" safe?'
    assert item.findtext("description") == "Line one <b>bold</b> & more.\nLine two ]]> </description>"


def test_a_qa_delivery_without_its_entry_address_is_refused(site) -> None:
    adapter, *_ = site
    request = _qa("en")
    with pytest.raises(PermanentPlatformError):
        adapter.publish(DeliveryRequest(**{**request.__dict__, "newsroom_url": f"{BASE}/qa/index.html"}))

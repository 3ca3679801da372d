"""RSS 2.0 / Atom parsing and the conditional GET, against documents shaped as the specs define them."""
from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest

from crisiscomms.adapters.sources.feeds import FeedClient, parse_date, parse_feed
from crisiscomms.errors import PermanentPlatformError, RateLimited, TransientPlatformError

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Financial Daily</title><link>https://fd.example</link><description>d</description>
<item><title>Example Bank shares slide</title><link>https://fd.example/a/1</link>
  <description>&lt;p&gt;Customers &lt;b&gt;queue&lt;/b&gt; at branches.&lt;/p&gt;</description>
  <guid isPermaLink="false">fd-1</guid><pubDate>Sat, 28 Nov 2026 09:31:00 GMT</pubDate></item>
<item><title>No guid but a link</title><link>https://fd.example/a/2</link><pubDate>Sat, 28 Nov 2026 10:31:00 +0100</pubDate></item>
<item><title>Broken date</title><guid>fd-3</guid><pubDate>sometime</pubDate></item>
<item><description>no id at all</description><pubDate>Sat, 28 Nov 2026 09:00:00 GMT</pubDate></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:caixin</id><title>财新</title><updated>2026-11-28T09:40:00Z</updated>
<entry><id>urn:caixin:1</id><title>示例银行多地网点出现排队取款</title><link rel="alternate" href="https://caixin.example/1"/>
  <summary>客户排队</summary><published>2026-11-28T17:26:00+08:00</published><updated>2026-11-28T17:27:00+08:00</updated></entry>
<entry><id>urn:caixin:2</id><title>只有更新时间</title><link href="https://caixin.example/2"/><updated>2026-11-28T09:50:00Z</updated></entry>
</feed>"""


def test_rss_items_become_news_posts() -> None:
    posts, malformed = parse_feed(RSS, feed_name="financial-daily", audience=800_000, language="en")
    first = posts[0]
    assert first.platform == "news" and first.source_type == "news"
    assert first.title == "Example Bank shares slide"
    assert first.text == "Customers queue at branches."
    assert first.url == "https://fd.example/a/1"
    assert first.followers == 800_000 and first.author == "financial-daily"
    assert first.published_at == datetime(2026, 11, 28, 9, 31, tzinfo=timezone.utc)
    assert posts[1].published_at == datetime(2026, 11, 28, 9, 31, tzinfo=timezone.utc)  # +0100 folded to UTC
    assert len(posts) == 2 and len(malformed) == 2


def test_item_identity_is_stable_and_distinct() -> None:
    again, _ = parse_feed(RSS, feed_name="financial-daily", audience=1, language="en")
    first, _ = parse_feed(RSS, feed_name="financial-daily", audience=1, language="en")
    assert [p.key for p in first] == [p.key for p in again]
    assert len({p.key for p in first}) == len(first)
    other_feed, _ = parse_feed(RSS, feed_name="other", audience=1, language="en")
    assert not {p.key for p in first} & {p.key for p in other_feed}


def test_atom_entries_become_news_posts() -> None:
    posts, malformed = parse_feed(ATOM, feed_name="caixin", audience=1_200_000, language="zh")
    assert malformed == []
    assert posts[0].title == "示例银行多地网点出现排队取款"
    assert posts[0].url == "https://caixin.example/1"
    assert posts[0].published_at == datetime(2026, 11, 28, 9, 26, tzinfo=timezone.utc)
    assert posts[1].published_at == datetime(2026, 11, 28, 9, 50, tzinfo=timezone.utc)


@pytest.mark.parametrize("body", ["<html><body>not a feed</body></html>", "<rss><channel><item>", "plain text"])
def test_not_a_feed_is_a_permanent_error(body: str) -> None:
    with pytest.raises(PermanentPlatformError):
        parse_feed(body, feed_name="f", audience=1, language="en")


def test_entity_expansion_attack_is_refused() -> None:
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            "<rss><channel><item><title>&lol2;</title></item></channel></rss>")
    with pytest.raises(Exception) as caught:
        parse_feed(bomb, feed_name="f", audience=1, language="en")
    assert "Entities" in type(caught.value).__name__ or "entit" in str(caught.value).lower()


@pytest.mark.parametrize(("text", "expected"), [
    ("Sat, 28 Nov 2026 09:31:00 GMT", datetime(2026, 11, 28, 9, 31, tzinfo=timezone.utc)),
    ("Sat, 28 Nov 2026 17:31:00 +0800", datetime(2026, 11, 28, 9, 31, tzinfo=timezone.utc)),
    ("2026-11-28T09:31:00Z", datetime(2026, 11, 28, 9, 31, tzinfo=timezone.utc)),
    ("2026-11-28T17:31:00.250+08:00", datetime(2026, 11, 28, 9, 31, 0, 250000, tzinfo=timezone.utc)),
])
def test_dates_in_both_formats(text: str, expected: datetime) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["", "tomorrow", "2026-11-28T09:31:00"])
def test_unusable_dates_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_date(text)


def _client(handler) -> FeedClient:
    return FeedClient(httpx.Client(transport=httpx.MockTransport(handler)), clock=lambda: datetime(2026, 11, 28, tzinfo=timezone.utc))


def test_conditional_get_sends_validators_and_304_means_nothing_new() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(304)

    result = _client(handler).fetch("https://fd.example/rss", feed_name="f", audience=1, language="en",
                                    etag='"abc"', last_modified="Sat, 28 Nov 2026 09:31:00 GMT")
    assert result.not_modified and result.posts == []
    assert seen[0].headers["if-none-match"] == '"abc"'
    assert seen[0].headers["if-modified-since"] == "Sat, 28 Nov 2026 09:31:00 GMT"


def test_200_returns_posts_and_new_validators() -> None:
    response = httpx.Response(200, text=RSS, headers={"ETag": '"v2"', "Last-Modified": "Sat, 28 Nov 2026 09:31:00 GMT"})
    result = _client(lambda r: response).fetch("https://fd.example/rss", feed_name="f", audience=1, language="en")
    assert not result.not_modified and len(result.posts) == 2
    assert result.etag == '"v2"' and result.last_modified == "Sat, 28 Nov 2026 09:31:00 GMT"


@pytest.mark.parametrize(("status", "error"), [(503, TransientPlatformError), (404, PermanentPlatformError), (429, RateLimited)])
def test_error_statuses(status: int, error: type[Exception]) -> None:
    with pytest.raises(error):
        _client(lambda r: httpx.Response(status, headers={"Retry-After": "120"})).fetch(
            "https://fd.example/rss", feed_name="f", audience=1, language="en")

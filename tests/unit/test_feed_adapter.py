"""RSS 2.0 / Atom parsing and the conditional GET, against documents shaped as the specs define them.

feedparser's corpus, charsets, entities and zones: test_feed_conformance.py."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import httpx
import pytest

from crisiscomms.adapters.sources.feeds import FeedClient, parse_date, parse_feed
from crisiscomms.errors import ConfigurationError, PermanentPlatformError, RateLimited, TransientPlatformError
from crisiscomms.models import stable_id
from crisiscomms.watch import parse_watch_config

from ..conftest import ROOT

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


def test_a_headline_without_a_summary_is_read_once() -> None:
    """The item's text is its headline then; scored, matched and stored, the headline counts once, as it does
    beside a summary, and scores as the headline alone would."""
    from crisiscomms.scoring import score_text

    posts, _ = parse_feed(RSS, feed_name="financial-daily", audience=800_000, language="en")
    headline_only = posts[1]
    assert (headline_only.title, headline_only.text) == ("No guid but a link", "No guid but a link")
    assert headline_only.full_text == "No guid but a link"
    assert posts[0].full_text == "Example Bank shares slide\nCustomers queue at branches."
    bank_run = headline_only.model_copy(update={"title": "Harbor Bank faces a bank run", "text": "Harbor Bank faces a bank run"})
    assert score_text(bank_run.full_text) == score_text("Harbor Bank faces a bank run")


def test_item_identity_is_stable_and_distinct() -> None:
    again, _ = parse_feed(RSS, feed_name="financial-daily", audience=1, language="en")
    first, _ = parse_feed(RSS, feed_name="financial-daily", audience=1, language="en")
    assert [p.key for p in first] == [p.key for p in again]
    assert len({p.key for p in first}) == len(first)
    other_feed, _ = parse_feed(RSS, feed_name="other", audience=1, language="en")
    assert not {p.key for p in first} & {p.key for p in other_feed}
    # the same ids as before feedparser read the feeds: the guid, else the link, hashed
    assert [p.native_id for p in first] == [f"financial-daily#{stable_id('fd-1')}",
                                            f"financial-daily#{stable_id('https://fd.example/a/2')}"]


def test_atom_entries_become_news_posts() -> None:
    posts, malformed = parse_feed(ATOM, feed_name="caixin", audience=1_200_000, language="zh")
    assert malformed == []
    assert posts[0].title == "示例银行多地网点出现排队取款"
    assert posts[0].url == "https://caixin.example/1"
    assert posts[0].published_at == datetime(2026, 11, 28, 9, 26, tzinfo=timezone.utc)
    assert posts[1].published_at == datetime(2026, 11, 28, 9, 50, tzinfo=timezone.utc)


@pytest.mark.parametrize("body", ["<html><body>not a feed</body></html>", "plain text", ""])
def test_not_a_feed_is_a_permanent_error(body: str) -> None:
    with pytest.raises(PermanentPlatformError):
        parse_feed(body, feed_name="f", audience=1, language="en")


def test_a_truncated_feed_is_read_loosely_up_to_the_cut() -> None:
    cut = RSS[: RSS.index("<item><title>Broken date")] + "<item><title>Cut off"
    posts, malformed = parse_feed(cut, feed_name="financial-daily", audience=1, language="en")
    assert [p.title for p in posts] == ["Example Bank shares slide", "No guid but a link"]
    assert len(malformed) == 1


def test_entity_expansion_is_never_performed() -> None:
    lol = "".join(f'<!ENTITY lol{i + 1} "{f"&lol{i};" * 10}">' for i in range(1, 9))
    bomb = (f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol1 "lol">{lol}]>'
            "<rss><channel><item><guid>b-1</guid><title>&lol9;</title><pubDate>Sat, 28 Nov 2026 09:31:00 GMT</pubDate>"
            "</item></channel></rss>")
    posts, malformed = parse_feed(bomb, feed_name="f", audience=1, language="en")
    assert malformed == [] and posts[0].title == "&lol9;"  # the nested declarations are dropped, unexpanded


@pytest.mark.parametrize(("text", "expected"), [
    ("Sat, 28 Nov 2026 09:31:00 GMT", datetime(2026, 11, 28, 9, 31, tzinfo=timezone.utc)),
    ("Sat, 28 Nov 2026 17:31:00 +0800", datetime(2026, 11, 28, 9, 31, tzinfo=timezone.utc)),
    ("2026-11-28T09:31:00Z", datetime(2026, 11, 28, 9, 31, tzinfo=timezone.utc)),
    ("2026-11-28T17:31:00.250+08:00", datetime(2026, 11, 28, 9, 31, 0, 250000, tzinfo=timezone.utc)),
])
def test_dates_in_both_formats(text: str, expected: datetime) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["", "  ", "tomorrow", "2026-13-45T09:31:00Z", "Sat, 45 Nov 2026 09:31:00 GMT"])
def test_unusable_dates_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_date(text)


@pytest.mark.parametrize("text", ["2026-11-28T17:31:00", "2026-11-28 17:31", "Sat, 28 Nov 2026 17:31:00",
                                  "28 Nov 2026 17:31:00 HKT", "Sat Nov 28 17:31:00 2026"])
def test_a_date_without_a_zone_is_wall_clock_time_in_the_given_zone(text: str) -> None:
    assert parse_date(text, ZoneInfo("Asia/Shanghai")) == datetime(2026, 11, 28, 9, 31, tzinfo=timezone.utc)


def test_minus_zero_means_utc_with_the_writers_zone_unknown() -> None:
    """RFC 5322: "-0000" is UTC; email.utils returns it without a zone, it is not the feed's zone."""
    assert parse_date("Sat, 28 Nov 2026 09:31:00 -0000", ZoneInfo("Asia/Shanghai")) == datetime(
        2026, 11, 28, 9, 31, tzinfo=timezone.utc)


def test_an_undated_item_is_dated_when_fetched() -> None:
    undated = RSS.replace("<pubDate>Sat, 28 Nov 2026 09:31:00 GMT</pubDate></item>", "</item>", 1)
    fetched_at = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)
    posts, _ = parse_feed(undated, feed_name="f", audience=1, language="en", fetched_at=fetched_at)
    assert posts[0].published_at == fetched_at
    posts, malformed = parse_feed(undated, feed_name="f", audience=1, language="en")
    assert "item 0: item has no date" in malformed[0]


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


# --- the feed's time zone in the watch configuration ---------------------------------------------------------------

SAMPLE = json.loads((ROOT / "events" / "watch-config.json").read_text(encoding="utf-8"))


def test_the_watch_default_zone_is_shanghai_and_a_feed_may_name_its_own() -> None:
    document = json.loads(json.dumps(SAMPLE))
    document["feeds"][0]["timezone"] = "Asia/Hong_Kong"
    config = parse_watch_config(document)
    assert config.default_timezone == "Asia/Shanghai"
    assert [f.timezone for f in config.feeds] == ["Asia/Hong_Kong"] + [None] * (len(config.feeds) - 1)
    assert parse_watch_config({**SAMPLE, "default_timezone": "Europe/London"}).default_timezone == "Europe/London"


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda d: d["feeds"][0].update(timezone="Mars/Olympus_Mons"), "feeds.0.timezone"),
    (lambda d: d["feeds"][0].update(timezone="../../etc/passwd"), "feeds.0.timezone"),
    (lambda d: d.update(default_timezone="CST+8"), "default_timezone"),
    (lambda d: d.update(default_timezone=""), "default_timezone"),
])
def test_an_unknown_zone_is_refused_naming_the_field(mutate, field: str) -> None:
    document = json.loads(json.dumps(SAMPLE))
    mutate(document)
    with pytest.raises(ConfigurationError) as caught:
        parse_watch_config(document)
    assert field in str(caught.value) and "time zone" in str(caught.value)


def test_cst_is_china_standard_time_in_a_feed_kept_in_china_and_us_central_elsewhere() -> None:
    text = "Sat, 28 Nov 2026 17:31:00 CST"
    assert parse_date(text, ZoneInfo("Asia/Shanghai")) == datetime(2026, 11, 28, 9, 31, tzinfo=timezone.utc)
    assert parse_date(text, ZoneInfo("America/Chicago")) == datetime(2026, 11, 28, 23, 31, tzinfo=timezone.utc)
